"""Uploading one file: declare it, send its bytes straight to storage, complete it.

* A single PUT declares the file's SHA-256 (signed into its URL), so it is hashed first. A
  multipart upload declares no whole-file checksum: one thread hashes the parts (CRC64NVME)
  in order while the workers send them (:class:`PartHasher`), and completion gives the whole
  file's CRC64NVME, combined from the parts' (no pass over the file before the first byte goes
  out). Which kind the API plans depends on its threshold, so the client predicts it
  (:class:`PlanHint`) and learns from every answer.
* Parts go in parallel on a shared pool of workers; each worker streams its part from the file
  in 1 MiB chunks as it sends it, so memory is bounded by parts in flight x 1 MiB, never the
  part or the file.
* Part URLs (each binding its part's CRC64NVME) are signed in batches ahead of the workers,
  from the parts already hashed (:class:`PartSigner`), re-signed when they expire; each part
  is retried with backoff on its own.
* A multipart upload of a file on disk is written to the journal before its first part, so
  an interrupted upload (Ctrl-C, a crash, a kill) resumes from the parts storage holds.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from upvault_client.api import (
    Declaration,
    MultipartPlan,
    PartRequest,
    PresignedRequest,
    StoredPart,
    UploadTicket,
    UpvaultApi,
)
from upvault_client.checksums import (
    FileDigests,
    combine_crc64nvme,
    crc64nvme,
    crc64nvme_b64,
    digest,
    load_crc64nvme,
    part_crcs_by_reading,
)
from upvault_client.errors import Cancelled, Conflict, InvalidInput, NotFound, UpvaultError
from upvault_client.journal import Journal, JournalEntry
from upvault_client.models import FileInfo, Progress
from upvault_client.sources import Source
from upvault_client.storage import CHUNK, Storage
from upvault_client.workers import DaemonPool

MIB = 1024 * 1024
#: The service's default multipart threshold, and the lowest one it accepts.
DEFAULT_THRESHOLD = 100 * MIB
LOWEST_THRESHOLD = 5 * MIB
#: Re-sign a part URL when less than this is left of its lifetime.
EXPIRY_MARGIN = 60.0
#: Seconds Ctrl-C waits for the parts in flight to stop before giving up on them.
INTERRUPT_GRACE = 2.0
#: Bytes the hashing thread reads at a time.
HASH_BLOCK = 1024 * 1024

T = TypeVar("T")
ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class FileSpec:
    """How the caller wants the file declared."""

    filename: str
    content_type: str
    category: str
    metadata: dict[str, str] = field(default_factory=dict)


class PlanHint:
    """Whether the API will plan a size as multipart, learned from its answers.

    The API plans multipart above its threshold. Every answer narrows that threshold down:
    a size it planned multipart bounds it from above, a size it planned as one PUT from below.
    Between the bounds the guess is ``threshold`` (the service default, until a miss). With a
    ``path``, what was learned is kept there, so the next process does not miss again.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD, path: Path | None = None) -> None:
        self.threshold = threshold
        self.path = path
        self._largest_single = 0
        self._smallest_multipart: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                saved = json.loads(path.read_text())
                self.threshold = int(saved["threshold"])
                self._largest_single = int(saved["largest_single"])
                self._smallest_multipart = saved["smallest_multipart"] and int(saved["smallest_multipart"])

    def multipart(self, size: int) -> bool:
        """The guess for a ``size``-byte file."""
        with self._lock:
            if self._smallest_multipart is not None and size >= self._smallest_multipart:
                return True
            if size <= self._largest_single:
                return False
            return size > self.threshold

    def know(self, threshold: int) -> None:
        """Record the API's threshold itself (its 422 for a checksum of the wrong kind says it)."""
        with self._lock:
            before = (self.threshold, self._largest_single, self._smallest_multipart)
            self.threshold, self._largest_single, self._smallest_multipart = threshold, threshold, threshold + 1
            if before != (threshold, threshold, threshold + 1) and self.path is not None:
                self._save(threshold, threshold, threshold + 1)

    def learn(self, size: int, multipart: bool) -> None:
        """Record what the API planned for ``size`` bytes."""
        with self._lock:
            before = (self.threshold, self._largest_single, self._smallest_multipart)
            if multipart:
                if self._smallest_multipart is None or size < self._smallest_multipart:
                    self._smallest_multipart = size
                # A threshold lower than assumed: guess the lowest the service allows.
                self.threshold = min(self.threshold, max(self._largest_single, LOWEST_THRESHOLD))
            else:
                self._largest_single = max(self._largest_single, size)
                self.threshold = max(self.threshold, size)
            after = (self.threshold, self._largest_single, self._smallest_multipart)
            if after != before and self.path is not None:
                self._save(*after)

    def _save(self, threshold: int, largest_single: int, smallest_multipart: int | None) -> None:
        state = {"threshold": threshold, "largest_single": largest_single, "smallest_multipart": smallest_multipart}
        assert self.path is not None
        with contextlib.suppress(OSError):  # only a hint: losing it costs one extra declaration
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(state))
            os.replace(temporary, self.path)


