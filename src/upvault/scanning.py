"""The hook for content scanners (malware, DLP, ...), called by the processor.

A scanner sees every object that passed validation and may reject it. The default does
nothing; a real one (ClamAV, a vendor API) implements :class:`Scanner` and is passed to the
:class:`~upvault.processing.Processor`.
"""

from __future__ import annotations

from typing import Protocol

from upvault.models import StoredObject
from upvault.storage import ObjectStore


class Scanner(Protocol):
    """Inspect a staged object; return a rejection reason or ``None`` to accept it."""

    def scan(self, store: ObjectStore, obj: StoredObject, leading: bytes) -> str | None:
        """Scan ``obj`` (``leading`` holds its first bytes); a string rejects it with that reason.

        ``obj.version_id`` is the version the processor pinned: a scanner that reads more of the
        object must read that version, never the latest (it could have changed under it).
        """
        ...


class NoopScanner:
    """Accepts everything: the default until a real scanner is configured."""

    def scan(self, store: ObjectStore, obj: StoredObject, leading: bytes) -> str | None:
        """Accept the object."""
        return None
