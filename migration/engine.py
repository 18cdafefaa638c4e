"""Plan, copy, verify and report one migration run.

For each source object the run decides, in parallel:

* **skip** when the destination already holds it: the journal says this exact source version
  was copied to this exact destination version, or the ETags are equal plain MD5s, or the
  stored (or, failing that, streamed) CRC64NVME checksums are equal;
* otherwise **copy** it (server-side when both sides are one server and one identity; through
  memory for small objects; through a temporary file and the transfer manager for large ones),
  verify the copy, and journal it.

Nothing at the source is ever written; ``delete_source`` removes a source object only after its
copy was verified (for objects mapped into Upvault's layout: only after the processor accepted
them). A destination that goes away (or a full disk) stops the run; what was verified is in the
journal, and the next run continues from there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from migration.errors import ObjectFailed, RunAborted
from migration.journal import Journal, Record
from migration.mapping import AREAS, Filters, Mapper, Target
from migration.stores import Checksum, Entry, ObjectMeta, Store, Written, is_plain_md5
from upvault import object_metadata
from upvault.filenames import decode_header_value

MIB = 1024 * 1024


@dataclass(frozen=True)
class Options:
    """How a run behaves (the command's flags)."""

    parallel: int
    dry_run: bool = False
    verify_only: bool = False
    delete_source: bool = False
    #: Objects up to this size go through memory in one request; larger ones through a file.
    memory_limit: int = 16 * MIB
    #: Mapped objects up to this size are single PUTs with SHA-256 (as API uploads are), larger
    #: ones multipart with a full-object CRC64NVME.
    single_put_limit: int = 100 * MIB
    #: Seconds to wait for the processor to settle mapped objects; ``None``: do not wait.
    wait: float | None = None


@dataclass
class Report:
    """What a run did, object by object; :meth:`as_dict` is the JSON report."""

    source: str
    destination: str
    layout: str
    dry_run: bool
    verify_only: bool
    copied: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)
    deleted_source: list[str] = field(default_factory=list)
    not_attempted: int = 0
    aborted: str | None = None
    bytes_copied: int = 0
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing was rejected, the run was not cut short."""
        return not (self.failed or self.rejected or self.aborted or self.not_attempted)

    def as_dict(self) -> dict[str, Any]:
        """The JSON report."""
        seconds = max(self.duration, 1e-9)
        counts = {
            "copied": len(self.copied),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "rejected": len(self.rejected),
            "planned": len(self.planned),
            "deleted_source": len(self.deleted_source),
            "not_attempted": self.not_attempted,
        }
        return {
            "ok": self.ok,
            "source": self.source,
            "destination": self.destination,
            "layout": self.layout,
            "dry_run": self.dry_run,
            "verify_only": self.verify_only,
            "aborted": self.aborted,
            "counts": counts,
            "bytes_copied": self.bytes_copied,
            "bytes_planned": sum(item["bytes"] for item in self.planned),
            "duration_s": round(self.duration, 3),
            "objects_per_s": round(len(self.copied) / seconds, 1),
            "mb_per_s": round(self.bytes_copied / seconds / 1e6, 2),
            "copied": self.copied,
            "skipped": self.skipped,
            "failed": self.failed,
            "rejected": self.rejected,
            "planned": self.planned,
            "deleted_source": self.deleted_source,
        }


@dataclass(frozen=True)
class _Outcome:
    kind: str
    entry: Entry
    detail: dict[str, Any]


#: Progress callback: (objects done, bytes done) increments.
Progress = Callable[[int, int], None]


class Migration:
    """One run from ``source`` to ``destination``."""

    def __init__(
        self,
        source: Store,
        destination: Store,
        mapper: Mapper,
        filters: Filters,
        journal: Journal,
        options: Options,
        report: Report,
        on_progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.destination = destination
        self.mapper = mapper
        self.filters = filters
        self.journal = journal
        self.options = options
        self.report = report
        self.on_progress = on_progress or (lambda objects, size: None)
        #: Called once with the planned object count and bytes, before copying starts.
        self.on_start: Progress = lambda objects, size: None
        self._stop = threading.Event()
        self.server_side = (
            not mapper.mapped
            and source.server_side_group is not None
            and source.server_side_group == destination.server_side_group
        )

    # -- planning ------------------------------------------------------------------------------

    def plan(self) -> list[tuple[Entry, Target]]:
        """The source objects this run takes, each with its destination (rejections reported)."""
        work = []
        for entry in self.source.list():
            if not self.filters.accepts(entry, self.mapper.facts(entry)):
                continue
            target = self.mapper.target(entry)
            if target.rejected:
                self.report.rejected.append({"key": entry.key, "reason": target.rejected})
                continue
            work.append((entry, target))
        return work

    def destination_index(self) -> dict[str, Entry]:
        """What the destination holds, by the lookup key of a target (its key, or for mapped
        objects its suffix, whichever area the processor moved it to)."""
        if not self.mapper.mapped:
            return {entry.key: entry for entry in self.destination.list()}
        index: dict[str, Entry] = {}
        # Later areas win: files/ and quarantine/ are final, staging/ is not.
        for area in AREAS:
            for entry in self.destination.list(area):
                index[entry.key.removeprefix(area)] = entry
        return index

    # -- the run -------------------------------------------------------------------------------

    def run(self, work: list[tuple[Entry, Target]], index: dict[str, Entry]) -> None:
        """Decide, copy and verify every planned object, in parallel; fill the report."""
        started = time.perf_counter()
        self.on_start(len(work), sum(entry.size for entry, _ in work))
        pool = ThreadPoolExecutor(self.options.parallel, thread_name_prefix="migrate")
        futures: dict[Future[_Outcome], Entry] = {
            pool.submit(self._one, entry, target, index.get(target.suffix or target.key)): entry
            for entry, target in work
        }
        pending = set(futures)
        try:
            for future in as_completed(futures):
                pending.discard(future)
                self._collect(future, futures[future])
        except KeyboardInterrupt:
            # Ctrl-C: objects in flight finish (and are journaled), the rest are not started.
            self._stop.set()
            self.report.aborted = "interrupted (Ctrl-C); run the same command again to continue"
            pool.shutdown(wait=True, cancel_futures=True)
            for future in pending:
                if future.cancelled():
                    self.report.not_attempted += 1
                else:
                    self._collect(future, futures[future])
        finally:
            pool.shutdown(wait=True)
        self.report.duration = time.perf_counter() - started

    def _collect(self, future: Future[_Outcome], entry: Entry) -> None:
        try:
            outcome = future.result()
        except RunAborted as exc:
            if self.report.aborted is None:
                self.report.aborted = str(exc)
            self._stop.set()
            self.report.failed.append({"key": entry.key, "reason": str(exc)})
            return
        self._record(outcome)

    def _record(self, outcome: _Outcome) -> None:
        report = self.report
        if outcome.kind == "not-attempted":
            report.not_attempted += 1
            return
        lists = {
            "copied": report.copied,
            "skipped": report.skipped,
            "failed": report.failed,
            "rejected": report.rejected,
            "planned": report.planned,
        }
        lists[outcome.kind].append({"key": outcome.entry.key, **outcome.detail})
        copied = outcome.entry.size if outcome.kind == "copied" else 0
        report.bytes_copied += copied
        self.on_progress(1, copied)

    def _one(self, entry: Entry, target: Target, existing: Entry | None) -> _Outcome:
        if self._stop.is_set():
            return _Outcome("not-attempted", entry, {})
        try:
            return self._decide_and_copy(entry, target, existing)
        except ObjectFailed as exc:
            return _Outcome("failed", entry, {"reason": str(exc)})
        except (RunAborted, KeyboardInterrupt):
            raise
        except Exception as exc:
            # A bug must not end a run of thousands of objects with a traceback: it is this
            # object's failure, with its type and message in the report, and the exit code is 1.
            return _Outcome("failed", entry, {"reason": f"unexpected {type(exc).__name__}: {exc}"})

    def _decide_and_copy(self, entry: Entry, target: Target, existing: Entry | None) -> _Outcome:
        dest = {"destination": existing.key if existing else target.key}
        if existing is not None:
            same, how = self._same(entry, target, existing)
            if same:
                final = self._final_status(existing) if target.mapped else None
                if final is not None and final.get("rejected"):
                    return _Outcome("rejected", entry, {**dest, "reason": final["rejected"]})
                if how != "journal" and not (self.options.dry_run or self.options.verify_only):
                    # Proven equal the expensive way once: later runs trust the journal.
                    self._journal(Record(entry.key, entry.version, entry.size, existing.key, existing.version, ""))
                self._maybe_delete_source(entry, target, existing)
                return _Outcome("skipped", entry, {**dest, "reason": f"unchanged ({how})"})
            if self.options.verify_only:
                return _Outcome("failed", entry, {**dest, "reason": f"destination differs: {how}"})
        elif self.options.verify_only:
            return _Outcome("failed", entry, {**dest, "reason": "missing at the destination"})
        if self.options.dry_run:
            return _Outcome("planned", entry, {**dest, "bytes": entry.size, "action": "copy"})
        method, target, written = self._copy(entry, target)
        if target.rejected:
            return _Outcome("rejected", entry, {"reason": target.rejected})
        self._journal(Record(entry.key, entry.version, entry.size, target.key, written.version, written.checksum))
        if self.options.delete_source and not target.mapped:
            self.source.delete(entry.key)
            self.report.deleted_source.append(entry.key)
        return _Outcome("copied", entry, {"destination": target.key, "bytes": entry.size, "method": method})

    def _journal(self, record: Record) -> None:
        try:
            self.journal.add(record)
        except OSError as exc:
            raise RunAborted(f"cannot write the journal {self.journal.path}: {exc.strerror}") from None

    # -- equality ------------------------------------------------------------------------------

    def _same(self, entry: Entry, target: Target, existing: Entry) -> tuple[bool, str]:
        """Whether ``existing`` holds the same bytes as ``entry``, cheapest evidence first."""
        if existing.size != entry.size:
            return False, f"size {existing.size} ≠ {entry.size}"
        if self._journaled(entry, target, existing):
            return True, "journal"
        if is_plain_md5(entry.etag) and entry.etag == existing.etag:
            return True, "etag"
        source_crc = self._crc(self.source, entry.key)
        if source_crc == self._crc(self.destination, existing.key):
            return True, "checksum"
        return False, "checksum differs"

    def _journaled(self, entry: Entry, target: Target, existing: Entry) -> bool:
        """This source version was verified at this destination version by an earlier run."""
        record = self.journal.get(entry.key)
        if record is None or self.options.verify_only or record.source_version != entry.version:
            return False
        # Mapped files move between areas (the processor copies them): the derived file id
        # already pins the source version, so presence with the right size is enough.
        return target.mapped or (record.destination == existing.key and record.destination_version == existing.version)

    @staticmethod
    def _crc(store: Store, key: str) -> str:
        meta = store.head(key)
        if meta is not None and meta.crc64nvme:
            return meta.crc64nvme
        return store.digest(key).crc64nvme

    # -- copying -------------------------------------------------------------------------------

    def _copy(self, entry: Entry, target: Target) -> tuple[str, Target, Written]:
        if self.server_side:
            return "server-side copy", target, self._copy_server_side(entry, target)
        mapped = target.mapped
        single = entry.size <= self.options.single_put_limit
        algorithm = "SHA256" if mapped and single else "CRC64NVME"
        if entry.size <= self.options.memory_limit:
            data, meta, digest = self.source.read(entry, sha256=algorithm == "SHA256")
            target, meta = self.mapper.declare(target, entry, meta, digest.sha256 if mapped else None)
            if target.rejected:
                return "", target, Written("", "")
            written = self.destination.write(target.key, data, meta, self._checksum(algorithm, digest.value(algorithm)))
            return "put", target, written
        if algorithm == "SHA256":
            # A single PUT signed with its SHA-256 needs the digest first: through a local file.
            with self.source.local_copy(entry, sha256=True) as (path, meta, digest):
                target, meta = self.mapper.declare(target, entry, meta, digest.sha256)
                if target.rejected:
                    return "", target, Written("", "")
                checksum = self._checksum(algorithm, digest.sha256)
                return "transfer manager", target, self.destination.write_file(target.key, path, meta, checksum)
        with self.source.open_stream(entry) as (reader, meta):
            target, meta = self.mapper.declare(target, entry, meta, None)
            if target.rejected:
                return "", target, Written("", "")
            written = self.destination.write_stream(target.key, reader, meta)
        return "transfer manager", target, written

    @staticmethod
    def _checksum(algorithm: str, value: str | None) -> Checksum:
        assert value is not None
        return Checksum(algorithm, value)

    def _copy_server_side(self, entry: Entry, target: Target) -> Written:
        meta = self.source.head(entry.key)
        if meta is None:
            raise ObjectFailed("vanished from the source before it was copied")
        written = self.destination.copy_from(self.source, entry, target.key, meta)
        if is_plain_md5(entry.etag) and written.version == entry.etag:
            return written
        copied = Entry(target.key, entry.size, entry.mtime, written.version, written.version)
        same, how = self._same(entry, target, copied)
        if not same:
            raise ObjectFailed(f"verification failed after server-side copy: {how}")
        return written

    # -- after the copy ------------------------------------------------------------------------

    def _final_status(self, existing: Entry) -> dict[str, str] | None:
        """For a mapped file: accepted (in files/) or rejected with the processor's reason."""
        if existing.key.startswith(AREAS[2]):
            meta = self.destination.head(existing.key)
            reason = (meta.metadata if meta else {}).get(object_metadata.REASON, "")
            return {"rejected": decode_header_value(reason) or "rejected by the processor"}
        if existing.key.startswith(AREAS[1]):
            return {"accepted": existing.key}
        return None

    def _maybe_delete_source(self, entry: Entry, target: Target, existing: Entry) -> None:
        if not self.options.delete_source or self.options.dry_run or self.options.verify_only:
            return
        if target.mapped and not existing.key.startswith(AREAS[1]):
            return  # only once the processor made it visible
        self.source.delete(entry.key)
        self.report.deleted_source.append(entry.key)

    def wait_for_processor(self, work: list[tuple[Entry, Target]]) -> None:
        """Poll until the processor settled every mapped object this run copied (or time runs out).

        Accepted ones stay in ``copied``; rejected ones move to ``rejected`` with the processor's
        reason; ones still pending when time runs out are failures.
        """
        if self.options.wait is None or not self.mapper.mapped:
            return
        copied = {item["key"] for item in self.report.copied}
        pending = {target.suffix: entry for entry, target in work if entry.key in copied and target.suffix}
        deadline = time.monotonic() + self.options.wait
        while pending:
            index = self.destination_index()
            for suffix, entry in list(pending.items()):
                existing = index.get(suffix)
                final = self._final_status(existing) if existing is not None else None
                if existing is None or final is None:
                    continue
                del pending[suffix]
                if "rejected" in final:
                    self.report.copied = [item for item in self.report.copied if item["key"] != entry.key]
                    self.report.rejected.append(
                        {"key": entry.key, "destination": existing.key, "reason": final["rejected"]}
                    )
                else:
                    self._maybe_delete_source(entry, Target(existing.key, suffix=suffix), existing)
            if pending and time.monotonic() > deadline:
                reason = f"still pending after {self.options.wait:.0f} s: is the processor running?"
                self.report.failed.extend({"key": entry.key, "reason": reason} for entry in pending.values())
                return
            if pending:
                time.sleep(0.5)


def run_migration(migration: Migration) -> Report:
    """Plan, run and (for mapped objects) wait for the processor; the filled report."""
    # Both listings at once: each is mostly waiting for its server.
    with ThreadPoolExecutor(1, thread_name_prefix="list-destination") as lister:
        index = lister.submit(migration.destination_index)
        work = migration.plan()
        migration.run(work, index.result())
    if not (migration.options.dry_run or migration.options.verify_only):
        migration.wait_for_processor(work)
    return migration.report


__all__ = ["Migration", "ObjectMeta", "Options", "Report", "run_migration"]
