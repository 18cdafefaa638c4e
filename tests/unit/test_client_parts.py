"""The Python client's pieces on their own: checksums, sources, content types, journal,
plan guessing, configuration, and that it imports without the service's dependencies."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from awscrt.checksums import crc64nvme
from pydantic import ValidationError

from tests.support import SAMPLES
from upvault.settings import Settings
from upvault_client.api import MultipartPlan, PartRequest
from upvault_client.checksums import (
    BLOCK,
    StreamVerifier,
    combine_crc64nvme,
    crc64nvme_b64,
    digest,
    part_crcs_by_reading,
)
from upvault_client.config import ClientSettings, config_file, save_config
from upvault_client.content_types import guess_category, guess_content_type
from upvault_client.errors import Cancelled, IntegrityError
from upvault_client.journal import Journal, JournalEntry
from upvault_client.sources import Identity, open_source
from upvault_client.transfer import PartHasher, PartSigner, PlanHint

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("size", "part_size"),
    [(11 * MIB, 5 * MIB), (3 * BLOCK + 17, 2 * MIB), (16 * MIB, 16 * MIB), (7, 5 * MIB), (5 * MIB + 1, 5 * MIB)],
)
def test_part_crcs_combine_into_the_whole_files(size: int, part_size: int) -> None:
    # Given a file of random bytes cut in parts
    data = os.urandom(size)
    part_count = -(-size // part_size)
    # When each part's CRC64NVME is read from the file (as a resumed upload does for stored parts)
    crcs = part_crcs_by_reading(open_source(data), part_size, part_count)
    # Then each equals a direct computation, and combined in order they give the whole file's
    assert crcs == [crc64nvme(data[i * part_size : (i + 1) * part_size]) for i in range(part_count)]
    whole = crcs[0]
    for index, crc in enumerate(crcs[1:], start=1):
        whole = combine_crc64nvme(whole, crc, len(data[index * part_size : (index + 1) * part_size]))
    assert whole == crc64nvme(data)
    assert part_crcs_by_reading(open_source(data), part_size, part_count, [part_count]) == crcs[-1:]


def test_a_single_puts_digest_is_its_sha256() -> None:
    # Given a file of a few MiB, When it is digested for a single PUT, Then that is its SHA-256
    data = os.urandom(3 * MIB + 5)
    assert digest(open_source(data)).sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_stream_verifier_checks_size_and_checksum() -> None:
    # Given a file's recorded SHA-256 and CRC64NVME
    data = b"statement bytes"
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    crc = base64.b64encode(crc64nvme(data).to_bytes(8, "big")).decode()
    for kind in ({"sha256": sha, "crc64nvme": None}, {"sha256": None, "crc64nvme": crc}):
        # When the right bytes stream in, they pass
        good = StreamVerifier("id", len(data), **kind)
        good.update(data[:5])
        good.update(data[5:])
        good.check()
        # When other bytes of the same length do, they fail
        bad = StreamVerifier("id", len(data), **kind)
        bad.update(data[:-1] + b"X")
        with pytest.raises(IntegrityError):
            bad.check()
    # And a short download fails even without a checksum
    short = StreamVerifier("id", 10, sha256=None, crc64nvme=None)
    short.update(b"123")
    with pytest.raises(IntegrityError, match="received 3 bytes"):
        short.check()


def test_sources_read_ranges_from_paths_buffers_and_streams(tmp_path: Path) -> None:
    # Given the same bytes as a path, bytes, a seekable file positioned mid-way, and a pipe-like stream
    data = os.urandom(3 * MIB + 5)
    path = tmp_path / "blob.bin"
    path.write_bytes(b"prefix" + data)
    seekable = path.open("rb")
    seekable.seek(6)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self.inner.readinto(buffer)

    path.with_name("plain.bin").write_bytes(data)
    sources = [open_source(path.with_name("plain.bin")), open_source(data), open_source(seekable), open_source(Pipe())]
    # Then each has the size and gives back any range
    for source in sources:
        assert source.size == len(data)
        buffer = bytearray(100)
        assert source.read_into(MIB, memoryview(buffer)) == 100
        assert bytes(buffer) == data[MIB : MIB + 100]
        assert b"".join(source.chunks(0, len(data), MIB)) == data
        source.close()
    # and only the path has an identity for the resume journal
    assert [s.identity is not None for s in sources] == [True, False, False, False]
    seekable.close()


@pytest.mark.parametrize(
    ("head", "name", "content_type", "category"),
    [
        (SAMPLES["application/pdf"], "scan.bin", "application/pdf", "documents"),
        (SAMPLES["image/png"], "photo", "image/png", "images"),
        (SAMPLES["audio/wav"], "memo.wav", "audio/wav", "audio"),
        (SAMPLES["audio/webm"], "voice.webm", "audio/webm", "audio"),
        (SAMPLES["application/vnd.openxmlformats-officedocument.wordprocessingml.document"], "letter.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "documents"),
        (SAMPLES["text/csv"], "rates.csv", "text/csv", "documents"),
        (b"plain words", "notes.txt", "text/plain", "documents"),
        (b"<html></html>", "invoice.pdf", "application/pdf", "documents"),
        (b"\x00\x01", "blob", "application/octet-stream", "documents"),
    ],
)  # fmt: skip
def test_content_type_comes_from_the_bytes_then_the_name(
    head: bytes, name: str, content_type: str, category: str
) -> None:
    # When a type is guessed for these bytes and name
    guessed = guess_content_type(head, name)
    # Then the bytes win when they have a signature, the name otherwise; the category follows
    assert guessed == content_type
    assert guess_category(guessed) == category


def _entry(upload_id: str = "01M88A9NNXFE5G0HW0G2XWHCYD") -> JournalEntry:
    return JournalEntry(
        upload_id=upload_id,
        file_id=upload_id,
        filename="a.pdf",
        content_type="application/pdf",
        category="documents",
        size=11 * MIB,
        part_size=5 * MIB,
        part_count=3,
    )


def test_journal_keys_follow_api_path_size_and_mtime(tmp_path: Path) -> None:
    # Given a journal with one entry
    journal = Journal(tmp_path / "journal")
    identity = Identity(tmp_path / "a.pdf", 11 * MIB, 1)
    key = Journal.key("https://api.example", identity)
    journal.save(key, _entry())
    # Then it is found for the same file and API, not after a change or for another API
    assert journal.load(key) == _entry()
    assert journal.load(Journal.key("https://api.example", Identity(identity.path, identity.size, 2))) is None
    assert journal.load(Journal.key("https://other.example", identity)) is None
    assert oct((tmp_path / "journal").stat().st_mode & 0o777) == "0o700"
    # When the entry is damaged, it is dropped rather than trusted
    (tmp_path / "journal" / f"{key}.json").write_text("{not json")
    assert journal.load(key) is None and journal.entries() == []
    # And forget removes an entry
    journal.save(key, _entry())
    journal.forget(key)
    assert journal.entries() == []
    # And an entry nobody resumed for over a week is dropped when another is saved
    journal.save("old", _entry("01M88A9NNXFE5G0HW0G2XWHC00"))
    week = 8 * 24 * 3600
    os.utime(tmp_path / "journal" / "old.json", (time.time() - week, time.time() - week))
    journal.save(key, _entry())
    assert [e.upload_id for e in journal.entries()] == [_entry().upload_id]


def test_plan_hint_learns_the_api_threshold() -> None:
    # Given the service default guess (100 MiB)
    hint = PlanHint(100 * MIB)
    assert hint.multipart(50 * MIB) is False
    # When the API plans 50 MiB as multipart
    hint.learn(50 * MIB, multipart=True)
    # Then that size and larger are multipart, and smaller ones are guessed multipart down to 5 MiB
    assert hint.multipart(60 * MIB) and hint.multipart(50 * MIB) and hint.multipart(6 * MIB)
    # When the API then plans 8 MiB as a single PUT
    hint.learn(8 * MIB, multipart=False)
    # Then 8 MiB and below are single, 50 MiB and above multipart
    assert not hint.multipart(8 * MIB) and hint.multipart(50 * MIB)


def test_plan_hint_is_remembered_by_the_next_process(tmp_path: Path) -> None:
    # Given a hint that learned a 5 MiB threshold and kept it in a file
    PlanHint(100 * MIB, tmp_path / "api.plan").learn(11 * MIB, multipart=True)
    # When a new one starts from that file
    again = PlanHint(100 * MIB, tmp_path / "api.plan")
    # Then it guesses multipart for sizes above 5 MiB right away; a damaged file is just ignored
    assert again.multipart(6 * MIB) and not again.multipart(5 * MIB)
    (tmp_path / "api.plan").write_text("{")
    assert not PlanHint(100 * MIB, tmp_path / "api.plan").multipart(6 * MIB)


# -- configuration -------------------------------------------------------------------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user config directory of the test's own, with no UPVAULT_API_URL/UPVAULT_TOKEN set."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("UPVAULT_API_URL", raising=False)
    monkeypatch.delenv("UPVAULT_TOKEN", raising=False)
    return tmp_path / "config"


def test_client_settings_come_from_arguments_then_env_then_the_login_file(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a login file
    path = save_config("https://from-file.example", "file-token")
    # Then it lives in the user's config dir, readable by the user only, and is used
    assert path == config_file() == config_home / "upvault" / "config.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ClientSettings().api_url == "https://from-file.example"
    # When the environment sets the variables, they win; arguments win over both
    monkeypatch.setenv("UPVAULT_API_URL", "https://from-env.example")
    monkeypatch.setenv("UPVAULT_TOKEN", "env-token")
    settings = ClientSettings()
    assert (settings.api_url, settings.token and settings.token.get_secret_value()) == (
        "https://from-env.example",
        "env-token",
    )
    assert ClientSettings(api_url="https://from-flag.example").api_url == "https://from-flag.example"
    # And a URL that is not http(s) is refused, naming the field
    with pytest.raises(ValidationError, match="api_url"):
        ClientSettings(api_url="ftp://x")


def test_client_variables_leave_the_service_settings_alone(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the client's variables in the environment of a service process
    monkeypatch.setenv("UPVAULT_API_URL", "https://api.example")
    monkeypatch.setenv("UPVAULT_TOKEN", "secret")
    # When the service and the local stack read their settings
    from local.settings import DevSettings

    service = Settings(bucket="upvault-test")
    dev = DevSettings()
    # Then neither takes them (each variable has one reader), and the client reads no service variable
    assert "token" not in service.model_dump() and "api_url" not in service.model_dump()
    assert "token" not in dev.model_dump() and "api_url" not in dev.model_dump()
    assert set(ClientSettings().model_dump()) == {"api_url", "token"}


def test_the_client_imports_without_the_service_or_its_dependencies() -> None:
    # Given an interpreter where FastAPI, boto3, Mangum, Powertools and the service are missing
    blocked = ["fastapi", "boto3", "botocore", "mangum", "aws_lambda_powertools", "upvault", "functions", "local"]
    code = (
        "import sys, importlib.abc\n"
        f"BLOCKED = {blocked!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in BLOCKED: raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import upvault_client, upvault_client.cli\n"
        "from upvault_client import Client\n"
        "Client('https://api.example', token='t', resume=False).close()\n"
        "print('ok', sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "clients" / "python")}
    # When the client and its CLI are imported there
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    # Then they work and nothing blocked was needed
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok []"


def test_the_lambda_layer_does_not_carry_the_client_dependencies() -> None:
    # Given the layer's requirements and the client's
    def names(path: Path) -> set[str]:
        lines = [line.split("==")[0].split("[")[0].strip().lower() for line in path.read_text().splitlines()]
        return {line for line in lines if line and not line.startswith(("#", "-r"))}

    client = names(ROOT / "clients" / "python" / "requirements.txt")
    # Then none of the client's is in the layer, and the dev environment installs them
    assert client and not client & names(ROOT / "requirements.txt")
    assert "-r clients/python/requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


class _SigningApi:
    """Stands in for the API's parts endpoint: records each batch, answers with 15-minute URLs."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.crcs: dict[int, str] = {}
        self.lock = threading.Lock()

    def sign_parts(self, upload_id: str, parts: list[tuple[int, str]]) -> list[PartRequest]:
        time.sleep(0.02)  # an API round trip
        with self.lock:
            self.batches.append([number for number, _ in parts])
            self.crcs.update(parts)
        return [
            PartRequest(part_number=n, size=1, method="PUT", url=f"http://s/{n}?X-Amz-Expires=900", headers={})
            for n, _ in parts
        ]


