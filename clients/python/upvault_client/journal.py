"""A small local journal of running multipart uploads, so an interrupted one resumes.

One JSON file per upload, named by a hash of (API, path, size, mtime): the same file uploaded
again to the same API finds its entry; a file that changed does not. The entry holds the upload
id and the declaration; the parts' CRC64NVME are computed again from the file when resuming
(only for the parts storage holds), so nothing is hashed before the first byte is sent.
Storage (through the API's parts endpoint) remains the truth about which parts arrived; the
journal only says where to ask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from upvault_client.sources import Identity

#: Entries older than this are dropped (S3 lifecycle and MinIO purge stale uploads after days).
MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True)
class JournalEntry:
    """A multipart upload in progress, as the client declared it."""

    upload_id: str
    file_id: str
    filename: str
    content_type: str
    category: str
    size: int
    part_size: int
    part_count: int
    metadata: dict[str, str] = field(default_factory=dict)

    def matches(self, *, filename: str, content_type: str, category: str, metadata: dict[str, str]) -> bool:
        """Whether this entry was declared the way the caller wants the file now."""
        return (self.filename, self.content_type, self.category, self.metadata) == (
            filename,
            content_type,
            category,
            metadata,
        )


class Journal:
    """Entries under ``directory`` (created 0700 on first write)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(api_url: str, identity: Identity | None = None) -> str:
        """The entry name of a file on disk for one API (or of the API alone)."""
        text = api_url if identity is None else f"{api_url}\n{identity.path}\n{identity.size}\n{identity.mtime_ns}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def load(self, key: str) -> JournalEntry | None:
        """The entry, or ``None`` (a damaged entry is dropped: resuming is an optimisation)."""
        path = self.directory / f"{key}.json"
        try:
            return JournalEntry(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)
            return None

    def save(self, key: str, entry: JournalEntry) -> None:
        """Write the entry atomically (a crash leaves the old one or the new one)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._prune()
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w") as handle:
                json.dump(asdict(entry), handle)
            os.replace(temporary, self.directory / f"{key}.json")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _prune(self) -> None:
        """Drop entries nobody resumed for a week (files that changed or were never uploaded
        again); storage discards their unfinished uploads on its own schedule."""
        cutoff = time.time() - MAX_AGE
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def forget(self, key: str) -> None:
        """Remove the entry (the upload completed, or cannot be resumed)."""
        (self.directory / f"{key}.json").unlink(missing_ok=True)

    def entries(self) -> list[JournalEntry]:
        """Every entry (for tools that list unfinished uploads)."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            entry = self.load(path.stem)
            if entry is not None:
                found.append(entry)
        return found
