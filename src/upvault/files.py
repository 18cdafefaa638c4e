"""A user's files: list, look up, download, delete, restore.

Everything is scoped by the caller's user segment, which only ever comes from a verified
token, so another user's id is indistinguishable from an unknown one (404).
"""

from __future__ import annotations

import base64
import binascii
import re

from upvault import object_metadata
from upvault.errors import Conflict, FileNotFound, field_error
from upvault.filenames import content_disposition, decode_header_value
from upvault.keys import LOOKUP_ORDER, ObjectKey, category_of, created_at, file_prefix, user_prefix
from upvault.models import (
    Category,
    FileInfo,
    FilePage,
    ListedObject,
    PresignedRequest,
    Status,
    StoredObject,
)
from upvault.storage import ObjectStore
from upvault.validation import verified_checksums

MAX_PAGE = 1000
_CURSOR = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
# Where a file shows up in two areas (mid-move), the later state wins.
_PRECEDENCE = {Status.READY: 3, Status.REJECTED: 2, Status.PENDING: 1}
#: Where a staged file moves to and a lookup by id has looked before ``staging/``.
_MOVE_ENDS = (Status.READY,)


def encode_cursor(position: str) -> str:
    """Opaque pagination cursor for a listing position (the last file id of a page)."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Inverse of :func:`encode_cursor`; a 422 for anything we did not issue.

    Exact: only the very string :func:`encode_cursor` gives is accepted (base64 decoders skip
    stray characters, and ``$`` matches before a trailing newline, so a lenient check would
    take ``cursor + "\\n"`` for the cursor itself).
    """
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise field_error("cursor", "is not a cursor this API issued") from None
    if not _CURSOR.fullmatch(position) or encode_cursor(position) != cursor:
        raise field_error("cursor", "is not a cursor this API issued")
    try:
        category_of(position)
    except FileNotFound:
        raise field_error("cursor", "is not a cursor this API issued") from None
    return position


def _info_from_head(key: ObjectKey, obj: StoredObject) -> FileInfo:
    metadata = obj.metadata
    placeholder = object_metadata.is_placeholder(metadata)
    reason = metadata.get(object_metadata.REASON)
    verified = verified_checksums(obj)
    return FileInfo(
        file_id=key.file_id,
        name=object_metadata.display_name(metadata, key.safe_name),
        category=key.category,
        status=key.status,
        size=(object_metadata.declared_size(metadata) or 0) if placeholder else obj.size,
        created_at=created_at(key.file_id),
        content_type=obj.content_type,
        sha256=verified.sha256,
        crc64nvme=verified.crc64nvme,
        reason=decode_header_value(reason) if reason else None,
        metadata=object_metadata.client_metadata(metadata),
    )


def _info_from_listing(key: ObjectKey, item: ListedObject) -> FileInfo:
    return FileInfo(
        file_id=key.file_id,
        name=key.safe_name,
        category=key.category,
        status=key.status,
        size=item.size,
        created_at=created_at(key.file_id),
    )


