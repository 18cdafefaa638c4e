"""``upvault migrate`` on temp folders and moto: parsing, mapping, filters, journal, and the command.

The command always runs as a real process (``python -m migration``), the way an operator runs
it; moto serves S3 from its own process so its state is not shared with ``mock_aws`` tests.
Two MinIO servers with different credentials are the integration tier's job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.ports import LOOPBACK, free_port, is_listening
from migration.cli import parse_since, parse_size
from migration.errors import MigrationError
from migration.journal import Journal, Record
from migration.locations import parse_location
from migration.mapping import Filters, KeyFacts, LegacyMapper, key_facts
from migration.stores import Entry, ObjectMeta
from tests.support import SAMPLES
from upvault import object_metadata
from upvault.keys import ObjectKey, category_of
from upvault.models import Category, Status
from upvault.settings import MIB, Settings

ROOT = Path(__file__).resolve().parents[2]
#: The console script users run (``make venv`` installs it); ``python -m migration`` is the same command.
UPVAULT = str(Path(sys.executable).with_name("upvault"))
KEYS = {"UPVAULT_MIGRATE_TO_ACCESS_KEY_ID": "moto", "UPVAULT_MIGRATE_TO_SECRET_ACCESS_KEY": "moto-secret"}
FROM_KEYS = {"UPVAULT_MIGRATE_FROM_ACCESS_KEY_ID": "moto", "UPVAULT_MIGRATE_FROM_SECRET_ACCESS_KEY": "moto-secret"}


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while not is_listening(port):
        assert process.poll() is None and time.monotonic() < deadline, "moto server did not start"
        time.sleep(0.1)
    yield f"http://{LOOPBACK}:{port}"
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    """A client of the moto server."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto-secret",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test."""
    name = f"mig-{abs(hash(request.node.nodeid)) % 10**12}"
    s3.create_bucket(Bucket=name)
    return name


def migrate(*args: str, state: Path, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Any:
    """Run ``python -m migration`` with a private journal folder; the completed process."""
    environ = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
        "XDG_STATE_HOME": str(state),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **(env or {}),
    }
    # The tests' BOTO_DISABLE_CRT makes botocore sign as Lambda does; the migration is an operator
    # tool whose per-part CRC64NVME needs botocore's CRT support, as on an operator's machine.
    for name in (*drop, "BOTO_DISABLE_CRT"):
        environ.pop(name, None)
    return subprocess.run(
        [UPVAULT, "migrate", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def report_of(result: Any) -> dict[str, Any]:
    """The JSON report a ``--json`` run printed."""
    assert result.stdout.strip(), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def source_folder(tmp_path: Path) -> Path:
    """A folder in the legacy layout: two users, a PDF, a note and one multipart-sized file."""
    root = tmp_path / "source"
    (root / "documents" / "user_1").mkdir(parents=True)
    (root / "images" / "user_2").mkdir(parents=True)
    (root / "documents" / "user_1" / "Kontoauszug.pdf").write_bytes(SAMPLES["application/pdf"])
    (root / "documents" / "user_1" / "note.txt").write_bytes(SAMPLES["text/plain"])
    (root / "images" / "user_2" / "large.bin").write_bytes(os.urandom(6 * MIB + 123))
    return root


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "bucket", "prefix"),
    [
        ("s3://legacy-docs", "s3", "legacy-docs", ""),
        ("s3://legacy-docs/", "s3", "legacy-docs", ""),
        ("s3://legacy-docs/2024/user_1", "s3", "legacy-docs", "2024/user_1/"),
        ("file:///srv/files", "file", "", ""),
    ],
)
def test_locations_parse_buckets_prefixes_and_folders(text: str, kind: str, bucket: str, prefix: str) -> None:
    # Given a location as an operator writes it / When parsed
    location = parse_location(text)
    # Then the kind, bucket and prefix are what it names
    assert (location.kind, location.bucket, location.prefix) == (kind, bucket, prefix)


@pytest.mark.parametrize("text", ["gs://bucket", "http://127.0.0.1:9000/bucket", "s3://A_Bucket", "file://rel/x", ""])
def test_locations_refuse_what_they_cannot_serve(text: str) -> None:
    # Given a URL the tool does not speak / When parsed / Then a message names the accepted forms
    with pytest.raises(MigrationError):
        parse_location(text)


def test_sizes_and_since_parse_like_an_operator_writes_them() -> None:
    # Given sizes and times in the usual forms / Then they mean what they say
    assert parse_size("16MiB") == 16 * MIB
    assert parse_size("5m") == 5 * MIB
    assert parse_size("1024") == 1024
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert abs(parse_since("7d") - (datetime.now(UTC) - timedelta(days=7))) < timedelta(seconds=5)


# -- legacy mapping ----------------------------------------------------------------------------


def entry(key: str, size: int = 100, version: str = "v1") -> Entry:
    """A listed object."""
    return Entry(key, size, datetime(2024, 3, 1, tzinfo=UTC).timestamp(), version)


def test_legacy_objects_map_into_staging_with_an_upload_declaration() -> None:
    # Given the old layout's documents/user_1/<name>
    mapper = LegacyMapper(Settings(bucket="upvault-test"), "s3://legacy/")
    source = entry("documents/user_1/Kontoauszug Oktober.pdf")
    # When it is mapped twice
    first, second = mapper.target(source), mapper.target(source)
    # Then both runs name the same staged file (no duplicates), of the right user and category
    assert first == second and not first.rejected
    key = ObjectKey.parse(first.key)
    assert (key.status, key.user, key.category) == (Status.PENDING, "user_1", Category.DOCUMENTS)
    assert category_of(key.file_id) is Category.DOCUMENTS and key.safe_name == "Kontoauszug_Oktober.pdf"
    # And its metadata is exactly what an upload declaration writes, plus where it came from
    declared, meta = mapper.declare(first, source, ObjectMeta("application/pdf"), "c2hh")
    assert declared.rejected is None
    assert meta.content_type == "application/pdf"
    assert meta.metadata == object_metadata.build(
        display_name="Kontoauszug Oktober.pdf",
        size=100,
        sha256="c2hh",
        client={
            "source-key": "documents%2Fuser_1%2FKontoauszug%20Oktober.pdf",
            "source-mtime": "2024-03-01T00:00:00+00:00",
        },
    )
    # And a changed source object (new version) becomes a new file, never an overwrite
    assert mapper.target(entry(source.key, version="v2")).key != first.key


def test_legacy_mapping_uses_the_bucket_category_and_the_user_map() -> None:
    # Given a per-category bucket (<user>/<name>) and a map from legacy users to subjects
    mapper = LegacyMapper(
        Settings(bucket="upvault-test"), "s3://audio/", category=Category.AUDIO, user_map={"user_7": "Alice@Bank"}
    )
    # When a recording is mapped
    target = mapper.target(entry("user_7/memo.mp3"))
    # Then it is audio of the mapped subject (hashed, as the API keys such subjects)
    key = ObjectKey.parse(target.key)
    assert key.category is Category.AUDIO and key.user.startswith("h-")


@pytest.mark.parametrize(
    ("key", "size", "reason"),
    [
        ("loose-file.pdf", 10, "not in the legacy layout"),
        ("videos/user_1/clip.mp4", 10, "not in the legacy layout"),
        ("documents/user_1/huge.pdf", 60 * MIB, "exceeds the documents limit"),
        ("documents/user_1/photo.pdf.png", 10, None),
        ("images/user_1/scan.pdf", 10, "not allowed for images"),
    ],
)
def test_legacy_mapping_refuses_what_the_api_would(key: str, size: int, reason: str | None) -> None:
    # Given objects an upload declaration would refuse (or accept)
    mapper = LegacyMapper(Settings(bucket="upvault-test"), "s3://legacy/")
    # When mapped / Then the rejection carries the API's own reason, before any byte moves
    target = mapper.target(entry(key, size))
    if reason is None:
        assert target.rejected is None
    else:
        assert target.rejected is not None and reason in target.rejected


def test_a_type_the_name_does_not_settle_is_checked_against_the_source_content_type() -> None:
    # Given a legacy file whose extension says nothing (an .exe renamed is still an .exe)
    mapper = LegacyMapper(Settings(bucket="upvault-test"), "s3://legacy/")
    source = entry("documents/user_1/invoice.exe")
    target = mapper.target(source)
    assert target.rejected is None and target.content_type is None
    # When the source's content type is known at copy time / Then the same policy decides
    rejected, _ = mapper.declare(target, source, ObjectMeta("application/x-msdownload"), None)
    assert rejected.rejected is not None and "not allowed for documents" in rejected.rejected
    accepted, meta = mapper.declare(target, source, ObjectMeta("application/pdf"), None)
    assert accepted.rejected is None and meta.content_type == "application/pdf"


def test_filters_take_globs_category_user_and_age() -> None:
    # Given filters of every kind
    recent = datetime.now(UTC).timestamp()
    old = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    facts = key_facts("documents/user_1/a.pdf")
    assert facts == KeyFacts("documents", "user_1")
    # Then each keeps exactly what it names
    assert Filters(include=("documents/*",)).accepts(Entry("documents/user_1/a.pdf", 1, old, "v"), facts)
    assert not Filters(exclude=("*.pdf",)).accepts(Entry("documents/user_1/a.pdf", 1, old, "v"), facts)
    assert not Filters(category=Category.AUDIO).accepts(Entry("documents/user_1/a.pdf", 1, old, "v"), facts)
    assert Filters(users=frozenset({"user_1"})).accepts(Entry("documents/user_1/a.pdf", 1, old, "v"), facts)
    since = Filters(since=datetime(2024, 1, 1, tzinfo=UTC))
    assert since.accepts(Entry("k", 1, recent, "v"), facts) and not since.accepts(Entry("k", 1, old, "v"), facts)
    # And Upvault's own layout is understood too
    assert key_facts("files/alice/images/01J0000000000000000000000G/x.png") == KeyFacts("images", "alice")


def test_the_migration_variables_have_no_other_reader() -> None:
    # Given the service's, the local stack's and the client's settings (all read UPVAULT_*)
    from local.settings import DevSettings
    from upvault_client.config import ClientSettings

    # Then none of them has a field that would read an UPVAULT_MIGRATE_* variable
    for reader in (Settings, DevSettings, ClientSettings):
        assert not [name for name in reader.model_fields if name.startswith("migrate_")], reader


def test_journal_survives_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    # Given a journal whose last line was cut short
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, writable=True)
    journal.add(Record("a", "v1", 1, "a", "e1", "crc"))
    journal.close()
    with path.open("a") as handle:
        handle.write('{"source": "b", "source_ver')
    # When it is read again
    again = Journal(path, writable=False)
    # Then the complete record is there and the torn one is ignored (b is simply copied again)
    assert again.get("a") == Record("a", "v1", 1, "a", "e1", "crc")
    assert again.get("b") is None


# -- the command on folders and moto -----------------------------------------------------------


def test_folder_to_bucket_copies_verified_and_a_rerun_skips_everything(
    source_folder: Path, s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given a folder with small files and one above the multipart threshold
    args = ("--from", str(source_folder), "--to", f"s3://{bucket}/copy", "--to-endpoint", moto_endpoint)
    args += ("--multipart-threshold", "5MiB", "--part-size", "5MiB", "--json")
    # When it is migrated
    result = migrate(*args, state=tmp_path, env=KEYS)
    # Then every object is copied, verified, and reported with its bytes
    assert result.returncode == 0, result.stderr + result.stdout
    report = report_of(result)
    assert report["ok"] and report["counts"]["copied"] == 3 and report["counts"]["failed"] == 0
    assert report["bytes_copied"] == sum(len(v) for v in tree(source_folder).values())
    assert {item["method"] for item in report["copied"]} == {"put", "transfer manager"}
    # And the bucket holds the same bytes, content type and modification time
    for key, data in tree(source_folder).items():
        got = s3.get_object(Bucket=bucket, Key=f"copy/{key}")
        assert got["Body"].read() == data
    pdf = s3.head_object(Bucket=bucket, Key="copy/documents/user_1/Kontoauszug.pdf")
    assert pdf["ContentType"] == "application/pdf"
    mtime = (source_folder / "documents" / "user_1" / "Kontoauszug.pdf").stat().st_mtime
    assert abs(float(pdf["Metadata"]["mtime"]) - mtime) < 1e-3
    # When the same command runs again
    again = report_of(migrate(*args, state=tmp_path, env=KEYS))
    # Then nothing is copied: the journal proves every object unchanged on both sides
    assert again["counts"]["copied"] == 0 and again["counts"]["skipped"] == 3
    assert {item["reason"] for item in again["skipped"]} == {"unchanged (journal)"}
    # And without the journal the checksums prove it
    fresh = report_of(migrate(*args, state=tmp_path / "other", env=KEYS))
    assert fresh["counts"]["skipped"] == 3 and fresh["counts"]["copied"] == 0


def test_incremental_run_copies_only_what_changed(
    source_folder: Path, s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given a completed migration
    args = ("--from", str(source_folder), "--to", f"s3://{bucket}", "--to-endpoint", moto_endpoint, "--json")
    assert migrate(*args, state=tmp_path, env=KEYS).returncode == 0
    # When one file changes and one is added
    (source_folder / "documents" / "user_1" / "note.txt").write_bytes(b"changed since the first sync\n")
    (source_folder / "documents" / "user_1" / "new.csv").write_bytes(SAMPLES["text/csv"])
    report = report_of(migrate(*args, state=tmp_path, env=KEYS))
    # Then exactly those two are copied
    assert sorted(item["key"] for item in report["copied"]) == ["documents/user_1/new.csv", "documents/user_1/note.txt"]
    assert (
        s3.get_object(Bucket=bucket, Key="documents/user_1/note.txt")["Body"].read()
        == b"changed since the first sync\n"
    )


def test_dry_run_prints_the_plan_and_changes_nothing(
    source_folder: Path, s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given an empty bucket
    args = ("--from", str(source_folder), "--to", f"s3://{bucket}", "--to-endpoint", moto_endpoint, "--dry-run")
    # When a dry run is asked for, as text and as JSON
    text = migrate(*args, state=tmp_path, env=KEYS)
    report = report_of(migrate(*args, "--json", state=tmp_path, env=KEYS))
    # Then the plan lists every object and its bytes, and the bucket and journal stay empty
    assert text.returncode == 0 and "would copy 3 objects" in text.stdout and "nothing was changed" in text.stdout
    assert report["counts"]["planned"] == 3 and report["bytes_planned"] == sum(map(len, tree(source_folder).values()))
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert not list(tmp_path.glob("upvault/migrate/*"))


def test_bucket_to_folder_with_delete_source_after_verified_copies(
    s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given objects with content types and user metadata in a bucket
    s3.put_object(Bucket=bucket, Key="a/report.pdf", Body=SAMPLES["application/pdf"], ContentType="application/pdf")
    s3.put_object(Bucket=bucket, Key="a/b/notes.txt", Body=b"notes", Metadata={"owner": "ops"})
    large = os.urandom(6 * MIB + 3)
    s3.put_object(Bucket=bucket, Key="a/large.bin", Body=large)
    target = tmp_path / "out"
    # When they are migrated into a folder with --delete-source (the large one streamed)
    result = migrate(
        "--from", f"s3://{bucket}", "--from-endpoint", moto_endpoint, "--to", f"file://{target}", "--delete-source",
        "--multipart-threshold", "5MiB", "--json", state=tmp_path, env=FROM_KEYS,
    )  # fmt: skip
    # Then the folder holds the bytes, with the metadata as extended attributes
    assert result.returncode == 0, result.stderr
    assert tree(target) == {"a/report.pdf": SAMPLES["application/pdf"], "a/b/notes.txt": b"notes", "a/large.bin": large}
    assert os.getxattr(target / "a" / "report.pdf", "user.mime_type") == b"application/pdf"
    assert os.getxattr(target / "a" / "b" / "notes.txt", "user.upvault.meta.owner") == b"ops"
    # And only verified copies were deleted at the source: all of them
    assert sorted(report_of(result)["deleted_source"]) == ["a/b/notes.txt", "a/large.bin", "a/report.pdf"]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_without_delete_source_the_source_is_never_touched(
    source_folder: Path, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given a source folder
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in source_folder.rglob("*") if p.is_file()}
    # When it is migrated twice
    for _ in range(2):
        migrate("--from", str(source_folder), "--to", f"s3://{bucket}", "--to-endpoint", moto_endpoint,
                state=tmp_path, env=KEYS)  # fmt: skip
    # Then not one file changed
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in source_folder.rglob("*") if p.is_file()} == before


def test_a_named_profile_supplies_one_side_and_a_missing_one_is_named(
    source_folder: Path, s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given an AWS credentials file with a profile for the destination, and no other keys
    credentials = tmp_path / "credentials"
    credentials.write_text("[new-storage]\naws_access_key_id = moto\naws_secret_access_key = moto-secret\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    args = ("--from", str(source_folder), "--to", f"s3://{bucket}", "--to-endpoint", moto_endpoint, "--json")
    # When the destination is reached through --to-profile
    result = migrate(*args, "--to-profile", "new-storage", state=tmp_path, env=env, drop=drop)
    # Then the copy works with that profile's keys
    assert result.returncode == 0, result.stderr
    assert report_of(result)["counts"]["copied"] == 3
    # And a profile that does not exist is one clear line, exit 2
    missing = migrate(*args, "--to-profile", "nope", state=tmp_path, env=env, drop=drop)
    assert missing.returncode == 2 and "the profile 'nope' is not in the AWS config files" in missing.stderr


def test_ctrl_c_stops_cleanly_and_the_next_run_continues(
    s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given a folder of 300 files being migrated
    source = tmp_path / "many"
    source.mkdir()
    for i in range(300):
        (source / f"{i:03d}.txt").write_bytes(f"file {i}\n".encode() * 50)
    args = (
        "--from",
        str(source),
        "--to",
        f"s3://{bucket}",
        "--to-endpoint",
        moto_endpoint,
        "--parallel",
        "2",
        "--json",
    )
    environ = {k: v for k, v in os.environ.items() if k != "BOTO_DISABLE_CRT"}
    environ.update(KEYS, XDG_STATE_HOME=str(tmp_path), PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}")
    process = subprocess.Popen(
        [UPVAULT, "migrate", *args], cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) < 10:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before Ctrl-C"
        time.sleep(0.05)
    # When the operator presses Ctrl-C
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    # Then the run stops with exit 1, a report that says so and no traceback
    assert process.returncode == 1 and "Traceback" not in stderr
    stopped = json.loads(stdout)
    assert "interrupted" in stopped["aborted"] and stopped["counts"]["not_attempted"] > 0
    # When the same command runs again / Then it completes the rest, skipping what was verified
    again = report_of(migrate(*args, state=tmp_path, env=KEYS))
    assert again["ok"] and again["counts"]["copied"] + again["counts"]["skipped"] == 300
    assert again["counts"]["copied"] <= 300 - stopped["counts"]["copied"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad-url", "unsupported location"),
        ("missing-bucket", "does not exist"),
        ("no-credentials", "no credentials; set UPVAULT_MIGRATE_TO_ACCESS_KEY_ID"),
        ("unreachable", "cannot reach the endpoint"),
        ("legacy-into-folder", "--layout legacy writes into an Upvault bucket"),
    ],
)
def test_bad_input_stops_with_one_clear_line(
    case: str, message: str, source_folder: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    # Given a command an operator gets wrong
    args = {
        "bad-url": ["--to", "gs://somewhere"],
        "missing-bucket": ["--to", "s3://no-such-bucket", "--to-endpoint", moto_endpoint],
        "no-credentials": ["--to", "s3://any-bucket", "--to-endpoint", moto_endpoint],
        "unreachable": ["--to", "s3://any-bucket", "--to-endpoint", f"http://{LOOPBACK}:{free_port()}"],
        "legacy-into-folder": ["--to", str(tmp_path / "x"), "--layout", "legacy"],
    }[case]
    env = {} if case == "no-credentials" else KEYS
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if case == "no-credentials" else ()
    # When it runs
    result = migrate("--from", str(source_folder), *args, state=tmp_path, env=env, drop=drop)
    # Then it exits 2 with one line naming the problem, no traceback, nothing written
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_full_disk_stops_the_run_and_the_next_run_continues(tmp_path: Path) -> None:
    # Given a destination file system with room for two of three files (a 1 MiB tmpfs)
    source = tmp_path / "src"
    source.mkdir()
    files = {f"f{i}.bin": os.urandom(400 * 1024) for i in range(3)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    assert mounted.returncode == 0, f"this test mounts a tmpfs (needs root): {mounted.stderr!r}"
    try:
        args = ("--from", str(source), "--to", str(disk / "dest"), "--parallel", "1", "--json")
        # When the migration runs out of space
        first = migrate(*args, state=tmp_path)
        # Then it stops with exit 1, a clear reason, no traceback and no partial file left behind
        assert first.returncode == 1 and "Traceback" not in first.stderr
        report = report_of(first)
        assert "no space left on the destination disk" in report["aborted"]
        assert report["counts"]["copied"] == 2
        assert not list((disk / "dest").glob(".upvault-partial-*"))
        # When space is made and the same command runs again
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        second = report_of(migrate(*args, state=tmp_path))
        # Then it copies only what was missing, and everything is there
        assert second["ok"] and second["counts"] == {**second["counts"], "copied": 1, "skipped": 2}
        assert tree(disk / "dest") == files
    finally:
        subprocess.run(["umount", str(disk)], check=False)
