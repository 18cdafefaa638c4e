"""Validate a staged upload and move it to its final place (or to quarantine).

One staged *version* is processed at a time: the version the notification names (or, without
one, the latest the HEAD sees), pinned for every step (size check, magic-byte read, scan, copy),
so bytes that change under the processor can never be published unvalidated. Per object the
cost is fixed whatever its size: one HEAD, three short version listings, one ranged GET of at
most 8 KiB, one server-side copy, one delete.

The rules, in the order they apply:

* **Only uploads are promoted.** A server-side copy (``ObjectCreated:Copy``: MinIO lets an
  unsigned ``x-amz-copy-source`` turn a presigned PUT into one), or an object whose checksum
  storage holds is not the one the client declared and signed (for a multipart upload: no
  full-object CRC64NVME, or another than the declared one), is rejected, and its bytes (maybe
  another user's) are not kept: the quarantine entry is empty and carries the reason.
* **A file id has one life** (pending → ready | rejected → deleted → restored). A version that
  arrives when the file is already ready, rejected or deleted (a replayed URL, a late event) is
  recorded as such and removed; it never replaces or revives anything.
* **A delete wins.** The API deletes a pending file by deleting its staged key, then removes any
  copy the processor made meanwhile; the processor, after its copy, looks for that delete and
  removes its own copy. Whichever comes second sees the other.

Every step is idempotent: duplicate, redelivered and out-of-order events converge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from upvault import object_metadata
from upvault.filenames import encode_header_value
from upvault.keys import ObjectKey, file_prefix
from upvault.models import Status, StoredObject
from upvault.scanning import NoopScanner, Scanner
from upvault.storage import ObjectStore
from upvault.validation import SNIFF_BYTES, extension_error, verified_checksums, verify_content

#: Event names of the requests that upload bytes (S3's, as the local bridge normalises MinIO's).
UPLOAD_EVENTS = frozenset({"ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:CompleteMultipartUpload"})
COPY_EVENT = "ObjectCreated:Copy"


class Action(StrEnum):
    """What the processor did with one notification."""

    PROMOTED = "promoted"
    QUARANTINED = "quarantined"
    ALREADY_DONE = "already-done"
    DELETED = "deleted-while-processing"
    IGNORED = "ignored"
    #: The staged object was gone, with no trace of a deletion: it expired before validation.
    EXPIRED = "expired"


#: The reason an expired upload shows (``GET /v1/files/{id}``: status ``rejected``).
EXPIRED_REASON = "expired before validation"


@dataclass(frozen=True)
class Outcome:
    """The result of processing one staged version."""

    action: Action
    key: str
    size: int = 0
    reason: str | None = None
    version_id: str | None = None


class Processor:
    """Turns staged uploads into visible or quarantined files."""

    def __init__(self, store: ObjectStore, scanner: Scanner | None = None) -> None:
        self.store = store
        self.scanner: Scanner = scanner or NoopScanner()

    def process(self, key: str, *, version_id: str | None = None, event: str = "ObjectCreated:Put") -> Outcome:
        """Process the staged version a notification names (an already URL-decoded key).

        ``version_id`` is the notification's (S3 and MinIO send it on a versioned bucket); without
        it the latest version is pinned. ``event`` is S3's event name.
        """
        try:
            parsed = ObjectKey.parse(key)
        except ValueError as exc:
            # Not ours (or not in staging): retrying cannot help, and it must not loop.
            return Outcome(Action.IGNORED, key, reason=str(exc))
        if parsed.status is not Status.PENDING:
            return Outcome(Action.IGNORED, key, reason="not a staged object")
        if event != COPY_EVENT and event not in UPLOAD_EVENTS:
            return Outcome(Action.IGNORED, key, reason=f"{event} is not an upload")

        obj = self.store.head(key, version_id=version_id)
        if obj is None:
            return self._gone(parsed)
        if object_metadata.is_placeholder(obj.metadata):
            return Outcome(Action.IGNORED, key, reason="multipart upload still in progress")
        version = obj.version_id

        ended = self._life_over(parsed)
        if ended:
            # A replay or a late event: the file's one life is decided; drop these bytes.
            self.store.purge_up_to(key, version)
            return Outcome(Action.ALREADY_DONE, key, reason=ended, version_id=version)

        reason, keep_bytes = self._verify(parsed, obj, event)
        metadata = dict(obj.metadata)
        if reason is None:
            destination, action = parsed.moved_to(Status.READY), Action.PROMOTED
        else:
            destination, action = parsed.moved_to(Status.REJECTED), Action.QUARANTINED
            metadata[object_metadata.REASON] = encode_header_value(reason)[:512]
        if keep_bytes:
            self.store.copy(
                key,
                str(destination),
                content_type=obj.content_type,
                metadata=metadata,
                source_version=version,
                checksum_algorithm=_algorithm_of(obj),
            )
        else:
            self.store.put_empty(str(destination), content_type=obj.content_type, metadata=metadata)
        if self._deleted_by_owner(key):
            # The owner deleted the file while we worked: the delete wins over our copy.
            self.store.delete(str(destination))
            action, reason = Action.DELETED, "deleted by its owner while it was processed"
        self.store.purge_up_to(key, version)
        return Outcome(action, key, size=obj.size, reason=reason, version_id=version)

    def _verify(self, parsed: ObjectKey, obj: StoredObject, event: str) -> tuple[str | None, bool]:
        """The rejection reason (``None`` to promote), and whether the bytes may be kept."""
        if event == COPY_EVENT:
            return "a server-side copy is not an upload", False
        reason = _unverified(obj)
        if reason:
            # Not the bytes the client declared and signed: a copy, or a store that let it in.
            return reason, False
        declared_size = object_metadata.declared_size(obj.metadata)
        if declared_size is None:
            return "upload carries no size declaration", True
        name = object_metadata.display_name(obj.metadata, parsed.safe_name)
        reason = extension_error(name, obj.content_type)
        if reason:
            return reason, True
        leading = self.store.read_leading_bytes(obj.key, SNIFF_BYTES, version_id=obj.version_id) if obj.size else b""
        reason = verify_content(
            declared_type=obj.content_type, declared_size=declared_size, actual_size=obj.size, leading=leading
        )
        return reason or self.scanner.scan(self.store, obj, leading), True

    def _life_over(self, parsed: ObjectKey) -> str | None:
        """Why the file's one life is already decided, or ``None`` while it is pending."""
        for status in (Status.READY, Status.REJECTED):
            if self.store.versions(file_prefix(status, parsed.user, parsed.file_id)):
                return f"the file is already {status.value} (or was, and was deleted)"
        if self._deleted_by_owner(str(parsed)):
            return "the file was deleted by its owner"
        return None

    def _deleted_by_owner(self, key: str) -> bool:
        # The processor never writes delete markers in staging (it removes versions by id):
        # a marker there is the owner's delete (or the abort of the upload).
        return any(entry.is_delete_marker for entry in self.store.versions(key) if entry.key == key)

    def _gone(self, parsed: ObjectKey) -> Outcome:
        ended = self._life_over(parsed)
        if ended:
            return Outcome(Action.ALREADY_DONE, str(parsed), reason=ended)
        key = str(parsed)
        if any(entry.key == key for entry in self.store.versions(key)):
            # A trace is left (a newer version, or one removed by id: an abort or a completion
            # racing it): not lost to retention; that version's own event decides.
            return Outcome(Action.IGNORED, key, reason="object no longer exists (aborted or superseded)")
        return self._expired(parsed)

    def _expired(self, parsed: ObjectKey) -> Outcome:
        """No trace is left of an upload that was never processed: lifecycle expired it first.

        Its notification waited longer than staged objects are kept. The user must not see a
        file vanish: a zero-byte marker in ``quarantine/`` shows it ``rejected`` with the reason.
        """
        destination = str(parsed.moved_to(Status.REJECTED))
        self.store.put_empty(
            destination,
            content_type="application/octet-stream",
            metadata={object_metadata.REASON: encode_header_value(EXPIRED_REASON)},
        )
        return Outcome(Action.EXPIRED, str(parsed), reason=EXPIRED_REASON)


def _unverified(obj: StoredObject) -> str | None:
    """Why storage's checksums do not prove ``obj`` is the declared upload, or ``None``.

    A single PUT declared (and signed) its SHA-256: storage must hold that one. A multipart
    upload must hold a full-object CRC64NVME, which storage computed over the parts and checked
    against the value given at completion; when the declaration carried one, the same value.
    """
    declared = object_metadata.declared_checksums(obj.metadata)
    stored = verified_checksums(obj)
    if declared.sha256:
        if stored.sha256 != declared.sha256:
            return "storage did not verify the declared checksum: not the declared upload"
        return None
    if not object_metadata.requires_crc64nvme(obj.metadata):
        return "upload declared no checksum"
    if not stored.crc64nvme:
        return "storage holds no full-object CRC64NVME for this multipart upload: not the declared upload"
    if declared.crc64nvme and stored.crc64nvme != declared.crc64nvme:
        return "storage did not verify the declared checksum: not the declared upload"
    return None


def _algorithm_of(obj: StoredObject) -> str | None:
    """The checksum storage computes over the copy: the one it verified on upload."""
    if obj.checksum_crc64nvme:
        return "CRC64NVME"
    if obj.checksum_sha256:
        return "SHA256"
    return None
