"""A hostile user against storage on the MinIO stack: presigned URLs used as an attacker would.

Plain httpx against MinIO, the real webhook → event bridge → processor path, the real API. MinIO
accepts unsigned ``x-amz-*`` headers on presigned requests (S3 does not; see docs/minio.md), so
these are the attacks a self-hosted deployment must survive.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.devstack import LocalStack
from tests.integration.live import Client, put_presigned, settled_areas, storage_keys, unique_user
from tests.support import SAMPLES, crc64nvme_b64

MIB = 1024 * 1024
PDF = SAMPLES["application/pdf"]
BOB_SECRET = PDF.replace(b"Catalog", b"Secrets")


@pytest.fixture
def alice(minio_stack: LocalStack) -> Iterator[Client]:
    """The attacker, a user like any other."""
    client = Client(minio_stack, unique_user("alice"))
    yield client
    client.http.close()


@pytest.fixture
def bob(minio_stack: LocalStack) -> Iterator[Client]:
    """The victim."""
    client = Client(minio_stack, unique_user("bob"))
    yield client
    client.http.close()


def ready_key(stack: LocalStack, client: Client, file_id: str) -> str:
    """The key of a ready file (what an attacker would guess or learn)."""
    assert client.wait_final(file_id)["status"] == "ready"
    return next(key for key in storage_keys(stack, "files/") if f"/{file_id}/" in key)


def never_serves(client: Client, file_id: str, forbidden: bytes) -> None:
    """Assert the file is not ready with ``forbidden`` bytes, and no download returns them."""
    final = client.wait_final(file_id)
    assert final["status"] != "ready", final
    download = client.http.get(f"/files/{file_id}/download")
    assert download.status_code == 409, download.text
    assert forbidden not in download.text.encode()


def test_copy_source_on_a_put_url_never_publishes_another_users_bytes(
    alice: Client, bob: Client, minio_stack: LocalStack
) -> None:
    # Given Bob's ready document
    source = ready_key(minio_stack, bob, bob.upload(BOB_SECRET, "application/pdf", filename="salary.pdf"))
    # When Alice PUTs her own URL with its headers plus an unsigned copy of Bob's object
    created = alice.declare(PDF, "application/pdf", filename="mine.pdf").json()
    bucket = minio_stack.settings.bucket if minio_stack.settings else ""
    response = put_presigned(
        created["upload"],
        PDF,
        **{"x-amz-copy-source": f"/{bucket}/{source}", "x-amz-metadata-directive": "REPLACE"},
    )
    # Then MinIO performs the copy (the fact we defend against) ...
    assert response.status_code == 200, response.text
    assert "CopyObjectResult" in response.text
    # ... but the file is rejected, never downloadable, and Alice's areas hold none of Bob's bytes
    never_serves(alice, created["file_id"], BOB_SECRET)
    assert settled_areas(minio_stack, created["file_id"]) == ["quarantine"]
    assert "server-side copy" in alice.file(created["file_id"]).json()["reason"]


def test_copy_source_on_a_part_url_never_publishes_another_users_bytes(
    alice: Client, bob: Client, minio_stack: LocalStack
) -> None:
    # Given Bob's ready document, and Alice's multipart upload whose last part is as long as it
    source = ready_key(minio_stack, bob, bob.upload(BOB_SECRET, "application/pdf", filename="salary.pdf"))
    mine = SAMPLES["audio/mpeg"] + b"\x01" * (5 * MIB - len(SAMPLES["audio/mpeg"])) + b"\x02" * len(BOB_SECRET)
    created = alice.declare(mine, "audio/mpeg", category="audio", filename="call.mp3").json()
    size = created["multipart"]["part_size"]
    urls = alice.sign_parts(created["file_id"], mine, size, [1, 2])
    etags = {1: put_presigned(urls[1], mine[:size]).headers["etag"]}
    # When Alice's part 2 URL is used with an unsigned copy of Bob's bytes (a ranged part copy)
    bucket = minio_stack.settings.bucket if minio_stack.settings else ""
    copied = put_presigned(
        urls[2],
        mine[size:],
        **{"x-amz-copy-source": f"/{bucket}/{source}", "x-amz-copy-source-range": f"bytes=0-{len(BOB_SECRET) - 1}"},
    )
    if copied.status_code == 200 and "<ETag>" in copied.text:
        etags[2] = copied.text.split("<ETag>", 1)[1].split("</ETag>", 1)[0].replace("&#34;", '"')
    else:
        etags[2] = '"refused"'
    # and the upload is completed
    done = alice.complete(created["file_id"], etags)
    # Then storage's full-object CRC64NVME check refuses it (a 4xx problem, never a 500), and
    # Bob's bytes are never served as Alice's file
    assert 400 <= done.status_code < 500, done.text
    assert alice.file(created["file_id"]).json()["status"] == "pending"
    assert alice.http.get(f"/files/{created['file_id']}/download").status_code == 409


def test_replaying_a_put_url_after_delete_does_not_bring_the_file_back(alice: Client, minio_stack: LocalStack) -> None:
    # Given a ready file whose owner deleted it
    created = alice.declare(PDF, "application/pdf", filename="a.pdf").json()
    assert put_presigned(created["upload"], PDF).status_code == 200
    file_id = created["file_id"]
    assert alice.wait_final(file_id)["status"] == "ready"
    assert settled_areas(minio_stack, file_id) == ["files"]
    assert alice.http.delete(f"/files/{file_id}").status_code == 204
    # When the still-valid PUT URL is replayed (storage accepts it: nothing is at the staged key)
    assert put_presigned(created["upload"], PDF).status_code == 200
    # Then the processor records and drops it: the file stays deleted, in no area
    assert settled_areas(minio_stack, file_id) == []
    assert alice.file(file_id).status_code == 404


def test_replaying_a_put_url_over_a_ready_file_changes_nothing(alice: Client, minio_stack: LocalStack) -> None:
    # Given a ready file
    created = alice.declare(PDF, "application/pdf", filename="a.pdf").json()
    assert put_presigned(created["upload"], PDF).status_code == 200
    file_id = created["file_id"]
    before = alice.wait_final(file_id)
    assert before["status"] == "ready"
    assert settled_areas(minio_stack, file_id) == ["files"]
    # When its URL is replayed with other bytes (storage refuses: the SHA-256 is signed) and with
    # the same bytes (storage accepts)
    assert put_presigned(created["upload"], PDF.replace(b"Catalog", b"Forgery")).status_code == 400
    assert put_presigned(created["upload"], PDF).status_code == 200
    # Then the file is still ready, in files/ only, and "restore" still has nothing to restore
    assert settled_areas(minio_stack, file_id) == ["files"]
    assert alice.file(file_id).json() == before
    assert alice.http.post(f"/files/{file_id}/restore").status_code == 409


def test_multipart_crc64nvme_is_verified_end_to_end_by_storage(alice: Client) -> None:
    # Given a multipart upload declared with its true whole-file CRC64NVME
    data = SAMPLES["audio/mpeg"] + bytes(range(256)) * (6 * MIB // 256)
    file_id, etags = alice.upload_multipart(data, "audio/mpeg", category="audio", filename="call.mp3")
    # When it completes, Then it is ready and reports storage's CRC64NVME, equal to AWS's library's
    assert alice.complete(file_id, etags).status_code == 200
    final = alice.wait_final(file_id)
    assert final["status"] == "ready"
    assert final["crc64nvme"] == crc64nvme_b64(data)
    got = httpx.get(alice.http.get(f"/files/{file_id}/download").json()["url"], timeout=60)
    assert got.content == data
