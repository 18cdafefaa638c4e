"""The Upvault HTTP API, one method per endpoint: the only module that knows paths and bodies.

Everything else in the client works with the small types below. When the API changes, this
module changes; the transfer logic does not.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from upvault_client._version import __version__
from upvault_client.errors import ApiError, ApiUnreachable
from upvault_client.models import DownloadLink, FileInfo, FileSummary

#: Statuses worth retrying a request whose repetition is harmless.
_TRANSIENT = frozenset({429, 502, 503, 504})


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PresignedRequest(_Wire):
    """A request to make directly against storage, with exactly these headers."""

    method: str
    url: str
    headers: dict[str, str] = {}


class MultipartPlan(_Wire):
    """How the API cut the file: every part but the last is ``part_size`` bytes."""

    part_size: int
    part_count: int

    def part_length(self, part_number: int, size: int) -> int:
        """Exact byte length of one part of a ``size``-byte file."""
        if part_number < self.part_count:
            return self.part_size
        return size - self.part_size * (self.part_count - 1)


class UploadTicket(_Wire):
    """The answer to a declaration: one presigned PUT (``upload``) or a ``multipart`` plan."""

    file_id: str
    upload_id: str
    expires_at: datetime
    upload: PresignedRequest | None = None
    multipart: MultipartPlan | None = None


class StoredPart(_Wire):
    """A part storage already holds (with the CRC64NVME storage verified, when it reports it)."""

    part_number: int
    etag: str
    size: int
    crc64nvme: str | None = None


class PartRequest(PresignedRequest):
    """A presigned PUT for one part."""

    part_number: int
    size: int


class UploadState(_Wire):
    """A running multipart upload: the plan, the parts stored, URLs for parts (as asked)."""

    upload_id: str
    file_id: str
    size: int
    part_size: int
    part_count: int
    parts: list[StoredPart]
    missing: list[PartRequest]
    #: Parts storage does not hold yet (``GET``; their URLs are signed with each part's CRC).
    missing_parts: list[int] = []
    expires_at: datetime


@dataclass(frozen=True)
class Declaration:
    """What the client declares about a file before sending its bytes."""

    filename: str
    content_type: str
    size: int
    category: str
    #: ``{"sha256": ...}`` for a single PUT; empty for multipart (its CRC64NVME comes at completion).
    checksums: Mapping[str, str]
    metadata: Mapping[str, str]


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``; a provider is asked again once after a 401 (token renewal)."""

    def __init__(self, token: str | None = None, provider: Callable[[], str] | None = None) -> None:
        if (token is None) == (provider is None):
            raise ValueError("give exactly one of token= and token_provider=")
        self._provider = provider
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the token; with a provider, retry a 401 once with a fresh one."""
        request.headers["Authorization"] = f"Bearer {self._current()}"
        response = yield request
        if response.status_code == 401 and self._provider is not None:
            request.headers["Authorization"] = f"Bearer {self._provider()}"
            yield request

    def _current(self) -> str:
        if self._provider is not None:
            return self._provider()
        assert self._token is not None
        return self._token


def api_base(api_url: str) -> str:
    """``https://host[/stage]`` without a trailing ``/`` or ``/v1`` (both spellings are accepted)."""
    base = api_url.strip().rstrip("/")
    return base.removesuffix("/v1")