class ByteCounter:
    """Bytes done for one phase of one file, reported to the caller's callback (thread-safe)."""

    def __init__(
        self,
        phase: Literal["checksum", "upload", "processing"],
        total: int,
        callback: ProgressCallback | None,
        resumed: int = 0,
    ) -> None:
        self.phase = phase
        self.total = total
        self.done = resumed
        self.resumed = resumed
        self._callback = callback
        self._lock = threading.Lock()
        self.add(0)

    def add(self, count: int) -> None:
        """Count ``count`` more bytes (negative when a failed attempt is rolled back)."""
        if self._callback is None:
            return
        with self._lock:
            self.done += count
            progress = Progress(self.phase, self.done, self.total, self.resumed)
        self._callback(progress)


class PartHasher:
    """The CRC64NVME of each part, computed by one thread reading the file in order.

    Hashing (awscrt, ≈ 18 GB/s) and reading from the page cache run far ahead of the upload, so
    CRCs are known before the workers need them and part URLs can be signed in batches ahead
    (measured faster than hashing each part in its worker and signing it then: docs/benchmarks.md).
    Memory: one 1 MiB block.
    """

    def __init__(self, source: Source, plan: MultipartPlan, size: int, numbers: list[int]) -> None:
        self._crcs: dict[int, int] = {}
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source, plan, size, numbers), daemon=True)
        self._thread.start()

    def _run(self, source: Source, plan: MultipartPlan, size: int, numbers: list[int]) -> None:
        view = memoryview(bytearray(HASH_BLOCK))
        try:
            for number in numbers:
                offset = (number - 1) * plan.part_size
                end = offset + plan.part_length(number, size)
                crc = 0
                while offset < end:
                    if self._stop.is_set():
                        return
                    read = source.read_into(offset, view[: min(HASH_BLOCK, end - offset)])
                    if read == 0:
                        raise OSError(f"file shrank while uploading: part {number} is short")
                    crc = crc64nvme(view[:read], crc)
                    offset += read
                with self._changed:
                    self._crcs[number] = crc
                    self._changed.notify_all()
        except Exception as exc:  # handed to the worker that needs the CRC
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def known(self, number: int) -> bool:
        """Whether part ``number``'s CRC is ready (never waits)."""
        with self._changed:
            return number in self._crcs

    def crc(self, number: int) -> int:
        """Part ``number``'s CRC64NVME, waiting for the thread to get there."""
        with self._changed:
            while number not in self._crcs:
                if self._error is not None:
                    raise self._error
                self._changed.wait()
            return self._crcs[number]

    def stop(self) -> None:
        """Stop hashing (the upload ended); anyone still waiting for a CRC gets :class:`Cancelled`."""
        self._stop.set()
        with self._changed:
            if self._error is None:
                self._error = Cancelled("the upload stopped before this part was hashed")
            self._changed.notify_all()


