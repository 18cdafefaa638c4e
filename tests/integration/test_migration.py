"""``upvault migrate`` between two real MinIO servers (different ports and credentials), a folder,
and the local stack, always through the real command in its own process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.devstack import LocalStack
from local.minio import MinioServer
from tests.integration.live import SERVICE_SETTINGS, Client, stack_s3, unique_user
from tests.live_minio import make_s3_client, new_minio
from tests.support import SAMPLES
from upvault.keys import ObjectKey

ROOT = Path(__file__).resolve().parents[2]
#: The console script users run (``make venv`` installs it); ``python -m migration`` is the same command.
UPVAULT = str(Path(sys.executable).with_name("upvault"))
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def other_minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A second MinIO with its own port, data and root credentials (the migration's other side)."""
    server = new_minio(tmp_path_factory.mktemp("minio-other"), user="other")
    with server:
        yield server


def new_bucket(server: MinioServer) -> str:
    """A fresh bucket on ``server`` (started again if a test stopped it)."""
    server.start()
    name = f"mig-{uuid.uuid4().hex[:16]}"
    make_s3_client(server).create_bucket(Bucket=name)
    return name


def keys_env(side: str, server: MinioServer) -> dict[str, str]:
    """One side's credentials, as an operator sets them."""
    prefix = f"UPVAULT_MIGRATE_{side.upper()}_"
    return {f"{prefix}ACCESS_KEY_ID": server.root_user, f"{prefix}SECRET_ACCESS_KEY": server.root_password}