class UpvaultApi:
    """Calls the API with a bearer token and turns error answers into typed exceptions.

    ``calls`` counts requests per endpoint (``"POST /v1/uploads/{id}/parts"``), for benchmarks
    and for anyone who wants to see what an upload cost.
    """

    def __init__(
        self,
        api_url: str,
        auth: httpx.Auth,
        *,
        timeout: float = 30.0,
        max_attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = api_base(api_url)
        self.max_attempts = max_attempts
        self.calls: Counter[str] = Counter()
        self._http = httpx.Client(
            base_url=self.base_url + "/v1",
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            # No transport of our own by default: httpx then honours HTTP(S)_PROXY and NO_PROXY.
            transport=transport,
            verify=verify,
            headers={"User-Agent": f"upvault-client/{__version__}", "Accept": "application/json"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- uploads ---------------------------------------------------------------------------
    def declare(self, declaration: Declaration) -> UploadTicket:
        """``POST /v1/uploads``: where and how to upload."""
        body = {
            "filename": declaration.filename,
            "content_type": declaration.content_type,
            "size": declaration.size,
            "category": declaration.category,
            "checksums": dict(declaration.checksums),
            "metadata": dict(declaration.metadata),
        }
        response = self._call("POST", "/uploads", "/uploads", json=body, expect=(201,), idempotent=False)
        return UploadTicket.model_validate(response.json())

    def upload_state(self, upload_id: str) -> UploadState:
        """``GET /v1/uploads/{id}/parts``: the parts storage holds (to resume)."""
        response = self._call("GET", f"/uploads/{_seg(upload_id)}/parts", "/uploads/{id}/parts")
        return UploadState.model_validate(response.json())

    def sign_parts(self, upload_id: str, parts: Iterable[tuple[int, str]]) -> list[PartRequest]:
        """``POST /v1/uploads/{id}/parts``: URLs for these parts, each binding its CRC64NVME."""
        body = {"parts": [{"part_number": number, "crc64nvme": crc} for number, crc in parts]}
        response = self._call("POST", f"/uploads/{_seg(upload_id)}/parts", "/uploads/{id}/parts", json=body)
        state = UploadState.model_validate(response.json())
        return state.missing

    def complete(self, upload_id: str, parts: Iterable[tuple[int, str]], crc64nvme: str | None = None) -> FileInfo:
        """``POST /v1/uploads/{id}/complete`` with every part's number and ETag, in order, and
        the whole file's CRC64NVME (base64), which storage verifies against the parts."""
        body: dict[str, object] = {"parts": [{"part_number": number, "etag": etag} for number, etag in parts]}
        if crc64nvme is not None:
            body["crc64nvme"] = crc64nvme
        response = self._call(
            "POST", f"/uploads/{_seg(upload_id)}/complete", "/uploads/{id}/complete", json=body, idempotent=False
        )
        return FileInfo.model_validate(response.json())

    def abort(self, upload_id: str) -> None:
        """``DELETE /v1/uploads/{id}``: storage drops the parts."""
        self._call("DELETE", f"/uploads/{_seg(upload_id)}", "/uploads/{id}", expect=(204,))

    # -- files -----------------------------------------------------------------------------
    def file(self, file_id: str) -> FileInfo:
        """``GET /v1/files/{id}``."""
        return FileInfo.model_validate(self._call("GET", f"/files/{_seg(file_id)}", "/files/{id}").json())

    def files(
        self, *, category: str | None, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[FileSummary], str | None]:
        """``GET /v1/files``: one page and the cursor of the next (``None`` at the end)."""
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (("category", category), ("status", status), ("cursor", cursor)):
            if value is not None:
                params[name] = value
        body = self._call("GET", "/files", "/files", params=params).json()
        return [FileSummary.model_validate(item) for item in body["items"]], body.get("cursor")

    def download_link(self, file_id: str) -> DownloadLink:
        """``GET /v1/files/{id}/download``."""
        response = self._call("GET", f"/files/{_seg(file_id)}/download", "/files/{id}/download")
        return DownloadLink.model_validate(response.json())

    def delete(self, file_id: str) -> None:
        """``DELETE /v1/files/{id}``."""
        self._call("DELETE", f"/files/{_seg(file_id)}", "/files/{id}", expect=(204,))

    def restore(self, file_id: str) -> FileInfo:
        """``POST /v1/files/{id}/restore``."""
        response = self._call("POST", f"/files/{_seg(file_id)}/restore", "/files/{id}/restore", idempotent=False)
        return FileInfo.model_validate(response.json())

    def health(self) -> None:
        """``GET /v1/health``: returns when healthy, raises otherwise."""
        self._call("GET", "/health", "/health", attempts=1)

    # -- plumbing --------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        route: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool = True,
        attempts: int | None = None,
    ) -> httpx.Response:
        """One API call. Failed connections are tried again (nothing was sent); transient
        answers (429, 502-504) only when repeating the call is harmless."""
        self.calls[f"{method} /v1{route}"] += 1
        tries = attempts or self.max_attempts
        for attempt in range(1, tries + 1):
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                # A refused connection sent nothing: trying again is harmless even for a POST.
                if isinstance(exc, httpx.ConnectError) and attempt < tries:
                    time.sleep(0.2 * attempt)
                    continue
                raise ApiUnreachable(f"cannot reach the Upvault API at {self.base_url}: {_reason(exc)}") from exc
            if response.status_code in expect:
                return response
            if response.status_code in _TRANSIENT and idempotent and attempt < tries:
                time.sleep(_retry_after(response, 0.2 * 2**attempt))
                continue
            raise ApiError.from_response(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _seg(value: str) -> str:
    """One path segment, escaped (ids are ULIDs; anything else must not alter the path)."""
    return quote(value, safe="")


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 10.0) if value.isdigit() else default


def _reason(exc: httpx.TransportError) -> str:
    """A short human reason (``connection refused``) rather than a nested errno chain."""
    text = str(exc) or type(exc).__name__
    for known in ("Connection refused", "Name or service not known", "timed out", "Temporary failure"):
        if known.lower() in text.lower():
            return known.lower()
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text
