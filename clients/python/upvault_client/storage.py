"""Requests straight to storage, with the presigned URLs and exact headers the API handed out.

The bearer token never goes to storage: this is a separate connection pool without it.
"""

from __future__ import annotations

import random
import re
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from upvault_client._version import __version__
from upvault_client.api import PresignedRequest
from upvault_client.errors import Cancelled, StorageError

#: S3 error codes worth another attempt (S3 answers RequestTimeout with a 400).
_TRANSIENT_CODES = frozenset({"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable"})
T = TypeVar("T")
#: Chunks a body is sent in, so progress moves smoothly and a cancel takes effect quickly.
CHUNK = 1024 * 1024


class Storage:
    """Presigned PUTs with retries and backoff, and streamed presigned GETs."""

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.max_attempts = max_attempts
        self.verify = verify
        self.backoff = backoff
        self.timeout = timeout
        self.transport = transport
        #: Presigned requests sent, including retries (for benchmarks).
        self.requests = 0
        self._http = self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=10.0, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            transport=self.transport,
            verify=self.verify,
            follow_redirects=False,
            headers={"User-Agent": f"upvault-client/{__version__}"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def interrupt(self) -> None:
        """End requests in flight now (their sockets close) and start a fresh pool for later ones."""
        old, self._http = self._http, self._new_client()
        old.close()

    def put(
        self,
        request: PresignedRequest,
        body: Callable[[], Iterable[bytes | memoryview]],
        length: int,
        *,
        on_bytes: Callable[[int], None] | None = None,
        resign: Callable[[], PresignedRequest] | None = None,
        cancelled: threading.Event | None = None,
    ) -> str:
        """PUT ``length`` bytes (``body()`` yields them afresh for each attempt); returns the ETag.

        Connection failures, 5xx, 408/429 and S3's transient codes are retried with
        exponential backoff and jitter; an expired URL is re-signed through ``resign``.
        Anything else (a checksum mismatch, a signature error) fails at once.
        """
        current = [request]

        def renew() -> None:
            assert resign is not None
            current[0] = resign()

        tries = 0

        def attempt() -> str | StorageError:
            nonlocal tries
            tries += 1
            outcome = self._put_once(current[0], body, length, on_bytes or _ignore, cancel)
            once = any(name.lower() == "if-none-match" for name in current[0].headers)
            if isinstance(outcome, StorageError) and outcome.status == 412 and once and tries > 1:
                # A write-once URL refusing a retry: the earlier attempt stored the (verified)
                # bytes and only its answer was lost.
                (on_bytes or _ignore)(length)
                return ""
            return outcome

        cancel = cancelled or threading.Event()
        return self._with_retries(attempt, cancel, renew if resign is not None else None)

    def _with_retries(
        self, attempt: Callable[[], T | StorageError], cancel: threading.Event, renew: Callable[[], None] | None
    ) -> T:
        """Repeat ``attempt`` while its error is transient (or, with ``renew``, an expired URL)."""
        error: StorageError | None = None
        for number in range(1, self.max_attempts + 1):
            if cancel.is_set():
                raise Cancelled
            outcome = attempt()
            if not isinstance(outcome, StorageError):
                return outcome
            error = outcome
            if error.expired and renew is not None:
                renew()
                continue
            if not error.transient:
                raise error
            if number < self.max_attempts:
                self._sleep(number, cancel)
        assert error is not None
        raise error

    def _put_once(
        self,
        request: PresignedRequest,
        body: Callable[[], Iterable[bytes | memoryview]],
        length: int,
        report: Callable[[int], None],
        cancel: threading.Event,
    ) -> str | StorageError:
        """One attempt: the ETag, or the error (progress of a failed attempt is taken back)."""
        sent = 0

        def stream() -> Iterator[bytes]:
            nonlocal sent
            for chunk in body():
                if cancel.is_set():
                    raise Cancelled
                yield chunk  # type: ignore[misc]  # httpx sends any buffer; a copy would cost memory
                sent += len(chunk)
                report(len(chunk))

        headers = {name: value for name, value in request.headers.items() if name.lower() != "content-length"}
        headers["Content-Length"] = str(length)
        self.requests += 1
        try:
            response = self._http.request(request.method, request.url, headers=headers, content=stream())
        except httpx.TransportError as exc:
            report(-sent)
            if cancel.is_set():
                raise Cancelled from exc
            return _unreachable(exc, request.url)
        if response.status_code in (200, 201, 204):
            etag: str = response.headers.get("ETag", "")
            return etag
        report(-sent)
        return _refused("upload", response, request.url)

    @contextmanager
    def get(self, url: str) -> Iterator[httpx.Response]:
        """A streamed GET (its status is 200); opening it is retried like a PUT."""
        response = self._open(url)
        try:
            yield response
        finally:
            response.close()

    def _open(self, url: str) -> httpx.Response:
        return self._with_retries(lambda: self._get_once(url), threading.Event(), None)

    def _get_once(self, url: str) -> httpx.Response | StorageError:
        self.requests += 1
        try:
            response = self._http.send(self._http.build_request("GET", url), stream=True)
        except httpx.TransportError as exc:
            return _unreachable(exc, url)
        if response.status_code == 200:
            return response
        response.read()
        response.close()
        return _refused("download", response, url)

    def _sleep(self, attempt: int, cancelled: threading.Event) -> None:
        # Full jitter keeps parallel parts that failed together from retrying in lockstep.
        delay = min(8.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
        if cancelled.wait(delay):
            raise Cancelled


def s3_error(text: str) -> tuple[str, str]:
    """``(Code, Message)`` of an S3 XML error body (empty strings when absent)."""
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    return (code.group(1) if code else "", message.group(1) if message else "")


def _refused(what: str, response: httpx.Response, url: str) -> StorageError:
    """The error for a storage answer other than success, from its S3 XML body."""
    code, message = s3_error(response.text)
    status = response.status_code
    return StorageError(
        f"storage refused the {what}: {status} {code or response.reason_phrase}" + (f": {message}" if message else ""),
        status=status,
        code=code,
        url=_bare(url),
        transient=status >= 500 or status in (408, 429) or code in _TRANSIENT_CODES,
        expired=status == 403 and "expired" in message.lower(),
    )


def _unreachable(exc: httpx.TransportError, url: str) -> StorageError:
    return StorageError(f"storage unreachable: {exc or type(exc).__name__}", url=_bare(url))


def _ignore(_: int) -> None:
    """No progress callback."""


def _bare(url: str) -> str:
    """The URL without its query: a presigned signature is a credential, never logged."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
