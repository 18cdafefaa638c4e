"""``Client`` (sync, thread-safe) and ``AsyncClient`` (the same calls for asyncio code)."""

from __future__ import annotations

import asyncio
import builtins
import functools
import io
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from upvault_client.api import BearerAuth, UpvaultApi
from upvault_client.checksums import StreamVerifier
from upvault_client.config import ClientSettings, state_dir
from upvault_client.content_types import SNIFF_BYTES, canonical, guess_category, guess_content_type
from upvault_client.errors import (
    ApiUnreachable,
    Cancelled,
    FileRejected,
    NotFound,
    ProcessingTimeout,
    ServiceUnavailable,
)
from upvault_client.journal import Journal
from upvault_client.models import READY, REJECTED, DownloadLink, FileInfo, FileSummary, Progress
from upvault_client.sources import UploadSource, open_source
from upvault_client.storage import CHUNK, Storage
from upvault_client.transfer import DEFAULT_THRESHOLD, FileSpec, PlanHint, ProgressCallback, Uploader
from upvault_client.workers import DaemonPool

#: How long ``upload(wait=True)`` and ``wait_until_processed`` wait for validation by default.
DEFAULT_WAIT = 300.0


class Client:
    """Upvault from Python: upload, list, get, download, delete and restore files.

    Args:
        api_url: The API's base URL (``https://files.example.com``; a trailing ``/v1`` is fine).
        token: A bearer token; or ``token_provider``, called for each request (and once more
            after a 401), for tokens that expire.
        parallel: Parts (and files) sent to storage at once; parts stream from the file in
            1 MiB chunks, so an upload's buffers are at most ``parallel`` x 1 MiB.
        timeout: Seconds for each API call.
        max_attempts: Tries per part (and per download) before a transfer fails.
        resume: Remember multipart uploads of files on disk in a local journal, so uploading
            the same file again continues where an interrupted upload stopped.
        journal_dir: Where that journal lives (default: the user's state directory).
        multipart_threshold: Size above which the API is expected to plan multipart (the
            service default); only a first guess, corrected by the API's answers.
        transport, storage_transport: httpx transports for the API and for storage (tests).

    The client is thread-safe; one instance per process is enough. Close it (or use it as a
    context manager) to release its connections and worker threads.
    """

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        parallel: int = 4,
        timeout: float = 30.0,
        max_attempts: int = 5,
        resume: bool = True,
        journal_dir: str | os.PathLike[str] | None = None,
        multipart_threshold: int = DEFAULT_THRESHOLD,
        transport: httpx.BaseTransport | None = None,
        storage_transport: httpx.BaseTransport | None = None,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        auth = BearerAuth(token, token_provider)
        # One TLS context for both connection pools: building one (loading the CA bundle) takes
        # ~50 ms, a visible share of a short command's start.
        tls = httpx.create_ssl_context()
        self._api = UpvaultApi(api_url, auth, timeout=timeout, transport=transport, verify=tls)
        self._storage = Storage(max_attempts=max_attempts, transport=storage_transport, verify=tls)
        self._pool = DaemonPool(parallel)
        journal = Journal(Path(journal_dir) if journal_dir else state_dir() / "uploads") if resume else None
        # What the client learns about this API's multipart threshold is kept beside the journal.
        hint_file = journal.directory / f"{Journal.key(self._api.base_url)}.plan" if journal else None
        self._uploader = Uploader(
            self._api,
            self._storage,
            self._pool,
            parallel=parallel,
            journal=journal,
            hint=PlanHint(multipart_threshold, hint_file),
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """A client for ``UPVAULT_API_URL`` and ``UPVAULT_TOKEN`` (or the ``upvault login`` file)."""
        settings = ClientSettings()
        if settings.api_url is None or settings.token is None:
            raise ValueError("set UPVAULT_API_URL and UPVAULT_TOKEN (or run `upvault login`)")
        return cls(settings.api_url, token=settings.token.get_secret_value(), **kwargs)

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self._api.base_url

    @property
    def api_calls(self) -> dict[str, int]:
        """API calls made so far, per endpoint."""
        return dict(self._api.calls)

    @property
    def storage_requests(self) -> int:
        """Presigned requests sent to storage so far (retries included)."""
        return self._storage.requests

    def cancel(self) -> None:
        """Stop every upload in progress, from any thread (e.g. a signal handler).

        Their callers get :class:`Cancelled`; interrupted multipart uploads of files on disk
        resume when the same file is uploaded again. The client accepts no new uploads after.
        """
        self._uploader.cancel_all()

    def close(self) -> None:
        """Release connections and worker threads."""
        self._pool.shutdown()
        self._api.close()
        self._storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- uploads ---------------------------------------------------------------------------
    def upload(
        self,
        source: UploadSource,
        *,
        category: str | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_WAIT,
        on_progress: ProgressCallback | None = None,
    ) -> FileInfo:
        """Upload a file (a path, bytes, or a binary file object) and return its record.

        ``content_type`` is sniffed from the bytes when omitted (then from the name), and
        ``category`` follows from it (images, audio, else documents). With ``wait`` (the
        default) this returns once validation accepted the file and raises
        :class:`FileRejected` with the reason when it did not; without, the file is
        ``pending``. ``on_progress`` receives :class:`Progress` updates from worker threads.

        A multipart upload of a file on disk that is interrupted (Ctrl-C, crash, lost
        network) resumes when the same file is uploaded again: only missing parts are sent.
        """
        opened = open_source(source)
        try:
            name = filename or opened.name
            if not name:
                raise ValueError("filename= is required when uploading bytes or an unnamed stream")
            declared = canonical(content_type) if content_type else guess_content_type(opened.head(SNIFF_BYTES), name)
            spec = FileSpec(name, declared, category or guess_category(declared), dict(metadata or {}))
            file_id, info = self._uploader.upload(opened, spec, on_progress)
        finally:
            opened.close()
        if wait:
            if on_progress is not None:
                on_progress(Progress("processing", opened.size, opened.size))
            return self.wait_until_processed(file_id, timeout=timeout)
        return info or self.get(file_id)

    def wait_until_processed(self, file_id: str, *, timeout: float = DEFAULT_WAIT, interval: float = 0.2) -> FileInfo:
        """Poll until validation decided; the ready file, or :class:`FileRejected` with the reason.

        Raises :class:`ProcessingTimeout` when the file is still pending after ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        delay = interval
        while True:
            if self._uploader.stopped.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                raise Cancelled(f"stopped waiting for {file_id}")
            info = self.get(file_id)
            if info.status == READY:
                return info
            if info.status == REJECTED:
                raise FileRejected(info)
            if time.monotonic() >= deadline:
                raise ProcessingTimeout(info, timeout)
            delay = min(delay * 1.5, 2.0)

    # -- files -----------------------------------------------------------------------------
    def get(self, file_id: str) -> FileInfo:
        """A file's details and status (``NotFound`` for unknown ids and other users' ids)."""
        return self._api.file(file_id)

    def exists(self, file_id: str) -> bool:
        """Whether the caller has a file with this id (in any status)."""
        try:
            self._api.file(file_id)
        except NotFound:
            return False
        return True

    def list(
        self, *, category: str | None = None, status: str | None = None, page_size: int = 100
    ) -> Iterator[FileSummary]:
        """The caller's files, fetched page by page as the iteration goes."""
        cursor: str | None = None
        while True:
            items, cursor = self.list_page(category=category, status=status, cursor=cursor, limit=page_size)
            yield from items
            if cursor is None:
                return

    def list_page(
        self, *, category: str | None = None, status: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[builtins.list[FileSummary], str | None]:
        """One page of files and the cursor of the next one (``None`` after the last)."""
        return self._api.files(category=category, status=status, cursor=cursor, limit=limit)

    def download_url(self, file_id: str) -> DownloadLink:
        """A short-lived URL that downloads the file under its original name (e.g. for a browser)."""
        return self._api.download_link(file_id)

    def download(
        self,
        file_id: str,
        to: str | os.PathLike[str] | IO[bytes],
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> FileInfo:
        """Stream a file to a path (or a directory, keeping its name) or a binary file object.

        The bytes are checked against the size and the checksum storage verified at upload
        (SHA-256 or CRC64NVME); a mismatch raises :class:`IntegrityError`, and a path target
        is only written when the bytes are right. ``on_progress(done, total)`` reports bytes.
        """
        info = self.get(file_id)
        link = self._api.download_link(file_id)
        if not isinstance(to, str | os.PathLike):
            self._stream(link.url, info, to, on_progress)
            return info
        target = Path(to)
        if target.is_dir():
            target = target / (Path(info.name).name or info.file_id)
        partial = target.with_name(f".{target.name}.upvault-partial")
        try:
            with partial.open("wb") as handle:
                self._stream(link.url, info, handle, on_progress)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return info

    def read(self, file_id: str) -> bytes:
        """A (small) file's bytes, verified like :meth:`download`."""
        buffer = io.BytesIO()
        self.download(file_id, buffer)
        return buffer.getvalue()

    def _stream(self, url: str, info: FileInfo, out: IO[bytes], on_progress: Callable[[int, int], None] | None) -> None:
        verifier = StreamVerifier(info.file_id, info.size, sha256=info.sha256, crc64nvme=info.crc64nvme)
        with self._storage.get(url) as response:
            for chunk in response.iter_bytes(CHUNK):
                verifier.update(chunk)
                out.write(chunk)
                if on_progress is not None:
                    on_progress(verifier.received, info.size)
        verifier.check()

    def delete(self, file_id: str) -> None:
        """Delete a file; :meth:`restore` brings back its last version."""
        self._api.delete(file_id)

    def restore(self, file_id: str) -> FileInfo:
        """Bring back a deleted file (``Conflict`` when nothing is deleted)."""
        return self._api.restore(file_id)

    def health(self) -> bool:
        """Whether the API and its storage answer (``False`` when either does not)."""
        try:
            self._api.health()
        except (ServiceUnavailable, ApiUnreachable):
            return False
        return True


class AsyncClient:
    """:class:`Client` for asyncio code: each call runs the sync client in a worker thread.

    Takes the same arguments. Transfers keep their own worker pool; cancelling an awaiting
    task does not stop a transfer already running (interrupt the process for that).
    """

    def __init__(self, api_url: str, **kwargs: Any) -> None:
        self.sync = Client(api_url, **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release connections and worker threads."""
        await asyncio.to_thread(self.sync.close)

    async def upload(self, source: UploadSource, **options: Any) -> FileInfo:
        """:meth:`Client.upload`."""
        return await asyncio.to_thread(lambda: self.sync.upload(source, **options))

    async def wait_until_processed(self, file_id: str, *, timeout: float = DEFAULT_WAIT) -> FileInfo:
        """:meth:`Client.wait_until_processed`."""
        return await asyncio.to_thread(self.sync.wait_until_processed, file_id, timeout=timeout)

    async def get(self, file_id: str) -> FileInfo:
        """:meth:`Client.get`."""
        return await asyncio.to_thread(self.sync.get, file_id)

    async def exists(self, file_id: str) -> bool:
        """:meth:`Client.exists`."""
        return await asyncio.to_thread(self.sync.exists, file_id)

    async def list(
        self, *, category: str | None = None, status: str | None = None, page_size: int = 100
    ) -> AsyncIterator[FileSummary]:
        """:meth:`Client.list`, one page per worker-thread call."""
        cursor: str | None = None
        while True:
            items, cursor = await asyncio.to_thread(
                functools.partial(self.sync.list_page, category=category, status=status, cursor=cursor, limit=page_size)
            )
            for item in items:
                yield item
            if cursor is None:
                return

    async def download(self, file_id: str, to: str | os.PathLike[str] | IO[bytes]) -> FileInfo:
        """:meth:`Client.download`."""
        return await asyncio.to_thread(self.sync.download, file_id, to)

    async def read(self, file_id: str) -> bytes:
        """:meth:`Client.read`."""
        return await asyncio.to_thread(self.sync.read, file_id)

    async def download_url(self, file_id: str) -> DownloadLink:
        """:meth:`Client.download_url`."""
        return await asyncio.to_thread(self.sync.download_url, file_id)

    async def delete(self, file_id: str) -> None:
        """:meth:`Client.delete`."""
        await asyncio.to_thread(self.sync.delete, file_id)

    async def restore(self, file_id: str) -> FileInfo:
        """:meth:`Client.restore`."""
        return await asyncio.to_thread(self.sync.restore, file_id)

    async def health(self) -> bool:
        """:meth:`Client.health`."""
        return await asyncio.to_thread(self.sync.health)