class PartSigner:
    """Part URLs signed in batches ahead of the workers, each binding its part's CRC64NVME.

    The first worker to need a URL signs a batch: its part and the next ones already hashed,
    ``window`` at most; when fewer than ``ahead`` signed URLs are left, the next batch is
    signed in the background, so workers rarely wait for the API. A batch signed on demand
    covers at least ``least`` parts, waiting the few milliseconds the hasher needs for them, so
    the workers that start together share one API call. A URL close to expiry is signed again.
    """

    def __init__(
        self,
        api: UpvaultApi,
        upload_id: str,
        hasher: PartHasher,
        order: list[int],
        window: int,
        ahead: int,
        least: int = 1,
    ) -> None:
        self.api = api
        self.upload_id = upload_id
        self.hasher = hasher
        self.window = window
        self.ahead = ahead
        self.least = least
        self._unsigned = deque(order)
        self._signed: dict[int, tuple[PresignedRequest, float]] = {}
        self._signing = False
        self._changed = threading.Condition()

    def url_for(self, number: int) -> PresignedRequest:
        """A fresh URL for part ``number`` (signing it and the next hashed ones when needed)."""
        with self._changed:
            while self._signing and number not in self._signed:
                self._changed.wait()
            signed = self._signed.pop(number, None)
            if signed is not None and signed[1] - time.time() > EXPIRY_MARGIN:
                ready = self._unsigned and self.hasher.known(self._unsigned[0])
                if len(self._signed) < self.ahead and ready and not self._signing:
                    batch = self._next_batch(None)
                    context = contextvars.copy_context()  # the caller's token_provider context
                    threading.Thread(target=context.run, args=(self._sign_ahead, batch), daemon=True).start()
                return signed[0]
            batch = self._next_batch(number)
        self._sign(batch)
        with self._changed:
            return self._signed.pop(number)[0]

    def resign(self, number: int) -> PresignedRequest:
        """A new URL for a part whose URL expired in flight."""
        with self._changed:
            while self._signing:
                self._changed.wait()
            self._signing = True
        self._sign([number])
        with self._changed:
            return self._signed.pop(number)[0]

    def _next_batch(self, first: int | None) -> list[int]:
        """Take ``first`` and up to ``window`` unsigned parts already hashed, in order, and mark
        signing as begun."""
        batch = []
        if first is not None:
            batch.append(first)
            with contextlib.suppress(ValueError):
                self._unsigned.remove(first)
        least = self.least if first is not None else 0
        while (
            self._unsigned and len(batch) < self.window and (len(batch) < least or self.hasher.known(self._unsigned[0]))
        ):
            candidate = self._unsigned.popleft()
            if candidate not in self._signed:
                batch.append(candidate)
        self._signing = True
        return sorted(batch)

    def _sign(self, numbers: list[int]) -> None:
        """Sign ``numbers`` (outside the lock; waits for the CRC of a part not hashed yet); a
        failed background batch is signed again on demand."""
        # Lifetimes are the API's (its clock); the margin absorbs ordinary clock skew, and an
        # expired URL is re-signed on storage's 403 anyway.
        signed: list[PartRequest] = []
        requested = time.time()
        try:
            parts = [(n, crc64nvme_b64(self.hasher.crc(n))) for n in numbers]
            requested = time.time()
            signed = self.api.sign_parts(self.upload_id, parts)
        finally:
            with self._changed:
                for request in signed:
                    self._signed[request.part_number] = (request, requested + self._lifetime(request))
                self._signing = False
                self._changed.notify_all()

    def _sign_ahead(self, numbers: list[int]) -> None:
        """Background signing: a failure only means the workers sign these parts when they get there."""
        with contextlib.suppress(UpvaultError):
            self._sign(numbers)

    @staticmethod
    def _lifetime(request: PresignedRequest) -> float:
        for pair in request.url.split("?", 1)[-1].split("&"):
            name, _, value = pair.partition("=")
            if name == "X-Amz-Expires" and value.isdigit():
                return float(value)
        return 300.0


