"""What earlier runs copied: a small append-only JSON-lines file per source/destination pair.

Each verified copy appends one line (written out at least every second and when the run ends),
so a run that is interrupted, or whose destination goes away, loses at most the objects in
flight and the last second of lines; the next run skips every object
whose source and destination are both unchanged since the line was written, without reading
or hashing either. Without a journal (deleted, another machine) a rerun still skips equal
objects: it compares sizes and checksums instead, which costs more requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from migration.errors import MigrationError


@dataclass(frozen=True)
class Record:
    """One verified copy."""

    source: str
    source_version: str
    size: int
    destination: str
    destination_version: str
    checksum: str


def default_path(source: str, destination: str, layout: str) -> Path:
    """``$XDG_STATE_HOME/upvault/migrate/<hash of the pair>.jsonl`` (``~/.local/state`` by default)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = hashlib.sha256(f"{source}\n{destination}\n{layout}".encode()).hexdigest()[:24]
    return Path(state) / "upvault" / "migrate" / f"{name}.jsonl"


class Journal:
    """Records of earlier runs (last one per source key wins) and the file new ones go to."""

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.records: dict[str, Record] = {}
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._flushed = time.monotonic()
        if path.exists():
            self._load()
        if writable:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise MigrationError(f"cannot write the journal {path}: {exc.strerror}") from None

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    raw: dict[str, Any] = json.loads(line)
                    record = Record(**raw)
                except (ValueError, TypeError):
                    # A line cut short by a crash or a full disk: the object is simply copied again.
                    continue
                self.records[record.source] = record

    def get(self, source: str) -> Record | None:
        """The last verified copy of a source key."""
        return self.records.get(source)

    def add(self, record: Record) -> None:
        """Append a verified copy; written out at least every second and when the run ends."""
        self.records[record.source] = record
        if self._file is None:
            return
        line = json.dumps(asdict(record), separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            # A flush per object is a system call per object; a crash loses at most a second of
            # lines, and those objects are then found equal by their ETags or checksums instead.
            now = time.monotonic()
            if now - self._flushed > 1.0:
                self._file.flush()
                self._flushed = now

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