class FileService:
    """File use cases for one deployment."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _locate(self, user: str, file_id: str, statuses: tuple[Status, ...] = LOOKUP_ORDER) -> ObjectKey:
        """Where a file is now; :class:`FileNotFound` only when it is in no area.

        A file moves from ``staging/`` to ``files/`` or ``quarantine/`` while we look (the
        processor copies, then purges the staged key): looking at ``files/`` just before the
        copy and at ``staging/`` just after the purge finds nothing. A file that was not
        found is therefore looked for once more in ``files/``, after ``staging/`` was seen
        empty (``quarantine/`` is looked at after it anyway): a file in flight is found there,
        an unknown id costs one LIST more.
        """
        category_of(file_id)  # 404 for ids we never issue, before any request
        for status in (*statuses, *_MOVE_ENDS):
            key = self.store.first_key(file_prefix(status, user, file_id))
            if key is not None:
                return ObjectKey.parse(key)
        raise FileNotFound(file_id)

    def get(self, user: str, file_id: str) -> FileInfo:
        """One file's details, in whatever state it is (at most 4 LISTs and 1 HEAD)."""
        key = self._locate(user, file_id)
        obj = self.store.head(str(key))
        if obj is None:  # moved between our LIST and HEAD: look once more
            key = self._locate(user, file_id)
            obj = self.store.head(str(key))
            if obj is None:
                raise FileNotFound(file_id)
        return _info_from_head(key, obj)

    def list(
        self,
        user: str,
        *,
        category: Category | None = None,
        status: Status | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> FilePage:
        """A page of the user's files, newest first (by file id: ULIDs sort by upload time).

        The cursor is the last file id of the previous page; the next page holds the files
        issued strictly before it, so no file is repeated or skipped, whatever the filters.
        Storage lists keys in ascending order only, so each status area of the user (or of one
        category) is read whole: one LIST request per 1,000 files, never a request per file.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise field_error("limit", f"must be within 1..{MAX_PAGE}")
        before = decode_cursor(cursor) if cursor else None
        found: dict[str, FileInfo] = {}
        for area in (status,) if status else tuple(Status):
            for item in self.store.list_objects(user_prefix(area, user, category)):
                try:
                    key = ObjectKey.parse(item.key)
                except ValueError:
                    continue
                if before is not None and key.file_id >= before:
                    continue
                known = found.get(key.file_id)
                if known is None or _PRECEDENCE[key.status] > _PRECEDENCE[known.status]:
                    found[key.file_id] = _info_from_listing(key, item)
        newest_first = sorted(found.values(), key=lambda info: info.file_id, reverse=True)
        page = newest_first[:limit]
        next_cursor = encode_cursor(page[-1].file_id) if len(newest_first) > limit else None
        return FilePage(items=page, cursor=next_cursor)

    def download(self, user: str, file_id: str) -> PresignedRequest:
        """A short-lived URL that downloads a ready file as an attachment with its name."""
        key = self._locate(user, file_id)
        if key.status is not Status.READY:
            raise Conflict(
                f"file {file_id} is {key.status.value}, only ready files can be downloaded",
                file_status=key.status.value,
            )
        obj = self.store.head(str(key))
        if obj is None:
            raise FileNotFound(file_id)
        name = object_metadata.display_name(obj.metadata, key.safe_name)
        return self.store.presign_get(str(key), disposition=content_disposition(name), content_type=obj.content_type)

    def delete(self, user: str, file_id: str) -> None:
        """Delete a file in any state; on a versioned bucket the data stays recoverable.

        A pending multipart upload is aborted too, so its parts stop costing storage and it can
        no longer be completed into a file the user deleted.

        A delete wins over a promotion in flight: the staged key's delete marker is what the
        processor looks for after its copy (and then removes the copy), and a copy it made
        before that is removed here, after the marker is written. Whichever comes second sees
        the other, so the file never turns up ready after a 204.
        """
        key = self._locate(user, file_id)
        if key.status is Status.PENDING:
            running = self.store.find_multipart(file_prefix(Status.PENDING, user, file_id))
            if running is not None:
                self.store.abort_multipart(*running)
        self.store.delete(str(key))
        if key.status is Status.PENDING:
            for status in (Status.READY, Status.REJECTED):
                promoted = self.store.first_key(file_prefix(status, user, file_id))
                if promoted is not None:
                    self.store.delete(promoted)

    def restore(self, user: str, file_id: str) -> FileInfo:
        """Bring back the last deleted version of a file (copied back as the current version)."""
        category_of(file_id)
        entries = self.store.versions(file_prefix(Status.READY, user, file_id))
        versions = [entry for entry in entries if not entry.is_delete_marker]
        if not versions:
            raise FileNotFound(file_id)
        latest_version = max(versions, key=lambda entry: entry.last_modified)
        if latest_version.is_latest or len(versions) == len(entries):
            raise Conflict(f"file {file_id} is not deleted: nothing to restore")
        self.store.copy(latest_version.key, latest_version.key, source_version=latest_version.version_id)
        return self.get(user, file_id)
