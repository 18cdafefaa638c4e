"""Single-request GETs and PUTs of small objects through awscrt's native S3 client.

Why not boto3 for these: on a small machine botocore spends 1 to 3 ms of CPU per request (event
hooks, parameter validation, signing, response parsing in Python), so copying many small
objects was bound by Python, not by storage. awscrt (AWS's maintained common runtime, the
engine of boto3's own CRT transfer manager) signs and moves the bytes in native code; Python
only builds each request and receives its callbacks. Everything else (listing, HEAD, deletes,
server-side copies, multipart through the transfer manager) stays on boto3.
"""

from __future__ import annotations

import email.utils
import io
import re
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from awscrt.auth import AwsCredentials, AwsCredentialsProvider
from awscrt.http import HttpHeaders, HttpRequest
from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup
from awscrt.s3 import S3ChecksumConfig, S3Client, S3RequestTlsMode, S3RequestType
from botocore.credentials import Credentials

#: Response headers → the names boto3 uses, so both paths fill :class:`ObjectMeta` alike.
_HEADER_FIELDS = {
    "content-type": "ContentType",
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
    "etag": "ETag",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-customer-algorithm": "SSECustomerAlgorithm",
    "x-amz-checksum-crc64nvme": "ChecksumCRC64NVME",
    "x-amz-checksum-sha256": "ChecksumSHA256",
}
_PUT_HEADERS = {
    "ContentType": "content-type",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
}
_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
#: awscrt error names that mean "the server is not there" (not "the request was refused").
_UNREACHABLE_MARKS = ("SOCKET", "DNS", "CONNECTION", "CONNECT_", "TIMEOUT", "HOST", "CLOSED")


class CrtRequestError(Exception):
    """A request failed: an S3 error code and message, or ``unreachable`` with the cause."""

    def __init__(self, code: str, message: str, *, unreachable: bool = False, status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.unreachable = unreachable
        self.status = status


def response_fields(headers: list[tuple[str, str]]) -> dict[str, Any]:
    """A boto3-shaped response dict from raw headers (``Metadata`` from ``x-amz-meta-*``)."""
    fields: dict[str, Any] = {"Metadata": {}}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            fields["Metadata"][lower.removeprefix("x-amz-meta-")] = value
        elif lower in _HEADER_FIELDS:
            fields[_HEADER_FIELDS[lower]] = value
        elif lower == "last-modified":
            fields["LastModified"] = email.utils.parsedate_to_datetime(value)
        elif lower == "content-length":
            fields["ContentLength"] = int(value)
    fields.setdefault("LastModified", datetime.now(UTC))
    return fields


def _delegate(credentials: Credentials) -> AwsCredentialsProvider:
    """Credentials for awscrt from botocore's (refreshed by botocore when they rotate)."""

    def current() -> AwsCredentials:
        frozen = credentials.get_frozen_credentials()
        return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    return AwsCredentialsProvider.new_delegate(current)


class CrtChannel:
    """GET and PUT of whole small objects over awscrt, blocking the calling thread only."""

    def __init__(self, endpoint_url: str | None, region: str, credentials: Credentials, *, threads: int = 2) -> None:
        self.region = region
        self.endpoint = urlsplit(endpoint_url) if endpoint_url else None
        loop = EventLoopGroup(threads)
        tls = (
            S3RequestTlsMode.DISABLED if self.endpoint and self.endpoint.scheme == "http" else S3RequestTlsMode.ENABLED
        )
        self.client = S3Client(
            bootstrap=ClientBootstrap(loop, DefaultHostResolver(loop)),
            region=region,
            credential_provider=_delegate(credentials),
            tls_mode=tls,
            part_size=16 * 1024 * 1024,
            throughput_target_gbps=10.0,
        )

    def _address(self, bucket: str, key: str) -> tuple[str, str]:
        """Host header and path: path style for custom endpoints, virtual-hosted on AWS."""
        encoded = quote(key, safe="/~")
        if self.endpoint is not None:
            return self.endpoint.netloc, f"{self.endpoint.path.rstrip('/')}/{bucket}/{encoded}"
        return f"{bucket}.s3.{self.region}.amazonaws.com", f"/{encoded}"

    def _run(self, kind: S3RequestType, request: HttpRequest, **options: Any) -> tuple[dict[str, Any], bytes]:
        done: Future[None] = Future()
        chunks: list[bytes] = []
        received: list[tuple[str, str]] = []

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            received.extend(headers)

        def on_body(chunk: Any, offset: int, **_: Any) -> None:
            chunks.append(bytes(chunk))

        def on_done(error: Exception | None, status_code: int = 0, error_body: bytes | None = None, **_: Any) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(_request_error(error, status_code, error_body))

        callbacks: dict[str, Callable[..., None]] = {"on_headers": on_headers, "on_done": on_done}
        if kind == S3RequestType.GET_OBJECT:
            callbacks["on_body"] = on_body
        self.client.make_request(type=kind, request=request, **callbacks, **options)
        done.result()
        return response_fields(received), b"".join(chunks)

    def get(self, bucket: str, key: str, *, if_match: str | None = None) -> tuple[dict[str, Any], bytes]:
        """The object's bytes and response fields; storage's own checksum is validated if stored."""
        host, path = self._address(bucket, key)
        header_list = [("host", host), ("Content-Length", "0")]
        if if_match:
            header_list.append(("If-Match", if_match))
        request = HttpRequest("GET", path, HttpHeaders(header_list))
        return self._run(S3RequestType.GET_OBJECT, request, checksum_config=S3ChecksumConfig(validate_response=True))

    def put(
        self, bucket: str, key: str, body: bytes, args: dict[str, Any], checksum: tuple[str, str]
    ) -> dict[str, Any]:
        """One PUT (never multipart) with boto3-style ``args`` and a ``(algorithm, value)`` checksum."""
        host, path = self._address(bucket, key)
        header_list = [("host", host), ("Content-Length", str(len(body)))]
        for name, value in args.items():
            if name == "Metadata":
                header_list += [(f"x-amz-meta-{meta}", text) for meta, text in value.items()]
            elif name in _PUT_HEADERS:
                header_list.append((_PUT_HEADERS[name], value))
        algorithm, value = checksum
        header_list.append((f"x-amz-checksum-{algorithm.lower()}", value))
        request = HttpRequest("PUT", path, HttpHeaders(header_list), io.BytesIO(body))
        fields, _ = self._run(
            S3RequestType.PUT_OBJECT, request, multipart_upload_threshold=max(len(body), 5 * 2**20) + 1
        )
        return fields


def _request_error(error: Exception, status: int, body: bytes | None) -> CrtRequestError:
    name = str(getattr(error, "name", "") or type(error).__name__)
    if status:
        code = _CODE.search(body or b"")
        message = _MESSAGE.search(body or b"")
        return CrtRequestError(
            code.group(1).decode() if code else str(status),
            message.group(1).decode() if message else "",
            status=status,
        )
    unreachable = any(mark in name for mark in _UNREACHABLE_MARKS)
    return CrtRequestError(name, str(getattr(error, "message", "")) or str(error), unreachable=unreachable)
