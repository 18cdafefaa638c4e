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
from upvault.keys import LOOKUP_ORDER, ObjectKey, Status, category_of, created_at, file_prefix, user_prefix
from upvault.models import FileInfo, FilePage
from upvault.settings import Category, Settings
from upvault.storage import ListedObject, ObjectStore, PresignedRequest, StoredObject

MAX_PAGE = 1000
_CURSOR = re.compile(r"^(documents|audio|images)/[0-7][0-9A-HJKMNP-TV-Z]{25}$")
# Where a file shows up in two areas (mid-move), the later state wins.
_PRECEDENCE = {Status.READY: 3, Status.REJECTED: 2, Status.PENDING: 1}


def encode_cursor(position: str) -> str:
    """Opaque pagination cursor for a listing position (``category/file_id``)."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Inverse of :func:`encode_cursor`; a 422 for anything we did not issue."""
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise field_error("cursor", "is not a cursor this API issued") from None
    if not _CURSOR.match(position):
        raise field_error("cursor", "is not a cursor this API issued")
    return position


def _info_from_head(key: ObjectKey, obj: StoredObject) -> FileInfo:
    metadata = obj.metadata
    placeholder = object_metadata.is_placeholder(metadata)
    reason = metadata.get(object_metadata.REASON)
    return FileInfo(
        file_id=key.file_id,
        name=object_metadata.display_name(metadata, key.safe_name),
        category=key.category,
        status=key.status,
        size=(object_metadata.declared_size(metadata) or 0) if placeholder else obj.size,
        created_at=created_at(key.file_id),
        content_type=obj.content_type,
        sha256=obj.checksum_sha256 or metadata.get(object_metadata.SHA256),
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

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self.settings = settings
        self.store = store

    def _locate(self, user: str, file_id: str, statuses: tuple[Status, ...] = LOOKUP_ORDER) -> ObjectKey:
        category_of(file_id)  # 404 for ids we never issue, before any request
        for status in statuses:
            key = self.store.first_key(file_prefix(status, user, file_id))
            if key is not None:
                return ObjectKey.parse(key)
        raise FileNotFound(file_id)

    def get(self, user: str, file_id: str) -> FileInfo:
        """One file's details, in whatever state it is (at most 3 LISTs and 1 HEAD)."""
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
        """A page of the user's files, ordered by category then file id (upload time)."""
        if not 1 <= limit <= MAX_PAGE:
            raise field_error("limit", f"must be within 1..{MAX_PAGE}")
        position = decode_cursor(cursor) if cursor else None
        if position and category and not position.startswith(f"{category.value}/"):
            raise field_error("cursor", "belongs to another category filter")
        found: dict[str, tuple[str, FileInfo]] = {}
        more = False
        for area in (status,) if status else tuple(Status):
            prefix = user_prefix(area, user, category)
            start_after = f"{user_prefix(area, user)}{position}0" if position else None
            items, truncated = self.store.list_page(prefix, start_after=start_after, limit=limit)
            more = more or truncated
            for item in items:
                try:
                    key = ObjectKey.parse(item.key)
                except ValueError:
                    continue
                pos = f"{key.category.value}/{key.file_id}"
                info = _info_from_listing(key, item)
                if pos not in found or _PRECEDENCE[key.status] > _PRECEDENCE[found[pos][1].status]:
                    found[pos] = (pos, info)
        ordered = [found[pos] for pos in sorted(found)]
        page = ordered[:limit]
        more = more or len(ordered) > limit
        next_cursor = encode_cursor(page[-1][0]) if page and more else None
        return FilePage(items=[info for _, info in page], cursor=next_cursor)

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
        """
        key = self._locate(user, file_id)
        if key.status is Status.PENDING:
            running = self.store.find_multipart(file_prefix(Status.PENDING, user, file_id))
            if running is not None:
                self.store.abort_multipart(*running)
        self.store.delete(str(key))

    def restore(self, user: str, file_id: str) -> FileInfo:
        """Bring back the last deleted version of a file (copied back as the current version)."""
        category_of(file_id)
        prefix = file_prefix(Status.READY, user, file_id)
        versions, markers = self.store.versions(prefix)
        if not versions:
            raise FileNotFound(file_id)
        latest_version = max(versions, key=lambda v: v["LastModified"])
        if latest_version.get("IsLatest") or not markers:
            raise Conflict(f"file {file_id} is not deleted: nothing to restore")
        key = str(latest_version["Key"])
        self.store.copy(key, key, source_version=str(latest_version["VersionId"]))
        return self.get(user, file_id)