def between(
    source: MinioServer, source_bucket: str, target: MinioServer, target_bucket: str
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Arguments and per-side keys for a run from one server's bucket to another's (or its own)."""
    args = ("--from", f"s3://{source_bucket}", "--from-endpoint", source.endpoint_url)
    args += ("--to", f"s3://{target_bucket}", "--to-endpoint", target.endpoint_url)
    return args, {**keys_env("from", source), **keys_env("to", target)}


def command(*args: str, state: Path, env: dict[str, str]) -> list[str]:
    """The command line (the environment goes to :func:`environment`)."""
    return [UPVAULT, "migrate", *args, "--json"]


def environment(state: Path, env: dict[str, str]) -> dict[str, str]:
    """The migrate process's environment: only the given keys, a private journal folder."""
    # Not BOTO_DISABLE_CRT either: the tests sign as Lambda does, but the migration is an operator
    # tool whose per-part CRC64NVME needs botocore's CRT support, as on an operator's machine.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UPVAULT_MIGRATE_", "BOTO_DISABLE_CRT"))}
    return {
        **base,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
        "XDG_STATE_HOME": str(state),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **env,
    }


def migrate(*args: str, state: Path, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    """Run the command; exit code, JSON report, stderr."""
    result = subprocess.run(
        command(*args, state=state, env=env), cwd=ROOT, env=environment(state, env), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def contents(server: MinioServer, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object of a bucket by key."""
    s3 = make_s3_client(server)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.fixture
def filled(minio: MinioServer) -> tuple[str, dict[str, bytes]]:
    """A bucket on the session MinIO with small objects, user metadata and one multipart object."""
    bucket = new_bucket(minio)
    s3 = make_s3_client(minio)
    objects = {f"docs/user_{i % 3}/file-{i}.txt": f"document {i}\n".encode() * (i + 1) for i in range(12)}
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/plain", Metadata={"owner": "ops"})
    large = os.urandom(7 * MIB + 5)
    s3.upload_fileobj(io.BytesIO(large), bucket, "media/big.bin")
    objects["media/big.bin"] = large
    return bucket, objects


@dataclass(frozen=True)
class Pair:
    """The filled bucket on the session MinIO, an empty one on the other, and how to run between them."""

    source: str
    objects: dict[str, bytes]
    destination: str
    args: tuple[str, ...]
    env: dict[str, str]


@pytest.fixture
def pair(minio: MinioServer, other_minio: MinioServer, filled: tuple[str, dict[str, bytes]]) -> Pair:
    """Two servers with different endpoints and keys: ``filled`` on one, an empty bucket on the other."""
    source, objects = filled
    destination = new_bucket(other_minio)
    args, env = between(minio, source, other_minio, destination)
    return Pair(source, objects, destination, args, env)


def test_folder_to_minio_then_rerun_skips_all(other_minio: MinioServer, tmp_path: Path) -> None:
    # Given a folder with small files and one above the multipart threshold
    folder = tmp_path / "folder"
    (folder / "a" / "b").mkdir(parents=True)
    files = {"a/report.pdf": SAMPLES["application/pdf"], "a/b/big.bin": os.urandom(6 * MIB + 1)}
    for key, data in files.items():
        (folder / key).write_bytes(data)
    bucket = new_bucket(other_minio)
    args = ("--from", str(folder), "--to", f"s3://{bucket}/imported", "--to-endpoint", other_minio.endpoint_url)
    args += ("--multipart-threshold", "5MiB", "--part-size", "5MiB")
    env = keys_env("to", other_minio)
    # When it is migrated to MinIO
    code, report, _ = migrate(*args, state=tmp_path, env=env)
    # Then every object is there, verified, with its content type; the large one went multipart
    assert code == 0 and report["ok"] and report["counts"]["copied"] == 2
    assert contents(other_minio, bucket) == {f"imported/{k}": v for k, v in files.items()}
    head = make_s3_client(other_minio).head_object(Bucket=bucket, Key="imported/a/b/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-2")
    assert head.get("ChecksumCRC64NVME")
    # When the same command runs again / Then nothing is copied
    code, again, _ = migrate(*args, state=tmp_path, env=env)
    assert code == 0 and again["counts"]["copied"] == 0 and again["counts"]["skipped"] == 2


def test_minio_to_minio_with_different_endpoints_and_credentials(
    other_minio: MinioServer, pair: Pair, tmp_path: Path
) -> None:
    # Given a bucket on one MinIO and an empty one on another, each with its own root keys
    objects, destination, env = pair.objects, pair.destination, pair.env
    args = (*pair.args, "--multipart-threshold", "5MiB")
    # When migrated
    code, report, _ = migrate(*args, state=tmp_path, env=env)
    # Then the destination holds the same bytes, content types and user metadata
    assert code == 0 and report["counts"]["copied"] == len(objects), report
    assert contents(other_minio, destination) == objects
    head = make_s3_client(other_minio).head_object(Bucket=destination, Key="docs/user_1/file-1.txt")
    assert head["ContentType"] == "text/plain" and head["Metadata"]["owner"] == "ops"
    assert "mtime" in head["Metadata"]
    # When run again without its journal (another machine) / Then checksums prove all equal
    code, fresh, _ = migrate(*args, state=tmp_path / "elsewhere", env=env)
    assert code == 0 and fresh["counts"]["copied"] == 0 and fresh["counts"]["skipped"] == len(objects)
    # And only the filtered subset is considered when asked
    code, some, _ = migrate(*args, "--include", "docs/user_1/*", "--verify-only", state=tmp_path, env=env)
    assert code == 0 and {i["key"] for i in some["skipped"]} == {k for k in objects if k.startswith("docs/user_1/")}


def test_same_endpoint_copies_server_side(
    minio: MinioServer, filled: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    # Given two buckets on one server with one identity
    source, objects = filled
    destination = new_bucket(minio)
    args, env = between(minio, source, minio, f"{destination}/copy")
    # When migrated between them
    code, report, _ = migrate(*args, "--multipart-threshold", "5MiB", state=tmp_path, env=env)
    # Then the server copied every object itself, and each copy was verified
    assert code == 0, report
    assert {item["method"] for item in report["copied"]} == {"server-side copy"}
    assert contents(minio, destination) == {f"copy/{k}": v for k, v in objects.items()}


def test_dry_run_changes_nothing(minio: MinioServer, other_minio: MinioServer, pair: Pair, tmp_path: Path) -> None:
    # Given a source bucket and an empty destination
    source, objects, destination = pair.source, pair.objects, pair.destination
    # When a dry run plans the migration
    code, report, _ = migrate(*pair.args, "--dry-run", state=tmp_path, env=pair.env)
    # Then it reports what it would copy, and neither side nor the journal changed
    assert code == 0 and report["counts"]["planned"] == len(objects)
    assert report["bytes_planned"] == sum(map(len, objects.values()))
    assert contents(other_minio, destination) == {}
    assert contents(minio, source) == objects
    assert not list(tmp_path.glob("upvault/migrate/*"))


@pytest.mark.timeout(300)  # two full runs against servers that share 2 cores with the suite
def test_destination_stopped_mid_run_then_rerun_completes_verified(
    minio: MinioServer, other_minio: MinioServer, tmp_path: Path
) -> None:
    # Given 400 objects to move and a destination that goes away part-way
    source = new_bucket(minio)
    s3 = make_s3_client(minio)
    objects = {f"bulk/{i:04d}.bin": os.urandom(2048 + i) for i in range(400)}
    for key, data in objects.items():
        s3.put_object(Bucket=source, Key=key, Body=data)
    destination = new_bucket(other_minio)
    args, env = between(minio, source, other_minio, destination)
    args += ("--parallel", "4")
    process = subprocess.Popen(
        command(*args, state=tmp_path, env=env), cwd=ROOT, env=environment(tmp_path, env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    dest_s3 = make_s3_client(other_minio)
    try:
        deadline = time.monotonic() + 120
        while dest_s3.list_objects_v2(Bucket=destination).get("KeyCount", 0) < 40:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before the stop"
            time.sleep(0.05)
        # When the destination server stops mid-run
        other_minio.stop()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        other_minio.start()
    # Then the run stops with exit 1 and a message saying to rerun, no traceback
    assert process.returncode == 1 and "Traceback" not in stderr
    stopped = json.loads(stdout)
    assert "unreachable" in stopped["aborted"] and "rerun" in stopped["aborted"]
    assert 0 < stopped["counts"]["copied"] < len(objects)
    # When the server is back and the same command runs again
    code, second, _ = migrate(*args, state=tmp_path, env=env)
    # Then it completes, skipping what the first run verified, and every object is verified equal
    assert code == 0 and second["ok"]
    assert second["counts"]["copied"] + second["counts"]["skipped"] == len(objects)
    assert second["counts"]["skipped"] >= stopped["counts"]["copied"]
    code, verified, _ = migrate(*args, "--verify-only", state=tmp_path / "no-journal", env=env)
    assert code == 0 and verified["counts"]["skipped"] == len(objects)
    assert contents(other_minio, destination) == objects


def test_verify_detects_a_corrupted_destination_object(other_minio: MinioServer, pair: Pair, tmp_path: Path) -> None:
    # Given a completed migration
    objects, destination, args, env = pair.objects, pair.destination, pair.args, pair.env
    assert migrate(*args, state=tmp_path, env=env)[0] == 0
    # When one destination object is silently replaced by other bytes of the same size
    key = "docs/user_2/file-5.txt"
    make_s3_client(other_minio).put_object(Bucket=destination, Key=key, Body=b"X" * len(objects[key]))
    # Then a verify pass finds exactly that object, and exits 1
    code, report, _ = migrate(*args, "--verify-only", state=tmp_path, env=env)
    assert code == 1
    assert report["failed"] == [{"key": key, "destination": key, "reason": "destination differs: checksum differs"}]
    # And a normal run repairs it, after which verify passes
    code, repaired, _ = migrate(*args, state=tmp_path, env=env)
    assert code == 0 and [item["key"] for item in repaired["copied"]] == [key]
    assert migrate(*args, "--verify-only", state=tmp_path, env=env)[0] == 0


@pytest.mark.timeout(300)  # two full runs against servers that share 2 cores with the suite
def test_legacy_layout_lands_in_staging_and_the_processor_decides(
    other_minio: MinioServer, minio_stack: LocalStack, tmp_path: Path
) -> None:
    # Given the old setup: one bucket per category, <user>/<name> inside, on another MinIO
    user = unique_user("legacy")
    source = new_bucket(other_minio)
    s3 = make_s3_client(other_minio)
    legacy = {
        f"{user}/Kontoauszug Oktober.pdf": (SAMPLES["application/pdf"], "application/pdf"),
        f"{user}/notes.txt": (SAMPLES["text/plain"], "text/plain"),
        f"{user}/disguised.pdf": (b"<html><script>alert(1)</script></html>", "application/pdf"),
        f"{user}/setup.exe": (b"MZ\x90\x00" + b"\x00" * 60, "application/x-msdownload"),
    }
    for key, (data, content_type) in legacy.items():
        s3.put_object(Bucket=source, Key=key, Body=data, ContentType=content_type)
    assert minio_stack.storage is not None and minio_stack.settings is not None
    storage = minio_stack.storage
    env = {
        **keys_env("from", other_minio),
        "UPVAULT_MIGRATE_TO_ACCESS_KEY_ID": storage.access_key_id,
        "UPVAULT_MIGRATE_TO_SECRET_ACCESS_KEY": storage.secret_access_key,
        # The deployment's rules the declarations are checked against, as the stack has them.
        **{f"UPVAULT_{name.upper()}": str(value) for name, value in SERVICE_SETTINGS.items()},
    }
    args = ("--from", f"s3://{source}", "--from-endpoint", other_minio.endpoint_url, "--category", "documents")
    args += ("--to", f"s3://{minio_stack.settings.bucket}", "--to-endpoint", storage.endpoint_url)
    args += ("--layout", "legacy", "--wait", "--wait-timeout", "60")
    # When it is migrated into the stack's bucket in Upvault's layout
    code, report, _ = migrate(*args, state=tmp_path, env=env)
    # Then the two real documents are accepted, and the rest are rejected with their reasons
    assert code == 1, report
    assert sorted(i["key"] for i in report["copied"]) == [f"{user}/Kontoauszug Oktober.pdf", f"{user}/notes.txt"]
    rejected = {i["key"]: i["reason"] for i in report["rejected"]}
    assert "not allowed for documents" in rejected[f"{user}/setup.exe"]
    assert "content is not application/pdf" in rejected[f"{user}/disguised.pdf"]
    # And nothing was written to files/ by the migration itself: every key went through staging
    for item in report["copied"]:
        assert ObjectKey.parse(item["destination"]).status.value == "pending"
    # And the user sees them through the API with the right status, name and origin
    client = Client(minio_stack, user)
    try:
        listed = client.listed()
        ready = {item["name"] for item in listed.values() if item["status"] == "ready"}
        assert ready == {"Kontoauszug_Oktober.pdf", "notes.txt"}
        disguised = ObjectKey.parse(rejected_destination(report, f"{user}/disguised.pdf")).file_id
        record = client.file(disguised).json()
        assert record["status"] == "rejected" and record["reason"]
        pdf_id = ObjectKey.parse(next(i["destination"] for i in report["copied"] if i["key"].endswith(".pdf"))).file_id
        details = client.file(pdf_id).json()
        assert details["name"] == "Kontoauszug Oktober.pdf" and details["status"] == "ready"
        assert details["metadata"]["source-key"].endswith("Kontoauszug%20Oktober.pdf")
    finally:
        client.http.close()
    # When the migration runs again, asked to delete what was migrated
    code, again, _ = migrate(*args, "--delete-source", state=tmp_path, env=env)
    # Then no file is duplicated (same ids, nothing copied)
    assert again["counts"]["copied"] == 0 and again["counts"]["skipped"] == 2
    listing = stack_s3(minio_stack).list_objects_v2(Bucket=minio_stack.settings.bucket, Prefix=f"files/{user}/")
    assert listing["KeyCount"] == 2
    # And only the files the processor accepted left the old storage; rejected ones stay there
    assert sorted(again["deleted_source"]) == [f"{user}/Kontoauszug Oktober.pdf", f"{user}/notes.txt"]
    assert sorted(contents(other_minio, source)) == [f"{user}/disguised.pdf", f"{user}/setup.exe"]


def rejected_destination(report: dict[str, Any], key: str) -> str:
    """Where a rejected object was put (quarantine)."""
    return str(next(item["destination"] for item in report["rejected"] if item["key"] == key))