def test_part_urls_are_signed_once_each_in_batches_of_hashed_parts_ahead_of_the_workers() -> None:
    # Given 40 one-byte parts hashed by the hashing thread, batches of 16, and a refill when
    # fewer than 4 signed URLs are left
    api = _SigningApi()
    numbers = list(range(1, 41))
    data = os.urandom(40)
    hasher = PartHasher(open_source(data), MultipartPlan(part_size=1, part_count=40), 40, numbers)
    for number in numbers:
        hasher.crc(number)  # all hashed: batches are full
    signer = PartSigner(api, "upload", hasher, numbers, window=16, ahead=4)  # type: ignore[arg-type]
    handed: list[int] = []
    # When four workers take the parts in order
    pending = iter(numbers)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                number = next(pending, None)
            if number is None:
                return
            handed.append(signer.url_for(number).part_number)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    # Then every part got its own URL, each part was signed exactly once, in three batches, each
    # part with its own CRC64NVME
    assert sorted(handed) == numbers
    assert sorted(n for batch in api.batches for n in batch) == numbers
    assert len(api.batches) == 3 and api.batches[0] == list(range(1, 17))
    assert api.crcs == {n: crc64nvme_b64(crc64nvme(data[n - 1 : n])) for n in numbers}


def test_the_hashing_thread_gives_each_parts_crc_and_stops_waiters_when_stopped() -> None:
    # Given a 11 MiB file cut in 5 MiB parts, hashed by the thread
    data = os.urandom(11 * MIB)
    hasher = PartHasher(open_source(data), MultipartPlan(part_size=5 * MIB, part_count=3), len(data), [1, 3])
    # Then the parts asked for get their CRCs, and a part it will never hash fails once it stops
    assert hasher.crc(3) == crc64nvme(data[10 * MIB :])
    assert hasher.crc(1) == crc64nvme(data[: 5 * MIB])
    hasher.stop()
    with pytest.raises(Cancelled):
        hasher.crc(2)


def test_a_path_is_read_by_position_from_many_threads_at_once(tmp_path: Path) -> None:
    # Given a file on disk, opened as an upload source
    data = os.urandom(4 * MIB + 3)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    source = open_source(path)
    step = MIB // 2 + 7
    ranges = [(offset, min(step, len(data) - offset)) for offset in range(0, len(data), step)] * 4

    # When eight threads read interleaved ranges at the same time, as chunks and into buffers
    def read(offset: int, length: int) -> tuple[bytes, bytes]:
        buffer = bytearray(length)
        assert source.read_into(offset, memoryview(buffer)) == length
        return b"".join(source.chunks(offset, length, 64 * 1024)), bytes(buffer)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda pair: read(*pair), ranges))
    # and a transport keeps every chunk of a body before sending any (as a test transport does)
    kept = list(source.chunks(0, len(data), MIB))
    source.close()
    # Then every range holds exactly its bytes (no file position shared between readers)
    for (offset, length), (as_chunks, as_buffer) in zip(ranges, got, strict=True):
        assert as_chunks == as_buffer == data[offset : offset + length]
    # and kept chunks are still the file's bytes (fresh objects, not views of a reused buffer)
    assert b"".join(kept) == data
