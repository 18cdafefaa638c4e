"""Validate a staged upload and move it to its final place (or to quarantine).

Per object the cost is fixed whatever its size: one HEAD, one ranged GET of at most 8 KiB, one
server-side copy, a short version listing and the deletes. Every step is idempotent, so
duplicate, redelivered and out-of-order events converge on the same final state: a staged
object either becomes visible under ``files/`` or is kept in ``quarantine/`` with its reason,
and the staged copy is only removed after that copy succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from upvault import object_metadata
from upvault.filenames import encode_header_value
from upvault.keys import ObjectKey, file_prefix
from upvault.models import Status
from upvault.scanning import NoopScanner, Scanner
from upvault.storage import ObjectStore
from upvault.validation import SNIFF_BYTES, verify_content


class Action(StrEnum):
    """What the processor did with one notification."""

    PROMOTED = "promoted"
    QUARANTINED = "quarantined"
    ALREADY_DONE = "already-done"
    IGNORED = "ignored"
    #: The staged object was gone, with no trace of a deletion: it expired before validation.
    EXPIRED = "expired"


#: The reason an expired upload shows (``GET /v1/files/{id}``: status ``rejected``).
EXPIRED_REASON = "expired before validation"


@dataclass(frozen=True)
class Outcome:
    """The result of processing one staged key."""

    action: Action
    key: str
    size: int = 0
    reason: str | None = None


class Processor:
    """Turns staged uploads into visible or quarantined files."""

    def __init__(self, store: ObjectStore, scanner: Scanner | None = None) -> None:
        self.store = store
        self.scanner: Scanner = scanner or NoopScanner()

    def process(self, key: str) -> Outcome:
        """Process the object a notification names (an already URL-decoded key)."""
        try:
            parsed = ObjectKey.parse(key)
        except ValueError as exc:
            # Not ours (or not in staging): retrying cannot help, and it must not loop.
            return Outcome(Action.IGNORED, key, reason=str(exc))
        if parsed.status is not Status.PENDING:
            return Outcome(Action.IGNORED, key, reason="not a staged object")

        obj = self.store.head(key)
        if obj is None:
            return self._already_processed(parsed)
        if object_metadata.is_placeholder(obj.metadata):
            return Outcome(Action.IGNORED, key, reason="multipart upload still in progress")

        leading = self.store.read_leading_bytes(key, SNIFF_BYTES) if obj.size > 0 else b""
        declared = object_metadata.declared_size(obj.metadata)
        if declared is None:
            reason: str | None = "upload carries no size declaration"
        else:
            reason = verify_content(
                declared_type=obj.content_type, declared_size=declared, actual_size=obj.size, leading=leading
            )
        if reason is None:
            reason = self.scanner.scan(self.store, obj, leading)

        metadata = dict(obj.metadata)
        if reason is None:
            destination, action = parsed.moved_to(Status.READY), Action.PROMOTED
        else:
            destination, action = parsed.moved_to(Status.REJECTED), Action.QUARANTINED
            metadata[object_metadata.REASON] = encode_header_value(reason)[:512]
        self.store.copy(
            key, str(destination), content_type=obj.content_type, metadata=metadata, source_version=obj.version_id
        )
        self.store.purge_up_to(key, obj.version_id)
        return Outcome(action, key, size=obj.size, reason=reason)

    def _already_processed(self, parsed: ObjectKey) -> Outcome:
        for status in (Status.READY, Status.REJECTED):
            if self.store.first_key(file_prefix(status, parsed.user, parsed.file_id)) is not None:
                return Outcome(Action.ALREADY_DONE, str(parsed), reason=f"already {status.value}")
        # A delete leaves a marker (and the data, for the retention): the upload was aborted or
        # deleted by its user, before validation or since. Nothing to show, nothing to report.
        places = (str(parsed), *(file_prefix(s, parsed.user, parsed.file_id) for s in (Status.READY, Status.REJECTED)))
        if any(self.store.has_history(place) for place in places):
            return Outcome(Action.IGNORED, str(parsed), reason="deleted (aborted, or deleted by its user)")
        return self._expired(parsed)

    def _expired(self, parsed: ObjectKey) -> Outcome:
        """No trace is left of an upload that was never processed: lifecycle expired it first.

        Its notification waited longer than staged objects are kept. The user must not see a
        file vanish: a zero-byte marker in ``quarantine/`` shows it ``rejected`` with the reason.
        """
        destination = str(parsed.moved_to(Status.REJECTED))
        self.store.put_placeholder(
            destination,
            content_type="application/octet-stream",
            metadata={object_metadata.REASON: encode_header_value(EXPIRED_REASON)},
        )
        return Outcome(Action.EXPIRED, str(parsed), reason=EXPIRED_REASON)
