"""Helpers of the integration tier for the local stack: start one, and use it as a browser app does."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from local.devstack import LocalStack
from local.ports import free_port
from local.settings import DevSettings
from local.tools import tool_path
from tests.support import checksums_of, crc64nvme_b64
from upvault.settings import EXTENSIONS, MIB
from upvault.storage import make_clients

#: Small parts so multipart flows run with a few MiB; 5 MiB is S3's (and MinIO's) minimum.
SERVICE_SETTINGS = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB}


def stack_settings(state_dir: Path, backend: str) -> DevSettings:
    """Knobs of a test stack: its own state dir, free ports, and never a silent fallback."""
    return DevSettings(state_dir=state_dir, api_port=free_port(), minio_port=free_port(), backend=backend)  # type: ignore[arg-type]


def start_stack(state_dir: Path, backend: str, **kwargs: Any) -> LocalStack:
    """A started :class:`LocalStack` (MinIO must be installed for ``minio``: never falls back)."""
    if backend == "minio":
        tool_path("minio")  # raises, naming `make tools`: a test stack never falls back
    return LocalStack(
        stack_settings(state_dir, backend),
        service={**SERVICE_SETTINGS, **kwargs.pop("service", {})},
        access_log=False,
        event_backoff=0.05,
        **kwargs,
    ).start()


class Client:
    """The API over HTTP as a browser app uses it: bearer token in, JSON out, presigned bytes
    straight to storage with plain httpx."""

    def __init__(self, stack: LocalStack, user: str) -> None:
        self.stack = stack
        self.user = user
        self.http = httpx.Client(
            base_url=stack.api_url + "/v1", timeout=30, headers={"Authorization": f"Bearer {stack.token(user)}"}
        )

    def declare(
        self, data: bytes, content_type: str, *, category: str = "documents", filename: str = "", **extra: Any
    ) -> httpx.Response:
        """POST /v1/uploads for ``data``, with the checksum its upload kind needs unless given.

        Without a ``filename``, the file is named with an extension its type allows.
        """
        assert self.stack.settings is not None
        filename = filename or "file." + min(EXTENSIONS.get(content_type, {"bin"}))
        extra.setdefault("checksums", checksums_of(data, multipart=len(data) > self.stack.settings.multipart_threshold))
        return self.http.post(
            "/uploads",
            json={"filename": filename, "content_type": content_type, "size": len(data), "category": category, **extra},
        )

    def upload(self, data: bytes, content_type: str, **kwargs: Any) -> str:
        """Declare and PUT ``data`` (single request); returns the file id."""
        response = self.declare(data, content_type, **kwargs)
        assert response.status_code == 201, response.text
        created = response.json()
        put = put_presigned(created["upload"], data)
        assert put.status_code == 200, put.text
        return str(created["file_id"])

    def sign_parts(self, file_id: str, data: bytes, part_size: int, numbers: list[int]) -> dict[int, dict[str, Any]]:
        """POST /v1/uploads/{id}/parts: URLs for ``numbers`` that sign each part's CRC64NVME."""
        chunks = {n: data[(n - 1) * part_size : n * part_size] for n in numbers}
        response = self.http.post(
            f"/uploads/{file_id}/parts",
            json={"parts": [{"part_number": n, "crc64nvme": crc64nvme_b64(chunks[n])} for n in numbers]},
        )
        assert response.status_code == 200, response.text
        return {part["part_number"]: part for part in response.json()["missing"]}

    def upload_multipart(self, data: bytes, content_type: str, **kwargs: Any) -> tuple[str, dict[int, str]]:
        """Declare ``data`` as a multipart upload and PUT every part; the file id and ETags."""
        response = self.declare(data, content_type, **kwargs)
        assert response.status_code == 201, response.text
        created = response.json()
        size, count = created["multipart"]["part_size"], created["multipart"]["part_count"]
        urls = self.sign_parts(created["file_id"], data, size, list(range(1, count + 1)))
        etags = {}
        for number, url in urls.items():
            put = put_presigned(url, data[(number - 1) * size : number * size])
            assert put.status_code == 200, put.text
            etags[number] = put.headers["etag"]
        return created["file_id"], etags

    def complete(self, file_id: str, etags: dict[int, str], crc64nvme: str | None = None) -> httpx.Response:
        """POST /v1/uploads/{id}/complete with ``etags`` by part number (and the file's CRC64NVME)."""
        body: dict[str, Any] = {"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]}
        if crc64nvme is not None:
            body["crc64nvme"] = crc64nvme
        return self.http.post(f"/uploads/{file_id}/complete", json=body)

    def file(self, file_id: str) -> httpx.Response:
        """GET /v1/files/{id}."""
        return self.http.get(f"/files/{file_id}")

    def wait_final(self, file_id: str, timeout: float = 30) -> dict[str, Any]:
        """Poll until the processor moved the file out of pending; its final record."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.file(file_id)
            if response.status_code == 200 and response.json()["status"] != "pending":
                return dict(response.json())
            if time.monotonic() > deadline:
                raise AssertionError(f"{file_id} still not processed after {timeout}s: {response.text}")
            time.sleep(0.2)

    def listed(self, **query: str) -> dict[str, dict[str, Any]]:
        """The caller's files by id (one page is enough in tests)."""
        response = self.http.get("/files", params={"limit": "1000", **query})
        assert response.status_code == 200, response.text
        return {item["file_id"]: item for item in response.json()["items"]}


def put_presigned(upload: dict[str, Any], data: Any, **override: str) -> httpx.Response:
    """PUT to a presigned URL with exactly the headers the API said to send, like a browser.

    ``override`` replaces headers (a value of ``""`` drops one).
    """
    headers = {**upload["headers"], **override}
    headers = {name: value for name, value in headers.items() if value != ""}
    return httpx.put(upload["url"], content=data, headers=headers, timeout=60)


def error_code(response: httpx.Response) -> str:
    """The ``<Code>`` of an S3 XML error body."""
    match = re.search(r"<Code>([^<]+)</Code>", response.text)
    return match.group(1) if match else ""


def stack_s3(stack: LocalStack) -> Any:
    """An S3 client for the stack's storage, as its handlers have it (MinIO's root user locally)."""
    assert stack.settings is not None
    return make_clients(stack.settings).api


def storage_keys(stack: LocalStack, prefix: str) -> list[str]:
    """Object keys under ``prefix`` in the stack's bucket."""
    assert stack.settings is not None
    listed = stack_s3(stack).list_objects_v2(Bucket=stack.settings.bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def unique_user(prefix: str = "user") -> str:
    """A user id no other test uses, so listings only show this test's files."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def areas_of(stack: LocalStack, file_id: str) -> list[str]:
    """Where the file's objects are: one entry per object (``staging``, ``files``, ``quarantine``)."""
    return [key.split("/", 1)[0] for key in storage_keys(stack, "") if f"/{file_id}/" in key]


def settled_areas(stack: LocalStack, file_id: str, timeout: float = 10) -> list[str]:
    """:func:`areas_of` once the processor finished with the file (its staged copy is removed
    right after the copy that makes it visible), or as it is when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        areas = areas_of(stack, file_id)
        if "staging" not in areas or time.monotonic() > deadline:
            return sorted(areas)
        time.sleep(0.1)
