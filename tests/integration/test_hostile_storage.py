"""A hostile user against storage on the MinIO stack: presigned URLs used as an attacker would.

Plain httpx against MinIO, the real webhook → event bridge → processor path, the real API. MinIO
accepts unsigned ``x-amz-*`` headers on presigned requests (S3 does not; see docs/minio.md), so
these are the attacks a self-hosted deployment must survive. The stack signs each URL with its
user's scoped credentials (``UPVAULT_SIGNING_ROLE_ARN``), so storage refuses a copy of another
user's object; the processor's own refusal is shown without them in test_hostile_processor.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.devstack import LocalStack
from tests.integration.live import (
    Client,
    areas_of,
    error_code,
    put_presigned,
    settled_areas,
    storage_keys,
    unique_user,
)
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


def test_copy_source_on_a_put_url_is_refused_by_storage(alice: Client, bob: Client, minio_stack: LocalStack) -> None:
    # Given Bob's ready document
    source = ready_key(minio_stack, bob, bob.upload(BOB_SECRET, "application/pdf", filename="salary.pdf"))
    # When Alice PUTs her own URL with its headers plus an unsigned copy of Bob's object
    created = alice.declare(PDF, "application/pdf", filename="mine.pdf").json()
    response = put_presigned(
        created["upload"],
        PDF,
        **{"x-amz-copy-source": f"/{bucket_of(minio_stack)}/{source}", "x-amz-metadata-directive": "REPLACE"},
    )
    # Then storage itself refuses it: her URL's credentials cannot read Bob's keys (MinIO would
    # otherwise execute the copy: the processor's refusal to promote it is the second line)
    assert response.status_code == 403, response.text
    assert error_code(response) == "AccessDenied"
    assert "X-Amz-Security-Token=" in created["upload"]["url"]  # signed by a (scoped) session
    # and nothing was written: no object of her file anywhere (a single PUT stages nothing before)
    assert areas_of(minio_stack, created["file_id"]) == []
    assert alice.file(created["file_id"]).status_code == 404
    # and her URL still does what it was made for: her own bytes, ready, downloadable
    assert put_presigned(created["upload"], PDF).status_code == 200
    assert alice.wait_final(created["file_id"])["status"] == "ready"
    download = alice.http.get(f"/files/{created['file_id']}/download")
    assert download.status_code == 200, download.text
    assert httpx.get(download.json()["url"]).content == PDF


def test_copy_source_on_a_part_url_is_refused_by_storage(alice: Client, bob: Client, minio_stack: LocalStack) -> None:
    # Given Bob's ready document, and Alice's multipart upload whose last part is as long as it
    source = ready_key(minio_stack, bob, bob.upload(BOB_SECRET, "application/pdf", filename="salary.pdf"))
    mine = SAMPLES["audio/mpeg"] + b"\x01" * (5 * MIB - len(SAMPLES["audio/mpeg"])) + b"\x02" * len(BOB_SECRET)
    created = alice.declare(mine, "audio/mpeg", category="audio", filename="call.mp3").json()
    size = created["multipart"]["part_size"]
    urls = alice.sign_parts(created["file_id"], mine, size, [1, 2])
    etags = {1: put_presigned(urls[1], mine[:size]).headers["etag"]}
    # When Alice's part 2 URL is used with an unsigned copy of Bob's bytes (a ranged part copy)
    copied = put_presigned(
        urls[2],
        mine[size:],
        **{
            "x-amz-copy-source": f"/{bucket_of(minio_stack)}/{source}",
            "x-amz-copy-source-range": f"bytes=0-{len(BOB_SECRET) - 1}",
        },
    )
    # Then storage refuses it (403 AccessDenied) and stores no part 2
    assert copied.status_code == 403, copied.text
    assert error_code(copied) == "AccessDenied"
    parts = alice.http.post(f"/uploads/{created['file_id']}/parts", json={"parts": []})
    assert [part["part_number"] for part in parts.json().get("uploaded", [])] in ([1], []), parts.text
    # and her own part 2 through the same URL completes her upload into her file
    etags[2] = put_presigned(urls[2], mine[size:]).headers["etag"]
    done = alice.complete(created["file_id"], etags)
    assert done.status_code == 200, done.text
    assert alice.wait_final(created["file_id"])["status"] == "ready"


def bucket_of(stack: LocalStack) -> str:
    """The stack's bucket name."""
    assert stack.settings is not None
    return stack.settings.bucket


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
