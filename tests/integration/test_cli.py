"""The ``upvault`` CLI as a user runs it: a real process against the local stack on MinIO.

The stack plans multipart above 5 MiB in 5 MiB parts (MinIO's minimum). A forward proxy
between the CLI and everything it talks to records the traffic, so tests assert what was
sent, and holds chosen parts so a test can kill the CLI mid-upload at a known point.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from awscrt.checksums import crc64nvme

from local.devstack import LocalStack
from local.ports import free_port
from tests.integration.cli_support import UPVAULT, ForwardProxy, cli_env, run_cli, start_cli
from tests.integration.live import unique_user
from tests.support import SAMPLES, pdf, sha256_b64
from upvault_client import Client

MIB = 1024 * 1024
PART = 5 * MIB


def crc_b64(data: bytes) -> str:
    """Base64 of the big-endian CRC64NVME of ``data``."""
    return base64.b64encode(crc64nvme(data).to_bytes(8, "big")).decode()


def pdf_file(path: Path, size: int) -> bytes:
    """Write a PDF-looking file of ``size`` bytes (validation sniffs its head) and return its bytes."""
    data = pdf() + os.urandom(size - len(pdf()))
    path.write_bytes(data)
    return data


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    """A recording forward proxy, stopped after the test."""
    made = ForwardProxy()
    yield made
    made.stop()


@pytest.fixture
def env(minio_stack: LocalStack, tmp_path: Path, proxy: ForwardProxy) -> dict[str, str]:
    """A new user's terminal: API URL and token in the environment, traffic through the proxy."""
    return cli_env(minio_stack, unique_user("cli"), tmp_path / "home", proxy)