class Uploader:
    """Uploads files through one API and one storage connection pool, on a shared worker pool."""

    def __init__(
        self,
        api: UpvaultApi,
        storage: Storage,
        pool: DaemonPool,
        *,
        parallel: int,
        journal: Journal | None,
        hint: PlanHint,
    ) -> None:
        self.api = api
        self.storage = storage
        self.pool = pool
        self.parallel = parallel
        self.journal = journal
        self.hint = hint
        self.sign_window = max(16, 4 * parallel)
        #: Set by :meth:`cancel_all`: every transfer stops, and no new one starts.
        self.stopped = threading.Event()
        self._active: set[threading.Event] = set()
        self._lock = threading.Lock()

    def cancel_all(self) -> None:
        """Stop every transfer now, from any thread; interrupted multipart uploads stay resumable."""
        self.stopped.set()
        with self._lock:
            for cancel in self._active:
                cancel.set()
        # Close the sockets of requests in flight: waiting for them could take minutes.
        self.storage.interrupt()

    @contextlib.contextmanager
    def _cancellation(self) -> Iterator[threading.Event]:
        """An event that stops one upload's transfers (set by its first failure or by cancel_all)."""
        cancel = threading.Event()
        with self._lock:
            if self.stopped.is_set():
                raise Cancelled("the client was cancelled")
            self._active.add(cancel)
        try:
            yield cancel
        finally:
            with self._lock:
                self._active.discard(cancel)

    def upload(
        self, source: Source, spec: FileSpec, on_progress: ProgressCallback | None
    ) -> tuple[str, FileInfo | None]:
        """Send the file; returns its id and, when the API already said, its record (pending)."""
        key = self._journal_key(source)
        if key is not None:
            resumed = self._resume(source, spec, key, on_progress)
            if resumed is not None:
                return resumed
        if self.hint.multipart(source.size):
            load_crc64nvme()  # in the background, while the declaration is in flight
        ticket = self._declare(source, spec, on_progress)
        if ticket.multipart is None:
            assert ticket.upload is not None
            self._put_single(source, ticket.upload, on_progress)
            return ticket.file_id, None
        plan = ticket.multipart
        entry = JournalEntry(
            upload_id=ticket.upload_id,
            file_id=ticket.file_id,
            filename=spec.filename,
            content_type=spec.content_type,
            category=spec.category,
            size=source.size,
            part_size=plan.part_size,
            part_count=plan.part_count,
            metadata=dict(spec.metadata),
        )
        if key is not None and self.journal is not None:
            self.journal.save(key, entry)
        info = self._send_parts(source, entry, {}, on_progress)
        if key is not None and self.journal is not None:
            self.journal.forget(key)
        return info.file_id, info

    # -- declaring ---------------------------------------------------------------------------
    def _declare(self, source: Source, spec: FileSpec, on_progress: ProgressCallback | None) -> UploadTicket:
        """Declare as the predicted plan needs (a single PUT's SHA-256, nothing for multipart);
        correct a wrong prediction once."""
        multipart = self.hint.multipart(source.size)
        digests: FileDigests | None = None
        for attempt in (1, 2):
            checksums: dict[str, str] = {}
            if not multipart:
                digests = digests or self._digest(source, on_progress)
                checksums = {"sha256": digests.sha256 or ""}
            declaration = Declaration(
                spec.filename, spec.content_type, source.size, spec.category, checksums, spec.metadata
            )
            try:
                ticket = self.api.declare(declaration)
            except InvalidInput as exc:
                # The API requires the other kind's checksum: it planned the other kind (and
                # says its threshold, when it is one that does).
                if attempt == 2 or not any(name.startswith("checksums.") for name in exc.fields()):
                    raise
                threshold = exc.problem.extras.get("multipart_threshold")
                if isinstance(threshold, int):
                    self.hint.know(threshold)
                else:
                    self.hint.learn(source.size, not multipart)
                multipart = self.hint.multipart(source.size)
                continue
            planned = ticket.multipart is not None
            self.hint.learn(source.size, planned)
            if planned != multipart:  # the checksum contract makes the API refuse this (422)
                raise UpvaultError(f"the API planned {spec.filename} otherwise than its checksum declares")
            return ticket
        raise UpvaultError(f"the API's threshold for {spec.filename} changed between two declarations")

    def _digest(self, source: Source, on_progress: ProgressCallback | None) -> FileDigests:
        counter = ByteCounter("checksum", source.size, on_progress)
        return digest(source, on_bytes=counter.add, cancelled=self.stopped)

    # -- sending -----------------------------------------------------------------------------
    def _put_single(self, source: Source, request: PresignedRequest, on_progress: ProgressCallback | None) -> None:
        counter = ByteCounter("upload", source.size, on_progress)
        with self._cancellation() as cancel:

            def put() -> str:
                return self.storage.put(
                    request,
                    lambda: source.chunks(0, source.size, CHUNK),
                    source.size,
                    on_bytes=counter.add,
                    cancelled=cancel,
                )

            self._run([put], cancel)

    def _send_parts(
        self,
        source: Source,
        entry: JournalEntry,
        stored: dict[int, tuple[str, int]],
        on_progress: ProgressCallback | None,
    ) -> FileInfo:
        """Upload the parts storage does not hold yet (``stored``: ETag and CRC by part), in
        parallel, then complete with the whole file's CRC64NVME combined from the parts'."""
        plan = MultipartPlan(part_size=entry.part_size, part_count=entry.part_count)
        missing = [number for number in range(1, plan.part_count + 1) if number not in stored]
        resumed = sum(plan.part_length(number, entry.size) for number in stored)
        counter = ByteCounter("upload", entry.size, on_progress, resumed=resumed)
        hasher = PartHasher(source, plan, entry.size, missing)
        signer = PartSigner(
            self.api, entry.upload_id, hasher, missing, self.sign_window, ahead=2 * self.parallel, least=self.parallel
        )
        try:
            with self._cancellation() as cancel:

                def send(number: int) -> Callable[[], str]:
                    return lambda: self._send_part(source, plan, entry.size, number, signer, counter, cancel)

                etags = self._run([send(number) for number in missing], cancel)
        finally:
            hasher.stop()
        sent = {number: (etag, hasher.crc(number)) for number, etag in zip(missing, etags, strict=True)}
        parts = {**stored, **sent}
        whole = 0
        for number in range(1, plan.part_count + 1):
            crc = parts[number][1]
            whole = crc if number == 1 else combine_crc64nvme(whole, crc, plan.part_length(number, entry.size))
        ordered = [(number, parts[number][0]) for number in range(1, plan.part_count + 1)]
        return self.api.complete(entry.upload_id, ordered, crc64nvme_b64(whole))

    def _send_part(
        self,
        source: Source,
        plan: MultipartPlan,
        size: int,
        number: int,
        signer: PartSigner,
        counter: ByteCounter,
        cancel: threading.Event,
    ) -> str:
        """Stream part ``number`` from the source with its signed URL; its ETag.

        The part is read chunk by chunk as it is sent (and again for a retry), never held whole:
        memory stays bounded by workers times chunk size. Its CRC64NVME came from the hashing thread and
        is signed into the URL, so storage refuses the part if the file changed in between.
        """
        if cancel.is_set():
            raise Cancelled
        start = (number - 1) * plan.part_size
        length = plan.part_length(number, size)
        return self.storage.put(
            signer.url_for(number),
            lambda: source.chunks(start, length, CHUNK),
            length,
            on_bytes=counter.add,
            resign=lambda: signer.resign(number),
            cancelled=cancel,
        )

    def _run(self, tasks: list[Callable[[], T]], cancel: threading.Event) -> list[T]:
        """Run tasks on the pool; the first failure (or Ctrl-C) cancels the others, and returns
        once those already running have stopped, so no request of a failed upload lands later."""
        futures: dict[Future[T], int] = {self.pool.submit(task): index for index, task in enumerate(tasks)}
        results: list[T | None] = [None] * len(tasks)
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
        except BaseException as exc:
            cancel.set()
            for future in futures:
                future.cancel()
            interrupted = isinstance(exc, KeyboardInterrupt)
            if interrupted:
                self.cancel_all()  # closes the connections: what still runs fails at once
            # A running part stops at its next chunk, or ends with its storage's answer; after
            # Ctrl-C, waiting is bounded (a stuck API call must not hold the user).
            wait(futures, timeout=INTERRUPT_GRACE if interrupted else None)
            raise
        return results  # type: ignore[return-value]  # every slot was filled

    # -- resuming ----------------------------------------------------------------------------
    def _journal_key(self, source: Source) -> str | None:
        if self.journal is None or source.identity is None:
            return None
        return Journal.key(self.api.base_url, source.identity)

    def _resume(
        self, source: Source, spec: FileSpec, key: str, on_progress: ProgressCallback | None
    ) -> tuple[str, FileInfo | None] | None:
        """Continue the journal's upload of this file; ``None`` when there is none to continue."""
        assert self.journal is not None
        entry = self.journal.load(key)
        if entry is None:
            return None
        same = entry.matches(
            filename=spec.filename, content_type=spec.content_type, category=spec.category, metadata=dict(spec.metadata)
        )
        if not same or entry.size != source.size:
            self._discard(key, entry)
            return None
        try:
            state = self.api.upload_state(entry.upload_id)
        except NotFound:
            self.journal.forget(key)  # aborted, expired, or another user's: start over
            return None
        except Conflict:
            self.journal.forget(key)  # completed after all (the client stopped right after)
            return entry.file_id, None
        if (state.size, state.part_size, state.part_count) != (entry.size, entry.part_size, entry.part_count):
            self._discard(key, entry)
            return None
        stored = self._stored_parts(source, entry, state.parts)
        info = self._send_parts(source, entry, stored, on_progress)
        self.journal.forget(key)
        return info.file_id, info

    def _stored_parts(self, source: Source, entry: JournalEntry, parts: list[StoredPart]) -> dict[int, tuple[str, int]]:
        """The stored parts that hold the file's bytes now: ETag and CRC64NVME by part number.

        Each is read back from the file and hashed (no upload: reading is far cheaper than
        sending), so a part stored with other bytes is sent again, and the whole file's
        CRC64NVME can be combined at completion.
        """
        plan = MultipartPlan(part_size=entry.part_size, part_count=entry.part_count)
        candidates = {
            part.part_number: part for part in parts if part.size == plan.part_length(part.part_number, entry.size)
        }
        numbers = sorted(candidates)
        crcs = part_crcs_by_reading(source, plan.part_size, plan.part_count, numbers)
        return {
            number: (candidates[number].etag, crc)
            for number, crc in zip(numbers, crcs, strict=True)
            if candidates[number].crc64nvme in (None, crc64nvme_b64(crc))
        }

    def _discard(self, key: str, entry: JournalEntry) -> None:
        """Drop an entry that no longer fits the file, aborting its upload (best effort)."""
        assert self.journal is not None
        with contextlib.suppress(UpvaultError):
            self.api.abort(entry.upload_id)
        self.journal.forget(key)
