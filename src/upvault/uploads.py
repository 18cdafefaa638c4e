"""Starting, resuming, completing and aborting uploads.

Bytes never pass through here: the service validates a declaration, decides the key, and
presigns requests whose size, type, checksums and metadata are bound to the signature.

A multipart upload additionally leaves a zero-byte *placeholder* at its staging key, carrying
the declaration as metadata: storage's multipart listings return no metadata, and resuming
needs the declared size to re-sign parts. The processor ignores placeholders; completing the
upload writes the real object over it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from upvault import object_metadata
from upvault.errors import BadPartList, Conflict, UploadNotFound
from upvault.filenames import clean_display_name, safe_key_name
from upvault.keys import LOOKUP_ORDER, ObjectKey, Status, file_prefix, new_file_id
from upvault.models import MultipartPlan, PartUrl, UploadProgress, UploadRequest, UploadTicket
from upvault.settings import MAX_PARTS, MAX_SINGLE_PUT, MIB, Settings
from upvault.storage import ObjectStore, StoredObject, StoredPart
from upvault.validation import check_checksums, check_metadata, check_upload, normalize_content_type


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

    def is_multipart(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is uploaded in parts (above the threshold or 5 GiB)."""
        return size > min(self.settings.multipart_threshold, MAX_SINGLE_PUT)

    def _expiry(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.settings.put_url_expiry)

    def start_upload(self, user: str, request: UploadRequest) -> UploadTicket:
        """Validate a declaration and hand out where and how to upload it."""
        name = clean_display_name(request.filename)
        content_type = normalize_content_type(request.content_type)
        check_upload(
            self.settings, category=request.category, content_type=content_type, size=request.size, display_name=name
        )
        check_checksums(request.checksums)
        check_metadata(self.settings, request.metadata)

        file_id = new_file_id(request.category)
        key = ObjectKey(Status.PENDING, user, request.category, file_id, safe_key_name(name))
        metadata = object_metadata.build(
            display_name=name, size=request.size, sha256=request.checksums.sha256, client=request.metadata
        )
        if not self.is_multipart(request.size):
            single = self.store.presign_put(
                str(key),
                content_type=content_type,
                content_length=request.size,
                metadata=metadata,
                md5=request.checksums.md5,
                sha256=request.checksums.sha256,
            )
            return UploadTicket(file_id=file_id, upload_id=file_id, expires_at=self._expiry(), single=single)

        plan = plan_parts(request.size, self.settings.part_size)
        self.store.put_placeholder(
            str(key),
            content_type=content_type,
            metadata={**metadata, object_metadata.PLACEHOLDER: "1", object_metadata.PART_SIZE: str(plan.part_size)},
        )
        self.store.create_multipart(str(key), content_type=content_type, metadata=metadata)
        return UploadTicket(file_id=file_id, upload_id=file_id, expires_at=self._expiry(), multipart=plan)

    def _open_upload(self, user: str, upload_id: str) -> tuple[str, str, StoredObject]:
        """Find a running multipart upload: (key, storage upload id, placeholder)."""
        prefix = file_prefix(Status.PENDING, user, upload_id)
        found = self.store.find_multipart(prefix)
        if found is None:
            self._raise_finished_or_missing(user, upload_id)
        key, storage_id = found
        placeholder = self.store.head(key)
        if placeholder is None or not object_metadata.is_placeholder(placeholder.metadata):
            # A completed object sits at the key: the upload was completed meanwhile.
            raise Conflict(f"upload {upload_id} is already complete")
        return key, storage_id, placeholder

    def _raise_finished_or_missing(self, user: str, upload_id: str) -> NoReturn:
        for status in LOOKUP_ORDER:
            key = self.store.first_key(file_prefix(status, user, upload_id))
            if key is not None:
                head = self.store.head(key) if status is Status.PENDING else None
                if head is None or not object_metadata.is_placeholder(head.metadata):
                    raise Conflict(f"upload {upload_id} is already complete")
        raise UploadNotFound(upload_id)

    def _plan_of(self, placeholder: StoredObject) -> MultipartPlan:
        size = object_metadata.declared_size(placeholder.metadata) or 0
        recorded = placeholder.metadata.get(object_metadata.PART_SIZE, "")
        return plan_parts(size, int(recorded) if recorded.isdigit() else self.settings.part_size)

    def progress(
        self, user: str, upload_id: str, *, md5s: dict[int, str] | None = None, only: list[int] | None = None
    ) -> UploadProgress:
        """Parts already stored and fresh URLs for the missing ones (to start or resume)."""
        key, storage_id, placeholder = self._open_upload(user, upload_id)
        plan = self._plan_of(placeholder)
        stored = self.store.list_parts(key, storage_id)
        if stored is None:
            raise UploadNotFound(upload_id)
        md5s = md5s or {}
        for number in [*(only or []), *md5s]:
            if not 1 <= number <= plan.part_count:
                raise BadPartList(f"part number {number} is outside 1..{plan.part_count}")
        have = {part.part_number for part in stored if part.size == plan.part_length(part.part_number)}
        wanted = only if only else [n for n in range(1, plan.part_count + 1) if n not in have]
        missing = [
            PartUrl(
                n, plan.part_length(n), self.store.presign_part(key, storage_id, n, plan.part_length(n), md5s.get(n))
            )
            for n in wanted
        ]
        return UploadProgress(
            upload_id=upload_id, file_id=upload_id, plan=plan, stored=stored, missing=missing, expires_at=self._expiry()
        )

    def complete(self, user: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the parts after checking them against the plan and what storage holds."""
        key, storage_id, placeholder = self._open_upload(user, upload_id)
        plan = self._plan_of(placeholder)
        stored = self.store.list_parts(key, storage_id)
        if stored is None:
            raise UploadNotFound(upload_id)
        _check_part_list(plan, parts, {p.part_number: p for p in stored})
        self.store.complete_multipart(key, storage_id, parts)

    def abort(self, user: str, upload_id: str) -> None:
        """Abort a running multipart upload and remove its placeholder."""
        key, storage_id, _ = self._open_upload(user, upload_id)
        self.store.abort_multipart(key, storage_id)
        self.store.delete(key)


def _normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def _check_part_list(plan: MultipartPlan, parts: list[tuple[int, str]], stored: dict[int, StoredPart]) -> None:
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