def records(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    """The ``--json`` output."""
    parsed: list[dict[str, object]] = json.loads(result.stdout)
    return parsed


def test_upload_single_and_multipart_in_parallel_then_get_the_same_bytes(
    env: dict[str, str], proxy: ForwardProxy, tmp_path: Path
) -> None:
    # Given a small PDF and a 23 MiB one (five parts)
    small = tmp_path / "Kontoauszug.pdf"
    small.write_bytes(SAMPLES["application/pdf"])
    big = tmp_path / "archive.pdf"
    data = pdf_file(big, 23 * MIB)
    # When both are uploaded with three transfers at once
    result = run_cli(env, "upload", str(small), str(big), "--parallel", "3", "--json")
    # Then both are ready and the exit code says so
    assert result.returncode == 0, result.stderr
    first, second = records(result)
    assert (first["status"], first["name"], first["sha256"]) == (
        "ready",
        "Kontoauszug.pdf",
        sha256_b64(small.read_bytes()),
    )
    assert (second["status"], second["size"], second["ok"]) == ("ready", len(data), True)
    # and the single PUT carried its SHA-256 as a signed header, storage having verified it
    (single,) = [s for s in proxy.seen if s.method == "PUT" and s.part_number is None]
    assert single.headers["x-amz-checksum-sha256"] == sha256_b64(small.read_bytes()) and single.status == 200
    # and the multipart declaration carried no checksum (no pass over the file before its first
    # byte), its completion the whole file's CRC64NVME. The CLI guessed the service's default
    # threshold (100 MiB) at first, so it may have declared the file once for a single PUT
    # before this stack's 5 MiB threshold told it better (later runs remember the threshold).
    declarations = [s for s in proxy.api("POST", "/v1/uploads") if json.loads(s.body)["filename"] == "archive.pdf"]
    assert json.loads(declarations[-1].body)["checksums"] == {}
    completions = [json.loads(s.body) for s in proxy.api("POST", "/complete")]
    assert crc_b64(data) in [body.get("crc64nvme") for body in completions]
    # (a first wrong guess got the API's 422, naming its threshold)
    assert [s.status for s in declarations] in ([201], [422, 201])
    # and each part went once, several at a time, with part URLs signed for their CRC64NVME
    assert sorted(proxy.parts()) == [1, 2, 3, 4, 5]
    assert proxy.max_in_flight_parts >= 2
    signed = [p for s in proxy.api("POST", "/parts") for p in json.loads(s.body)["parts"]]
    cuts = [data[i : i + PART] for i in range(0, len(data), PART)]
    assert sorted(signed, key=lambda p: int(str(p["part_number"]))) == [
        {"part_number": n, "crc64nvme": crc_b64(cut)} for n, cut in enumerate(cuts, start=1)
    ]
    # When both are downloaded
    out = tmp_path / "out"
    out.mkdir()
    for record in (first, second):
        got = run_cli(env, "get", str(record["file_id"]), "-o", str(out))
        assert got.returncode == 0, got.stderr
    # Then the bytes are equal
    assert (out / "Kontoauszug.pdf").read_bytes() == small.read_bytes()
    assert (out / "archive.pdf").read_bytes() == data


def test_storage_verified_the_multipart_checksums(env: dict[str, str], proxy: ForwardProxy, tmp_path: Path) -> None:
    # Given a file uploaded in parts
    big = tmp_path / "archive.pdf"
    data = pdf_file(big, 11 * MIB)
    result = run_cli(env, "upload", str(big), "--json")
    assert result.returncode == 0, result.stderr
    # Then each part PUT carried its signed CRC64NVME and the file reports the whole-object value
    for seen in proxy.seen:
        if seen.part_number:
            cut = data[(seen.part_number - 1) * PART : seen.part_number * PART]
            assert seen.headers.get("x-amz-checksum-crc64nvme") == crc_b64(cut)
    assert records(result)[0]["crc64nvme"] == crc_b64(data)


def _stored_parts(env: dict[str, str], upload_id: str) -> list[int]:
    """What storage holds of an upload, asked through the API (as the CLI's resume does)."""
    response = httpx.get(
        f"{env['UPVAULT_API_URL']}/v1/uploads/{upload_id}/parts",
        headers={"Authorization": f"Bearer {env['UPVAULT_TOKEN']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return sorted(part["part_number"] for part in response.json()["parts"])


def _interrupted_run(
    env: dict[str, str], proxy: ForwardProxy, path: Path, *, stored: int, how: signal.Signals
) -> tuple[str, str, int]:
    """Start an upload, let ``stored`` parts through, hold the rest, then send ``how``.

    Returns the upload id, the CLI's stderr and its exit code.
    """
    proxy.hold = lambda seen: seen.part_number is not None and seen.part_number > stored
    process = start_cli(env, "upload", str(path), "--parallel", "2")
    try:
        proxy.wait_for(lambda: len(proxy.parts()) == stored and proxy.held >= 1)
        process.send_signal(how)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    proxy.drop_held()
    upload_id = proxy.api("POST", "/parts")[0].path.split("/")[-2]
    return upload_id, stderr, process.returncode


def test_a_killed_upload_resumes_without_sending_a_stored_part_again(
    env: dict[str, str], proxy: ForwardProxy, tmp_path: Path
) -> None:
    # Given an eight-part upload killed (SIGKILL: no chance to clean up) after three parts were stored
    big = tmp_path / "archive.pdf"
    data = pdf_file(big, 38 * MIB)
    upload_id, _, code = _interrupted_run(env, proxy, big, stored=3, how=signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert _stored_parts(env, upload_id) == [1, 2, 3]
    first_run = len(proxy.seen)
    # When the same command runs again
    result = run_cli(env, "upload", str(big), "--json")
    # Then it says it resumes, sends only the five missing parts, once each, and completes the file
    assert result.returncode == 0, result.stderr
    assert "resuming archive.pdf: 15.0 MiB of 38.0 MiB already stored" in result.stderr
    second_run = proxy.seen[first_run:]
    assert sorted(s.part_number for s in second_run if s.method == "PUT" and s.part_number) == [4, 5, 6, 7, 8]
    assert sorted(proxy.parts(200)) == [1, 2, 3, 4, 5, 6, 7, 8]  # across both runs: each part stored once
    assert not [s for s in second_run if s.method == "POST" and s.path == "/v1/uploads"], "no new declaration"
    (record,) = records(result)
    assert record["file_id"] == upload_id and record["status"] == "ready"
    # and the stored file is the file
    out = tmp_path / "copy.pdf"
    assert run_cli(env, "get", upload_id, "-o", str(out)).returncode == 0
    assert out.read_bytes() == data


def test_ctrl_c_says_how_to_resume_and_the_next_run_does(
    env: dict[str, str], proxy: ForwardProxy, tmp_path: Path
) -> None:
    # Given a three-part upload interrupted with Ctrl-C after its first part
    big = tmp_path / "archive.pdf"
    pdf_file(big, 12 * MIB)
    upload_id, stderr, code = _interrupted_run(env, proxy, big, stored=1, how=signal.SIGINT)
    # Then it stops at once with exit code 130, saying how to resume, and no traceback
    assert code == 130, stderr
    assert "run the same command again to resume" in stderr and f"upvault upload {big}" in stderr
    assert "Traceback" not in stderr
    assert _stored_parts(env, upload_id) == [1]
    # When the user runs it again
    result = run_cli(env, "upload", str(big))
    # Then it resumes, says so, and finishes
    assert result.returncode == 0, result.stderr
    assert "resuming archive.pdf" in result.stderr
    assert result.stdout.startswith(f"ready     {upload_id}  archive.pdf")


def test_a_disguised_file_fails_with_the_reason(env: dict[str, str], tmp_path: Path) -> None:
    # Given an HTML page named like a PDF, and a real PDF
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"<html><body><script>steal()</script></body></html>")
    real = tmp_path / "real.pdf"
    real.write_bytes(SAMPLES["application/pdf"])
    # When both are uploaded
    result = run_cli(env, "upload", str(fake), str(real))
    # Then the run fails (exit 1), naming the rejected file and why; the good one is ready
    assert result.returncode == 1
    assert "rejected" in result.stderr and "invoice.pdf" in result.stderr
    assert "content is not application/pdf" in result.stderr
    assert "ready" in result.stdout and "real.pdf" in result.stdout
    # and --json says the same for scripts
    again = run_cli(env, "upload", str(fake), "--json")
    (record,) = records(again)
    assert again.returncode == 1 and record["status"] == "rejected" and "application/pdf" in str(record["reason"])


def test_no_wait_then_ls_and_info(env: dict[str, str], tmp_path: Path) -> None:
    # Given a document and an image uploaded without waiting for validation
    doc = tmp_path / "notes.txt"
    doc.write_bytes(SAMPLES["text/plain"])
    image = tmp_path / "cat.png"
    image.write_bytes(SAMPLES["image/png"])
    uploaded = run_cli(env, "upload", str(doc), str(image), "--no-wait", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    doc_record, image_record = records(uploaded)
    assert doc_record["status"] == "pending" and image_record["category"] == "images"
    # When the images are listed, and the document's details shown
    listed = run_cli(env, "ls", "--category", "images", "--json")
    info = run_cli(env, "info", str(doc_record["file_id"]))
    # Then only the image is listed, and the details name the file
    assert listed.returncode == 0 and [i["file_id"] for i in records(listed)] == [image_record["file_id"]]
    assert info.returncode == 0 and "notes.txt" in info.stdout and "text/plain" in info.stdout


def test_rm_then_restore(env: dict[str, str]) -> None:
    # Given two ready files (uploaded with the client library: the commands under test come after)
    with Client(env["UPVAULT_API_URL"], token=env["UPVAULT_TOKEN"], resume=False) as client:
        doc = client.upload(SAMPLES["text/plain"], filename="notes.txt")
        client.upload(SAMPLES["image/png"], filename="cat.png")
    # When the document is deleted
    removed = run_cli(env, "rm", doc.file_id)
    gone = run_cli(env, "info", doc.file_id)
    # Then it is gone (exit 1 with the API's 404), and restore brings it back
    assert removed.returncode == 0 and removed.stdout.startswith("deleted")
    assert gone.returncode == 1 and "404" in gone.stderr
    restored = run_cli(env, "restore", doc.file_id, "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["file_id"] == doc.file_id
    # and a plain `ls` prints one tab-separated line per file
    plain = run_cli(env, "ls")
    assert plain.returncode == 0 and len(plain.stdout.splitlines()) == 2
    assert all(len(line.split("\t")) == 6 for line in plain.stdout.splitlines())


def test_a_bad_token_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    # Given a token the API does not accept
    env["UPVAULT_TOKEN"] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ."
    path = tmp_path / "a.pdf"
    path.write_bytes(SAMPLES["application/pdf"])
    # When files are listed or uploaded
    listed = run_cli(env, "ls")
    uploaded = run_cli(env, "upload", str(path))
    # Then both fail with exit 1, saying the token was refused and where it comes from
    for result in (listed, uploaded):
        assert result.returncode == 1
        assert "refused the token" in result.stderr and "401" in result.stderr and "UPVAULT_TOKEN" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_server_that_is_down_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    # Given an API URL where nothing listens
    env["UPVAULT_API_URL"] = f"http://127.0.0.1:{free_port()}"
    env.pop("HTTP_PROXY")
    path = tmp_path / "a.pdf"
    path.write_bytes(SAMPLES["application/pdf"])
    # When a file is uploaded, or files listed
    uploaded = run_cli(env, "upload", str(path), "--json")
    listed = run_cli(env, "ls")
    # Then both fail with exit 1, naming the URL and the reason, without a traceback
    for result, stream in ((uploaded, uploaded.stdout), (listed, listed.stderr)):
        assert result.returncode == 1
        assert f"cannot reach the Upvault API at {env['UPVAULT_API_URL']}" in stream
        assert "connection refused" in stream and "Traceback" not in result.stderr


def test_login_saves_the_configuration_the_other_commands_use(minio_stack: LocalStack, tmp_path: Path) -> None:
    # Given a user with no configuration at all
    env = cli_env(minio_stack, unique_user("cli"), tmp_path / "home")
    token = env.pop("UPVAULT_TOKEN")
    api_url = env.pop("UPVAULT_API_URL")
    # When a command runs unconfigured, it is a usage error naming the fixes
    unconfigured = run_cli(env, "ls")
    assert unconfigured.returncode == 2 and "upvault login" in unconfigured.stderr
    # When they log in with a wrong token, nothing is saved; with theirs, it is
    refused = run_cli(env, "login", "--api-url", api_url, "--token", "wrong")
    assert refused.returncode == 1 and "refused the token" in refused.stderr
    saved = run_cli(env, "login", "--api-url", api_url, "--token", token)
    assert saved.returncode == 0, saved.stderr
    config = tmp_path / "home" / "config" / "upvault" / "config.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    # Then later commands use it
    listed = run_cli(env, "ls", "--json")
    assert listed.returncode == 0 and records(listed) == []


def test_a_terminal_shows_progress_bars(env: dict[str, str], tmp_path: Path) -> None:
    # Given a terminal (a pseudo-terminal for stdout and stderr)
    big = tmp_path / "archive.pdf"
    pdf_file(big, 11 * MIB)
    controller, terminal = pty.openpty()
    # When a file is uploaded there
    process = subprocess.Popen(
        [UPVAULT, "upload", str(big)],
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(30) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    # Then it drew a bar per file and a total, with bytes and rate
    assert "archive.pdf" in text and "total" in text
    assert "MiB" in text and "/s" in text


def test_no_terminal_no_progress_bars(env: dict[str, str], tmp_path: Path) -> None:
    # Given output to a pipe (scripts, CI)
    path = tmp_path / "a.pdf"
    path.write_bytes(SAMPLES["application/pdf"])
    # When a file is uploaded
    result = run_cli(env, "upload", str(path))
    # Then stdout holds the one result line and stderr stays empty
    assert result.returncode == 0
    assert result.stdout.startswith("ready ") and len(result.stdout.splitlines()) == 1
    assert result.stderr == ""
