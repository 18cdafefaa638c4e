"""The user flows over HTTP, one suite run on both local backends.

``live`` is the in-process stack on moto (ThreadedMotoServer + SQS poller) and the live stack on
MinIO (webhook → event bridge). The same API app, the same processor handler, the same test:
nothing in the handlers or the core knows which one it runs on. Presigned requests are plain
httpx calls, the way a browser makes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from local.devstack import LocalStack
from tests.integration.live import Client, put_presigned, settled_areas, unique_user
from tests.support import SAMPLES, crc64nvme_b64, md5_b64, sha256_b64

MIB = 1024 * 1024


@pytest.fixture
def client(live: LocalStack) -> Iterator[Client]:
    """A fresh user on the stack under test."""
    client = Client(live, unique_user())
    yield client
    client.http.close()


def test_single_put_flow_to_download_delete_and_restore(client: Client) -> None:
    # Given a real PDF declared with its checksums
    data = SAMPLES["application/pdf"]
    response = client.declare(
        data,
        "application/pdf",
        filename="Kontoauszug Oktober.pdf",
        checksums={"md5": md5_b64(data), "sha256": sha256_b64(data)},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    file_id = created["file_id"]
    # When the browser PUTs the bytes to the presigned URL
    assert put_presigned(created["upload"], data).status_code == 200
    # Then the storage event runs the processor and the file becomes ready, listed with its name
    record = client.wait_final(file_id)
    assert record["status"] == "ready"
    assert record["name"] == "Kontoauszug Oktober.pdf"
    assert record["size"] == len(data)
    assert client.listed()[file_id]["status"] == "ready"
    # And the download URL returns exactly the uploaded bytes, as an attachment with its name
    download = client.http.get(f"/files/{file_id}/download")
    assert download.status_code == 200
    got = httpx.get(download.json()["url"], timeout=30)
    assert got.status_code == 200
    assert got.content == data
    assert "attachment" in got.headers["content-disposition"]
    # When the user deletes it
    assert client.http.delete(f"/files/{file_id}").status_code == 204
    # Then it is gone from the list and from lookups
    assert file_id not in client.listed()
    assert client.file(file_id).status_code == 404
    # When the user restores the previous version
    restored = client.http.post(f"/files/{file_id}/restore")
    # Then it is back, ready, with the same bytes
    assert restored.status_code == 200, restored.text
    assert restored.json()["status"] == "ready"
    again = httpx.get(client.http.get(f"/files/{file_id}/download").json()["url"], timeout=30)
    assert again.content == data


def test_multipart_upload_resumes_after_a_dropped_part(client: Client) -> None:
    # Given an 11 MiB recording above the (test) multipart threshold of 5 MiB: three parts
    data = SAMPLES["audio/wav"] + bytes(range(256)) * (11 * MIB // 256)
    response = client.declare(data, "audio/wav", category="audio", filename="call.wav")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["upload"] is None
    plan = created["multipart"]
    assert plan["part_count"] == 3
    file_id = created["file_id"]
    size = plan["part_size"]
    urls = client.sign_parts(file_id, data, size, [1, 2, 3])
    chunks = {n: data[(n - 1) * size : n * size] for n in (1, 2, 3)}
    # When part 1 arrives and the connection drops in the middle of part 2
    first = put_presigned(urls[1], chunks[1])
    assert first.status_code == 200

    def dropped() -> Iterator[bytes]:
        yield chunks[2][:MIB]
        raise ConnectionResetError("network gone")

    with pytest.raises((httpx.HTTPError, ConnectionResetError)):
        put_presigned(urls[2], dropped())
    # Then, after a "page reload", the API lists part 1 as stored and parts 2 and 3 as missing
    resumed = client.http.get(f"/uploads/{file_id}/parts")
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert [p["part_number"] for p in body["parts"]] == [1]
    assert body["missing_parts"] == [2, 3]
    etags = {1: body["parts"][0]["etag"]}
    for number, part in client.sign_parts(file_id, data, size, [2, 3]).items():
        put = put_presigned(part, chunks[number])
        assert put.status_code == 200, put.text
        etags[number] = put.headers["etag"]
    # When the client completes with the ETags storage answered
    done = client.http.post(
        f"/uploads/{file_id}/complete", json={"parts": [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]}
    )
    assert done.status_code == 200, done.text
    # Then the assembled object is validated, ready, and downloads byte for byte
    final = client.wait_final(file_id)
    assert final["status"] == "ready"
    url = client.http.get(f"/files/{file_id}/download").json()["url"]
    got = httpx.get(url, timeout=60)
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # and it reports the whole file's CRC64NVME, which storage verified on completion
    assert final["crc64nvme"] == crc64nvme_b64(data)
    assert final["sha256"] is None


def test_body_that_lies_about_its_type_ends_in_quarantine(client: Client, live: LocalStack) -> None:
    # Given a declared PNG whose bytes are a PDF of exactly the declared length: the signed
    # length and type match, so storage accepts it on both backends
    data = SAMPLES["application/pdf"]
    file_id = client.upload(data, "image/png", category="images", filename="selfie.png")
    # Then the processor rejects it: quarantined with a reason, never ready, never downloadable
    record = client.wait_final(file_id)
    assert record["status"] == "rejected"
    assert record["reason"]
    assert file_id not in client.listed(status="ready")
    assert client.http.get(f"/files/{file_id}/download").status_code == 409
    assert settled_areas(live, file_id) == ["quarantine"]


def test_users_never_see_each_others_files(live: LocalStack) -> None:
    # Given a file of alice's, ready
    alice, mallory = Client(live, unique_user("alice")), Client(live, unique_user("mallory"))
    file_id = alice.upload(SAMPLES["image/png"], "image/png", category="images")
    assert alice.wait_final(file_id)["status"] == "ready"
    # Then mallory cannot list, read, download, delete or restore it: 404, and nothing changes
    assert file_id not in mallory.listed()
    assert mallory.file(file_id).status_code == 404
    assert mallory.http.get(f"/files/{file_id}/download").status_code == 404
    assert mallory.http.delete(f"/files/{file_id}").status_code == 404
    assert alice.file(file_id).json()["status"] == "ready"
