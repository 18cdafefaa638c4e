"""Storage outages: health says so with a problem body, and uploads survive them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from functions.api.health import HEALTH_CACHE_SECONDS
from tests.integration.live import Client, put_presigned, start_stack, unique_user
from tests.support import SAMPLES

MIB = 1024 * 1024


def health_once_cache_expired(client: Client, status: int) -> httpx.Response:
    """Poll /health until it answers ``status``: one storage check answers for HEALTH_CACHE_SECONDS."""
    deadline = time.monotonic() + HEALTH_CACHE_SECONDS + 5
    while True:
        response = client.http.get("/health")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_health_503_while_minio_is_down_and_upload_resumes_after(tmp_path: Path) -> None:
    # Given the MinIO stack and a multipart upload with its first part stored
    stack = start_stack(tmp_path / "state", "minio")
    try:
        assert stack.minio is not None
        client = Client(stack, unique_user())
        data = SAMPLES["audio/flac"] + b"\x01" * (7 * MIB)
        created = client.declare(data, "audio/flac", category="audio", filename="memo.flac").json()
        file_id, size = created["file_id"], created["multipart"]["part_size"]
        first = client.sign_parts(file_id, data, size, [1])[1]
        assert put_presigned(first, data[:size]).status_code == 200
        assert client.http.get("/health").status_code == 200
        # When MinIO goes away
        stack.minio.stop()
        down = health_once_cache_expired(client, 503)
        # Then health is a 503 problem once the cached check has expired, and the API says so
        # rather than failing with a 500
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert down.json()["status"] == 503
        # When MinIO is back (same port, same data)
        stack.minio.start()
        # Then health is 200 again
        assert health_once_cache_expired(client, 200).status_code == 200
        # And the upload started before the outage resumes from the stored part
        progress = client.http.get(f"/uploads/{file_id}/parts").json()
        assert [p["part_number"] for p in progress["parts"]] == [1]
        etags = {1: progress["parts"][0]["etag"]}
        missing = progress["missing_parts"]
        for n, part in client.sign_parts(file_id, data, size, missing).items():
            put = put_presigned(part, data[(n - 1) * size : n * size])
            assert put.status_code == 200, put.text
            etags[n] = put.headers["etag"]
        done = client.http.post(
            f"/uploads/{file_id}/complete",
            json={"parts": [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]},
        )
        assert done.status_code == 200, done.text
        assert client.wait_final(file_id)["status"] == "ready"
        got = httpx.get(client.http.get(f"/files/{file_id}/download").json()["url"], timeout=60)
        assert got.content == data
    finally:
        stack.stop()
