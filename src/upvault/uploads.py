"""Starting, resuming, completing and aborting uploads.

Bytes never pass through here: the service validates a declaration, decides the key, and
presigns requests whose size, type, checksums and metadata are bound to the signature.

A multipart upload additionally leaves a zero-byte *placeholder* at its staging key, carrying
the declaration as metadata: storage's multipart listings return no metadata, and resuming
needs the declared size to re-sign parts. The processor ignores placeholders; completing the
upload writes the real object over it.

An upload has no id of its own: the API's ``upload_id`` is the file id, and S3's id of the
multipart upload (``multipart_id``) never leaves this module and :mod:`upvault.storage`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from upvault import object_metadata
from upvault.errors import BadPartList, ChecksumMismatch, Conflict, UploadNotFound, field_error
from upvault.filenames import clean_display_name, safe_key_name
from upvault.keys import LOOKUP_ORDER, ObjectKey, file_prefix, new_file_id
from upvault.models import (
    Checksums,
    MultipartPlan,
    PartUrl,
    Status,
    StoredObject,
    StoredPart,
    UploadProgress,
    UploadRequest,
    UploadTicket,
)
from upvault.settings import MAX_PARTS, MAX_SINGLE_PUT, MIB, Settings
from upvault.storage import ObjectStore, StorageRejected
from upvault.validation import (
    check_checksums,
    check_metadata,
    check_part_checksums,
    check_upload,
    normalise_content_type,
)


def plan_parts(size: int, part_size: int) -> MultipartPlan:
    """Cut ``size`` bytes into at most 10,000 parts, growing the part size (in MiB) if needed."""
    needed = math.ceil(size / MAX_PARTS)
    if needed > part_size:
        part_size = math.ceil(needed / MIB) * MIB
    return MultipartPlan(part_size=part_size, part_count=max(1, math.ceil(size / part_size)), size=size)


class UploadService:
    """Upload use cases for one deployment (settings + bucket)."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self.settings = settings
        self.store = store

    @property
    def multipart_threshold(self) -> int:
        """Files above this many bytes are uploaded in parts (the setting, at most 5 GiB)."""
        return min(self.settings.multipart_threshold, MAX_SINGLE_PUT)

    def is_multipart(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is uploaded in parts."""
        return size > self.multipart_threshold

    def _expiry(self) -> datetime:
        # A multipart plan carries no URL yet: its part URLs, fetched next, live this long.
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.settings.put_url_expiry)

    def start_upload(self, user: str, request: UploadRequest) -> UploadTicket:
        """Validate a declaration and hand out where and how to upload it."""
        name = clean_display_name(request.filename)
        content_type = normalise_content_type(request.content_type)
        check_upload(
            self.settings, category=request.category, content_type=content_type, size=request.size, display_name=name
        )
        multipart = self.is_multipart(request.size)
        check_checksums(request.checksums, multipart=multipart, threshold=self.multipart_threshold)
        check_metadata(self.settings, request.metadata)

        file_id = new_file_id(request.category)
        key = ObjectKey(Status.PENDING, user, request.category, file_id, safe_key_name(name))
        metadata = object_metadata.build(
            display_name=name, size=request.size, checksums=request.checksums, client=request.metadata
        )
        plan = plan_parts(request.size, self.settings.part_size) if multipart else None
        stored = (
            {**metadata, object_metadata.PLACEHOLDER: "1", object_metadata.PART_SIZE: str(plan.part_size)}
            if plan
            else metadata
        )
        _check_stored_size(stored, metadata[object_metadata.NAME])
        if plan is None:
            assert request.checksums.sha256 is not None  # check_checksums requires it
            single = self.store.presign_put(
                str(key),
                content_type=content_type,
                content_length=request.size,
                metadata=metadata,
                sha256=request.checksums.sha256,
                md5=request.checksums.md5,
            )
            return UploadTicket(file_id=file_id, expires_at=single.expires_at, single=single)

        self.store.put_empty(str(key), content_type=content_type, metadata=stored)
        self.store.create_multipart(str(key), content_type=content_type, metadata=metadata)
        return UploadTicket(file_id=file_id, expires_at=self._expiry(), multipart=plan)

    def _open(self, user: str, file_id: str) -> _OpenUpload:
        """A running multipart upload with its plan and the parts storage holds (or 404/409)."""
        prefix = file_prefix(Status.PENDING, user, file_id)
        found = self.store.find_multipart(prefix)
        if found is None:
            self._raise_finished_or_missing(user, file_id)
        key, multipart_id = found
        placeholder = self.store.head(key)
        if placeholder is None or not object_metadata.is_placeholder(placeholder.metadata):
            # A completed object sits at the key: the upload was completed meanwhile.
            raise Conflict(f"upload {file_id} is already complete")
        stored = self.store.list_parts(key, multipart_id)
        if stored is None:
            self._raise_finished_or_missing(user, file_id)
        return _OpenUpload(key, multipart_id, placeholder, self._plan_of(placeholder), stored)

    def _raise_finished_or_missing(self, user: str, file_id: str) -> NoReturn:
        for status in LOOKUP_ORDER:
            key = self.store.first_key(file_prefix(status, user, file_id))
            if key is None:
                continue
            if status is not Status.PENDING:
                raise Conflict(f"upload {file_id} is already complete")
            found = self.store.head(key)
            # Gone between the listing and the HEAD (an abort): missing, not complete.
            if found is not None and not object_metadata.is_placeholder(found.metadata):
                raise Conflict(f"upload {file_id} is already complete")
        raise UploadNotFound(file_id)

    def _plan_of(self, placeholder: StoredObject) -> MultipartPlan:
        size = object_metadata.declared_size(placeholder.metadata) or 0
        recorded = placeholder.metadata.get(object_metadata.PART_SIZE, "")
        return plan_parts(size, int(recorded) if recorded.isdigit() else self.settings.part_size)

    def progress(
        self,
        user: str,
        file_id: str,
        *,
        part_checksums: dict[int, Checksums] | None = None,
        only: list[int] | None = None,
    ) -> UploadProgress:
        """Parts already stored and fresh URLs for the missing ones (to start or resume).

        A part given its own ``crc64nvme`` (and ``md5``) gets a URL that signs them, so storage
        verifies that part's bytes as they arrive.
        """
        part_checksums = part_checksums or {}
        check_part_checksums(part_checksums)
        upload = self._open(user, file_id)
        plan = upload.plan
        for number in [*(only or []), *part_checksums]:
            if not 1 <= number <= plan.part_count:
                raise BadPartList(f"part number {number} is outside 1..{plan.part_count}")
        have = {part.part_number for part in upload.stored if part.size == plan.part_length(part.part_number)}
        wanted = only if only else [n for n in range(1, plan.part_count + 1) if n not in have]
        missing = [
            PartUrl(
                n,
                plan.part_length(n),
                self.store.presign_part(upload.key, upload.multipart_id, n, plan.part_length(n), part_checksums.get(n)),
            )
            for n in wanted
        ]
        expires_at = min((part.request.expires_at for part in missing), default=self._expiry())
        return UploadProgress(file_id=file_id, plan=plan, stored=upload.stored, missing=missing, expires_at=expires_at)

    def complete(self, user: str, file_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the parts after checking them against the plan and what storage holds.

        Storage gets the parts as it listed them (its own ETags and part checksums), the whole
        file's declared CRC64NVME and the placeholder's ETag as a precondition: it verifies the
        file end to end, and of concurrent completions exactly one succeeds; the others, like a
        completion racing an abort, get the problem for the state they lost to (409 or 404).
        """
        upload = self._open(user, file_id)
        ordered = _check_part_list(upload.plan, parts, {p.part_number: p for p in upload.stored})
        declared = object_metadata.declared_checksums(upload.placeholder.metadata)
        try:
            self.store.complete_multipart(
                upload.key,
                upload.multipart_id,
                ordered,
                crc64nvme=declared.crc64nvme,
                if_match=upload.placeholder.etag,
            )
        except StorageRejected as exc:
            if exc.code in _LOST_RACE_CODES:
                self._raise_finished_or_missing(user, file_id)
            if exc.code in _CHECKSUM_CODES:
                raise ChecksumMismatch(
                    "the uploaded parts do not add up to the declared checksums.crc64nvme: "
                    "upload the parts of the declared file again, or abort"
                ) from None
            raise BadPartList(f"storage refused the part list: {exc.code}") from None

    def abort(self, user: str, file_id: str) -> None:
        """Abort a running multipart upload and remove its placeholder.

        If the upload was completed (or aborted) meanwhile, the answer says so (409 or 404) and
        the completed file is left alone: only the placeholder's own version is removed.
        """
        upload = self._open(user, file_id)
        aborted = self.store.abort_multipart(upload.key, upload.multipart_id)
        self.store.purge_up_to(upload.key, upload.placeholder.version_id)
        current = self.store.head(upload.key)
        if current is not None and not object_metadata.is_placeholder(current.metadata):
            raise Conflict(f"upload {file_id} was completed meanwhile")
        if not aborted:
            self._raise_finished_or_missing(user, file_id)


@dataclass(frozen=True)
class _OpenUpload:
    """A running multipart upload: its staging key, S3's id for it, its placeholder (the
    declaration), its plan and the parts storage holds."""

    key: str
    multipart_id: str
    placeholder: StoredObject
    plan: MultipartPlan
    stored: list[StoredPart]


def _check_stored_size(metadata: dict[str, str], encoded_name: str) -> None:
    """422 when the declaration's metadata would not fit storage's limit (the name is what grows:
    it is percent-encoded UTF-8, so 255 characters of CJK take 2,295 bytes)."""
    size = object_metadata.stored_size(metadata)
    if size > object_metadata.STORAGE_LIMIT:
        budget = object_metadata.STORAGE_LIMIT - (size - len(encoded_name))
        raise field_error(
            "filename",
            f"is too long for storage once encoded: it takes {len(encoded_name)} bytes percent-encoded "
            f"and at most {max(budget, 0)} fit beside the rest of the file's metadata "
            f"({object_metadata.STORAGE_LIMIT} bytes in all)",
        )


def _normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


#: Storage's answers when another request finished the upload first (completed or aborted).
#: (MinIO answers NoSuchKey when the If-Match precondition finds the placeholder gone: aborted.)
_LOST_RACE_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "PreconditionFailed", "ConditionalRequestConflict"})
#: Storage's answers when the parts do not add up to the declared full-object checksum.
_CHECKSUM_CODES = frozenset({"BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"})


def _check_part_list(
    plan: MultipartPlan, parts: list[tuple[int, str]], stored: dict[int, StoredPart]
) -> list[StoredPart]:
    """The stored parts the client's list names, in order; 400 unless it names exactly the plan."""
    numbers = [number for number, _ in parts]
    if numbers != list(range(1, plan.part_count + 1)):
        bad = [n for n in numbers if not 1 <= n <= plan.part_count]
        if bad:
            raise BadPartList(f"part numbers must be within 1..{plan.part_count}; got {bad[:5]}")
        raise BadPartList(f"expected parts 1..{plan.part_count} in ascending order, each once")
    for number, etag in parts:
        part = stored.get(number)
        if part is None:
            raise BadPartList(f"part {number} has not been uploaded")
        if _normalise_etag(part.etag) != _normalise_etag(etag):
            raise BadPartList(f"ETag of part {number} does not match the stored part")
        if part.size != plan.part_length(number):
            raise BadPartList(f"part {number} is {part.size} bytes, expected {plan.part_length(number)}")
    return [stored[number] for number, _ in parts]
