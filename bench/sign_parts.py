"""Server time of signing part URLs (``POST /v1/uploads/{id}/parts``) against a real MinIO.

Run: ``PYTHONPATH=. .venv/bin/python -m bench.sign_parts`` (after ``make tools``). The time is
measured inside the app, behind the local authorizer (on AWS, API Gateway verifies the token),
for an upload this process planned (no storage call), one a cold process signs with the plan's
``key`` (one HEAD), one it must look up, and a batch of 80 parts. Prints Markdown rows
(median, p95) for docs/benchmarks.md.
"""

from __future__ import annotations

import base64
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from local.dev_issuer import DevIssuer
from local.devstack import build_api
from tests.live_minio import make_s3_client, minio_settings, new_minio
from upvault.models import PartToSign

MIB = 1024 * 1024
CRC = base64.b64encode(b"12345678").decode()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]


def main() -> None:
    """Measure and print."""
    with new_minio(Path(tempfile.mkdtemp()), user="bench") as server:
        settings = minio_settings(server, "upvault-bench", multipart_threshold=5 * MIB, part_size=5 * MIB)
        make_s3_client(server).create_bucket(Bucket=settings.bucket)
        issuer = DevIssuer(Path(tempfile.mkdtemp()))
        issuer.ensure_keys()
        api = build_api(settings, issuer.verifier(), [])
        authorizer = api.app
        app = authorizer.app
        timings: list[float] = []

        async def timed(scope: Any, receive: Any, send: Any) -> None:
            started = time.perf_counter()
            await app(scope, receive, send)
            timings.append((time.perf_counter() - started) * 1000)

        authorizer.app = timed
        client = TestClient(api)
        headers = {"Authorization": f"Bearer {issuer.mint('bench', ttl=3600)}"}
        body = {"filename": "a.mp3", "content_type": "audio/mpeg", "size": 400 * MIB, "category": "audio"}
        created = client.post("/v1/uploads", json={**body, "checksums": {"crc64nvme": CRC}}, headers=headers).json()
        file_id, key = created["file_id"], created["key"]
        service = app.state.uploads

        def sign(parts: list[dict[str, Any]], *, with_key: bool = False, cold: bool = False) -> float:
            if cold:
                service.recent.forget(file_id)
            payload = {"parts": parts, **({"key": key} if with_key else {})}
            response = client.post(f"/v1/uploads/{file_id}/parts", json=payload, headers=headers)
            assert response.status_code == 200, response.text
            return timings[-1]

        one = [{"part_number": 1, "crc64nvme": CRC}]
        batch = [{"part_number": n, "crc64nvme": CRC} for n in range(1, 81)]
        cases: list[tuple[str, Callable[[], float]]] = [
            ("1 part, plan fresh in this process (0 storage calls)", lambda: sign(one)),
            ("1 part, cold process, plan's key given (1 HEAD)", lambda: sign(one, with_key=True, cold=True)),
            ("1 part, cold process, no key (lookup: LIST, ListMultipartUploads, HEAD)", lambda: sign(one, cold=True)),
            ("80 parts in one call, plan fresh", lambda: sign(batch)),
        ]
        for name, case in cases:
            for _ in range(5):
                case()
            median, p95 = percentiles([case() for _ in range(60)])
            print(f"| {name} | {median:.1f} ms | {p95:.1f} ms |")
        samples = []
        for _ in range(200):
            started = time.perf_counter()
            service.sign_parts("bench", file_id, [PartToSign(1, None, CRC)])
            samples.append((time.perf_counter() - started) * 1000)
        median, p95 = percentiles(samples)
        print(f"| core `UploadService.sign_parts`, 1 part, fresh (no HTTP) | {median:.2f} ms | {p95:.2f} ms |")


if __name__ == "__main__":
    main()
