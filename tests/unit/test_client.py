"""The Python client against the real API Lambda handler and moto, in process.

What travels is asserted on the wire (the transports record it): the checksums the client
declares and signs, the parts it sends, the API calls an upload costs. That storage verifies
them is shown on MinIO by the integration tier (moto accepts any presigned request).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import httpx
import pytest
from awscrt.checksums import crc64nvme

from functions.api.app import create_app
from functions.api.handler import make_handler as make_api_handler
from tests.support import SAMPLES, pdf, sha256_b64
from tests.unit.client_fakes import BAD_TOKEN, LambdaApi, MotoStorage, Sent, s3_error
from tests.unit.conftest import all_keys
from upvault.settings import MIB, Settings
from upvault.storage import S3Clients
from upvault_client import (
    ApiUnreachable,
    AsyncClient,
    AuthenticationFailed,
    Cancelled,
    Client,
    FileRejected,
    IntegrityError,
    NotFound,
    Progress,
    StorageError,
    TypeNotAllowed,
)
from upvault_client.journal import Journal

PART = 5 * MIB


def crc_b64(data: bytes) -> str:
    """Base64 of the big-endian CRC64NVME, computed here independently of the client."""
    return base64.b64encode(crc64nvme(data).to_bytes(8, "big")).decode()


def big_pdf(size: int) -> bytes:
    """A PDF-looking file of ``size`` bytes (validation sniffs the head and checks the size)."""
    head = pdf()
    return head + os.urandom(size - len(head))


@pytest.fixture
def api_transport(settings: Settings, clients: S3Clients, s3: Any, process: Any) -> LambdaApi:
    """The API Lambda handler; completing an upload delivers its S3 event to the processor."""

    def completed(file_id: str) -> None:
        process(next(key for key in all_keys(s3) if key.startswith("staging/") and f"/{file_id}/" in key))

    return LambdaApi(make_api_handler(create_app(settings, clients)), on_complete=completed)


@pytest.fixture
def storage(process: Any) -> MotoStorage:
    """moto behind presigned URLs; a stored single PUT reaches the processor."""
    return MotoStorage(process)


def make_client(api: httpx.BaseTransport, storage: MotoStorage, journal: Path, **options: Any) -> Client:
    """A client of user alice on the fakes (the API's threshold is 5 MiB in the unit tier)."""
    defaults: dict[str, Any] = {"parallel": 3, "multipart_threshold": PART, "max_attempts": 3}
    return Client(
        "https://api.example/v1",
        token="alice",
        journal_dir=journal,
        transport=api,
        storage_transport=storage,
        **{**defaults, **options},
    )


@pytest.fixture
def client(api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path) -> Iterator[Client]:
    """A client of user alice."""
    with make_client(api_transport, storage, tmp_path / "journal") as made:
        yield made


def declarations(api: LambdaApi) -> list[dict[str, Any]]:
    """Bodies of POST /v1/uploads, in order."""
    return [sent.json() for sent in api.calls("POST", "/v1/uploads")]


# -- single PUT -------------------------------------------------------------------------------------


def test_single_upload_declares_sha256_and_sends_the_signed_headers(
    client: Client, api_transport: LambdaApi, storage: MotoStorage
) -> None:
    # Given a small PDF in memory
    data = SAMPLES["application/pdf"]
    # When it is uploaded without a content type or category
    info = client.upload(data, filename="Kontoauszug.pdf", metadata={"user": "42"})
    # Then it is ready, declared as a PDF document with its SHA-256 (and no multipart checksum)
    assert info.status == "ready" and info.name == "Kontoauszug.pdf" and info.size == len(data)
    (declared,) = declarations(api_transport)
    assert declared["content_type"] == "application/pdf" and declared["category"] == "documents"
    assert declared["checksums"] == {"sha256": sha256_b64(data)}
    assert declared["metadata"] == {"user": "42"}
    # and the bytes went to storage in one PUT carrying the signed checksum, without the token
    (put,) = [sent for sent in storage.sent if sent.method == "PUT"]
    assert put.body == data
    assert put.headers["x-amz-checksum-sha256"] == sha256_b64(data)
    assert "authorization" not in put.headers


def test_upload_from_a_path_and_a_file_object(client: Client, tmp_path: Path) -> None:
    # Given a PNG on disk
    path = tmp_path / "cat.png"
    path.write_bytes(SAMPLES["image/png"])
    # When it is uploaded by path and as an open file
    by_path = client.upload(path)
    with path.open("rb") as handle:
        by_handle = client.upload(handle, wait=False)
    # Then both are images named after the file (events reach the processor synchronously here:
    # "pending" after --no-wait is shown by the integration tier)
    assert (by_path.category, by_path.content_type, by_path.name) == ("images", "image/png", "cat.png")
    assert by_handle.name == "cat.png" and by_handle.file_id != by_path.file_id
    assert client.wait_until_processed(by_handle.file_id).status == "ready"


# -- multipart --------------------------------------------------------------------------------------


def test_multipart_signs_each_part_crc_and_completes_with_the_full_object_crc64nvme(
    client: Client, api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given an 11 MiB file (three 5 MiB-plan parts: 5, 5 and 1 MiB)
    data = big_pdf(11 * MIB)
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    # When it is uploaded
    info = client.upload(path)
    # Then the declaration carries no checksum (nothing was hashed before the first byte went out)
    (declared,) = declarations(api_transport)
    assert declared["checksums"] == {}
    # and part URLs were requested with each part's own CRC64NVME, at most one call per part
    signing = api_transport.calls("POST", "/parts")
    parts = [data[:PART], data[PART : 2 * PART], data[2 * PART :]]
    assert 1 <= len(signing) <= 3
    assert sorted((p["part_number"], p["crc64nvme"]) for call in signing for p in call.json()["parts"]) == [
        (n, crc_b64(part)) for n, part in enumerate(parts, start=1)
    ]
    # and completion gave the whole file's CRC64NVME, combined from the parts'
    (completion,) = api_transport.calls("POST", "/complete")
    assert completion.json()["crc64nvme"] == crc_b64(data)
    # and each part went to storage once, in parallel, with exactly its bytes
    assert sorted(storage.parts()) == [1, 2, 3]
    assert storage.max_in_flight >= 2
    assert {s.part_number: s.body for s in storage.sent if s.part_number} == dict(enumerate(parts, start=1))
    # and the upload cost a constant number of API calls, and storage holds the same bytes
    assert info.status == "ready" and info.size == len(data)
    assert client.api_calls["POST /v1/uploads"] == 1
    assert client.api_calls["POST /v1/uploads/{id}/complete"] == 1
    assert client.read(info.file_id) == data


def test_part_puts_carry_their_signed_crc64nvme(client: Client, storage: MotoStorage, tmp_path: Path) -> None:
    # Given an 11 MiB file uploaded in three parts
    data = big_pdf(11 * MIB)
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    info = client.upload(path)
    # Then every part PUT carried its CRC64NVME as the signed header, and the file reports the
    # whole-object value storage verified
    parts = {s.part_number: s for s in storage.sent if s.part_number}
    for number, sent in parts.items():
        part = data[(number - 1) * PART : number * PART]
        assert sent.headers.get("x-amz-checksum-crc64nvme") == crc_b64(part)
    assert info.crc64nvme == crc_b64(data)


def test_a_failed_part_is_retried_alone_and_progress_is_exact(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given storage that answers part 2 with a 503 once
    failures = {2: 1}

    def flaky(sent: Sent) -> httpx.Response | None:
        if sent.part_number in failures and failures[sent.part_number] > 0:
            failures[sent.part_number] -= 1
            return s3_error(503, "SlowDown", "Please reduce your request rate.")
        return None

    storage.fail = flaky
    data = big_pdf(11 * MIB)
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    seen: list[Progress] = []
    # When the file is uploaded
    with make_client(api_transport, storage, tmp_path / "journal") as client:
        info = client.upload(path, on_progress=seen.append)
    # Then part 2 was sent twice and the others once, and the file is complete
    assert sorted(storage.parts(200)) == [1, 2, 3] and storage.parts(503) == [2]
    assert info.status == "ready"
    # and upload progress never ran past the size, ending exactly at it
    uploads = [p for p in seen if p.phase == "upload"]
    assert max(p.done for p in uploads) == len(data) == uploads[-1].done
    assert [p.phase for p in seen][-1] == "processing"


def test_an_expired_part_url_is_signed_again(api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path) -> None:
    # Given storage that finds part 1's first URL expired
    expired = [True]

    def once_expired(sent: Sent) -> httpx.Response | None:
        if sent.part_number == 1 and expired[0]:
            expired[0] = False
            return s3_error(403, "AccessDenied", "Request has expired")
        return None

    storage.fail = once_expired
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    # When the file is uploaded
    with make_client(api_transport, storage, tmp_path / "journal") as client:
        info = client.upload(path)
    # Then part 1 got a fresh URL (one more signing call) and the upload completed
    signed = sorted(p["part_number"] for s in api_transport.calls("POST", "/parts") for p in s.json()["parts"])
    assert signed == [1, 1, 2, 3]
    assert info.status == "ready"


def test_an_interrupted_upload_resumes_with_the_missing_parts_only(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given storage refusing part 3 for good (a lost network, a dead process: the same to storage)
    storage.fail = lambda sent: s3_error(403, "AccessDenied", "Access Denied") if sent.part_number == 3 else None
    data = big_pdf(11 * MIB)
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    journal = tmp_path / "journal"
    with make_client(api_transport, storage, journal, parallel=1) as client, pytest.raises(StorageError) as failed:
        client.upload(path)
    # Then the failure names storage's answer and the journal remembers the upload
    assert failed.value.status == 403 and failed.value.code == "AccessDenied"
    assert "X-Amz-Signature" not in str(failed.value)
    (entry,) = Journal(journal).entries()
    # When storage works again and the same file is uploaded by a new client
    storage.fail = None
    storage.sent.clear()
    seen: list[Progress] = []
    with make_client(api_transport, storage, journal) as client:
        info = client.upload(path, on_progress=seen.append)
    # Then only part 3 was sent, no second declaration was made, and the file is whole
    assert storage.parts() == [3]
    assert len(declarations(api_transport)) == 1 and info.file_id == entry.file_id
    assert next(p for p in seen if p.phase == "upload").resumed == 2 * PART
    assert Journal(journal).entries() == []
    with make_client(api_transport, storage, journal) as client:
        assert client.read(info.file_id) == data


def test_a_changed_file_starts_a_new_upload(api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path) -> None:
    # Given an upload interrupted after its declaration
    storage.fail = lambda sent: s3_error(403, "AccessDenied", "Access Denied") if sent.part_number else None
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    with make_client(api_transport, storage, tmp_path / "journal") as client, pytest.raises(StorageError):
        client.upload(path)
    # When the file changes (other bytes, new mtime) and is uploaded again
    storage.fail = None
    path.write_bytes(big_pdf(11 * MIB))
    os.utime(path, ns=(1, 1))
    with make_client(api_transport, storage, tmp_path / "journal") as client:
        info = client.upload(path)
    # Then a new upload was declared for it, and every part was sent
    assert len(declarations(api_transport)) == 2 and info.status == "ready"
    assert sorted(storage.parts()) == [1, 2, 3]


def test_workers_that_start_together_share_one_signing_call(
    client: Client, api_transport: LambdaApi, tmp_path: Path
) -> None:
    # Given a file of three parts and a client with three workers
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    # When it is uploaded
    client.upload(path)
    # Then the first signing call covered every worker's first part (no round trip per worker)
    (signing,) = api_transport.calls("POST", "/parts")
    assert [p["part_number"] for p in signing.json()["parts"]] == [1, 2, 3]


def test_a_failed_upload_ends_only_after_its_other_parts_stopped(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given storage that refuses part 1 at once and answers part 2 only after a while
    def fail(sent: Sent) -> httpx.Response | None:
        if sent.part_number == 1:
            return s3_error(403, "AccessDenied", "Access Denied")
        if sent.part_number == 2:
            time.sleep(0.5)
        return None

    storage.fail = fail
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    # When the upload fails on part 1
    with make_client(api_transport, storage, tmp_path / "journal") as client, pytest.raises(StorageError):
        client.upload(path)
    # Then no request of it was still running when upload() gave up (none lands later, unseen)
    assert storage.in_flight == 0


def test_cancel_stops_an_upload_and_leaves_it_resumable(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given storage that holds part 2 until the test lets it go
    release = threading.Event()
    reached = threading.Event()

    def hold(sent: Sent) -> httpx.Response | None:
        if sent.part_number == 2:
            reached.set()
            release.wait(10)
        return None

    storage.fail = hold
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    client = make_client(api_transport, storage, tmp_path / "journal", parallel=1)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(outcome, lambda: client.upload(path)))
    worker.start()
    # When the client is cancelled while part 2 is in flight (what Ctrl-C does in the CLI)
    assert reached.wait(10)
    client.cancel()
    release.set()
    worker.join(10)
    # Then the upload stopped with Cancelled, and its journal entry is kept for a resume
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled), outcome
    assert len(Journal(tmp_path / "journal").entries()) == 1
    client.close()


def _capture(into: list[BaseException], call: Any) -> None:
    try:
        call()
    except BaseException as exc:
        into.append(exc)


# -- the API's plan decides the checksum -------------------------------------------------------------


def test_a_wrong_guess_of_the_api_threshold_is_corrected_and_learned(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given a client that assumes the service default threshold (100 MiB) of an API set to 5 MiB
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(big_pdf(11 * MIB))
    second.write_bytes(big_pdf(PART + 1))
    with make_client(api_transport, storage, tmp_path / "journal", multipart_threshold=100 * MIB) as client:
        # When it uploads two files above the API's threshold
        first_info = client.upload(first)
        client.upload(second)
    # Then the API refused the first declaration (a SHA-256 cannot be verified on a multipart
    # upload: 422 naming its threshold), the client declared it again as multipart (no
    # checksum up front), and the second file right away: the threshold was learned
    kinds = [sorted(body["checksums"]) for body in declarations(api_transport)]
    assert kinds == [["sha256"], [], []]
    assert [sent.status for sent in api_transport.calls("POST", "/v1/uploads")] == [422, 201, 201]
    assert first_info.status == "ready"


def test_a_lost_answer_to_a_write_once_put_is_not_a_failure(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given single PUT URLs that upload once (the API signs If-None-Match: *)
    # and storage that stores the first attempt but loses its answer, then refuses the retry (412)
    attempts: list[int] = []

    def lost_answer(sent: Sent) -> httpx.Response | None:
        if sent.method == "PUT" and not sent.part_number:
            attempts.append(1)
            if len(attempts) == 2:
                return s3_error(
                    412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
                )
        return None

    storage.fail = lost_answer
    storage.lose_answer = lambda sent: sent.method == "PUT" and not sent.part_number and len(attempts) == 1
    # When a file is uploaded
    with make_client(api_transport, storage, tmp_path / "journal") as client:
        info = client.upload(SAMPLES["application/pdf"], filename="a.pdf")
    # Then the 412 of the retry counts as the stored upload it is
    assert len(attempts) == 2 and info.status == "ready"
    assert storage.sent[0].headers.get("if-none-match") == "*"


def test_a_stored_part_with_other_bytes_is_sent_again_on_resume(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given an upload interrupted after parts 1 and 2 were stored
    storage.fail = lambda sent: s3_error(403, "AccessDenied", "Access Denied") if sent.part_number == 3 else None
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    with make_client(api_transport, storage, tmp_path / "journal", parallel=1) as client, pytest.raises(StorageError):
        client.upload(path)

    # and an API that reports each stored part's CRC64NVME, part 1's not the file's
    def other_bytes(sent: Sent, body: Any) -> Any:
        if sent.method == "GET" and sent.path.endswith("/parts"):
            for part in body["parts"]:
                part["crc64nvme"] = (
                    "AAAAAAAAAAA="
                    if part["part_number"] == 1
                    else crc_b64(path.read_bytes()[(part["part_number"] - 1) * PART : part["part_number"] * PART])
                )
        return body

    api_transport.rewrite = other_bytes
    storage.fail = None
    storage.sent.clear()
    # When the file is uploaded again
    with make_client(api_transport, storage, tmp_path / "journal") as client:
        info = client.upload(path)
    # Then part 1 is sent again with part 3, part 2 is not
    assert sorted(storage.parts()) == [1, 3] and info.status == "ready"


# -- validation and errors ---------------------------------------------------------------------------


def test_a_disguised_file_is_rejected_with_the_reason(client: Client) -> None:
    # Given text bytes named like a PDF (declared as a PDF: the name says so, the bytes say nothing)
    # When it is uploaded
    with pytest.raises(FileRejected) as rejected:
        client.upload(b"<html><script>alert(1)</script></html>", filename="invoice.pdf")
    # Then validation refused it, and the error carries the reason and the record
    assert rejected.value.file.status == "rejected"
    assert "application/pdf" in rejected.value.reason


def test_api_errors_are_typed_and_carry_the_problem(
    client: Client, api_transport: LambdaApi, storage: MotoStorage
) -> None:
    # When a type the category does not allow is uploaded
    with pytest.raises(TypeNotAllowed) as refused:
        client.upload(SAMPLES["audio/mpeg"], filename="song.mp3", category="images")
    # Then the problem says what is allowed
    assert refused.value.status == 415
    assert "image/png" in refused.value.problem.extras["allowed_types"]
    # When an unknown id is read, checked, or a bad token is used
    with pytest.raises(NotFound) as missing:
        client.get("01M88A9NNXFE5G0HW0G2XWHCYD")
    assert missing.value.problem.status == 404 and missing.value.problem.detail
    assert client.exists("01M88A9NNXFE5G0HW0G2XWHCYD") is False
    bad = Client(
        "https://api.example", token=BAD_TOKEN, transport=api_transport, storage_transport=storage, resume=False
    )
    with pytest.raises(AuthenticationFailed) as unauthorized:
        list(bad.list())
    # Then each is its own type with the API's problem
    assert unauthorized.value.status == 401
    bad.close()


def test_an_unreachable_api_is_a_clear_error() -> None:
    # Given an API whose connections are refused
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = Client("http://127.0.0.1:9", token="t", transport=httpx.MockTransport(refuse), resume=False)
    # When it is called
    with pytest.raises(ApiUnreachable) as unreachable:
        client.get("01M88A9NNXFE5G0HW0G2XWHCYD")
    # Then the error names the API and the reason, and health says False
    assert "http://127.0.0.1:9" in str(unreachable.value) and "connection refused" in str(unreachable.value)
    assert client.health() is False
    client.close()


def test_a_token_provider_is_asked_again_after_a_401(api_transport: LambdaApi, storage: MotoStorage) -> None:
    # Given a provider whose first token has expired
    tokens = iter([BAD_TOKEN, "alice", "alice"])
    client = Client("https://api.example", token_provider=lambda: next(tokens), transport=api_transport, resume=False)
    # When the client lists files
    # Then the 401 was retried once with a fresh token
    assert list(client.list()) == []
    assert [s.status for s in api_transport.sent] == [401, 200]
    client.close()


def test_a_token_in_a_context_variable_reaches_the_transfer_workers(
    api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given a backend that keeps the current user's token in a context variable
    current: ContextVar[str] = ContextVar("current")
    client = Client(
        "https://api.example",
        token_provider=current.get,
        transport=api_transport,
        storage_transport=storage,
        journal_dir=tmp_path / "journal",
        multipart_threshold=PART,
    )
    path = tmp_path / "statement.pdf"
    path.write_bytes(big_pdf(11 * MIB))
    # When it uploads a multipart file for that user (parts are signed from worker threads)
    current.set("alice")
    info = client.upload(path)
    # Then every API call carried the user's token
    assert info.status == "ready" and api_transport.calls("POST", "/parts")
    assert {sent.headers["authorization"] for sent in api_transport.sent} == {"Bearer alice"}
    client.close()


# -- files ---------------------------------------------------------------------------------------------


def test_list_walks_every_page(client: Client, api_transport: LambdaApi) -> None:
    # Given three ready files
    ids = {client.upload(SAMPLES["text/plain"], filename=f"note-{n}.txt").file_id for n in range(3)}
    # When they are listed one per page
    listed = list(client.list(page_size=1, status="ready"))
    # Then every file comes back once, each page a call
    assert {item.file_id for item in listed} == ids
    assert len(api_transport.calls("GET", "/v1/files")) >= 3


def test_download_is_verified_against_the_stored_checksum(
    client: Client, api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path
) -> None:
    # Given a ready file whose SHA-256 storage verified (moto reports none: the API's answer says it)
    data = SAMPLES["application/pdf"]
    info = client.upload(data, filename="statement.pdf")
    api_transport.rewrite = lambda sent, body: {**body, "sha256": sha256_b64(data)} if "sha256" in body else body
    # When it is downloaded into a directory
    client.download(info.file_id, tmp_path)
    # Then it is saved under its name with the same bytes
    assert (tmp_path / "statement.pdf").read_bytes() == data
    # When storage returns other bytes of the same length
    storage.tamper = lambda body: body[:-1] + b"X"
    target = tmp_path / "tampered.pdf"
    # Then the download fails and nothing is written at the target
    with pytest.raises(IntegrityError, match="SHA-256"):
        client.download(info.file_id, target)
    assert not target.exists() and list(tmp_path.glob(".*partial")) == []


def test_delete_restore_and_download_url(client: Client) -> None:
    # Given a ready file
    info = client.upload(SAMPLES["image/png"], filename="cat.png")
    # When it is deleted, then restored
    client.delete(info.file_id)
    assert client.exists(info.file_id) is False
    restored = client.restore(info.file_id)
    # Then it is back, and a download URL can be had for it
    assert restored.status == "ready" and client.exists(info.file_id)
    link = client.download_url(info.file_id)
    assert link.url.startswith("https://") and link.method == "GET"
    assert client.health() is True


def test_async_client_uploads_and_lists(api_transport: LambdaApi, storage: MotoStorage, tmp_path: Path) -> None:
    # Given the async client on the same fakes
    async def scenario() -> tuple[str, list[str]]:
        async with AsyncClient(
            "https://api.example", token="alice", transport=api_transport, storage_transport=storage, resume=False
        ) as client:
            info = await client.upload(SAMPLES["text/csv"], filename="rates.csv")
            return info.status, [item.file_id async for item in client.list()]

    # When it uploads and lists
    status, listed = asyncio.run(scenario())
    # Then the file is ready and listed
    assert status == "ready" and len(listed) == 1


def test_the_bearer_token_never_reaches_storage(client: Client, storage: MotoStorage) -> None:
    # When files are uploaded and downloaded
    info = client.upload(SAMPLES["application/pdf"], filename="a.pdf")
    client.read(info.file_id)
    # Then no storage request carried the token
    assert storage.sent and all("authorization" not in sent.headers for sent in storage.sent)
    assert json.dumps([sent.headers for sent in storage.sent]).count("alice") == 0
