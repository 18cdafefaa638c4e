"""Object key layout: where each file lives in the bucket, and file ids.

Layout (one area per status, the same suffix in each)::

    staging/<user>/<category>/<file_id>/<safe-name>      uploaded, not yet validated (pending)
    files/<user>/<category>/<file_id>/<safe-name>        validated, visible (ready)
    quarantine/<user>/<category>/<file_id>/<safe-name>   rejected, kept 30 days for support

Why this shape:

* Listing a user's files, optionally of one category, is one paginated LIST on
  ``files/<user>/[<category>/]``; the key alone gives category, id, a readable name and (with
  the LIST's size) everything a list item shows, so no per-object HEAD is needed.
* A file id is a ULID (sortable by creation time) whose last character encodes the category,
  so finding a file by id is at most one LIST of ``<area>/<user>/<category>/<file_id>/`` per
  area: a bounded number of requests, never a scan.
* ``<user>`` comes from the verified token's ``sub`` through :func:`user_segment`, which is
  injective and never lets a raw id shape the key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ulid import ULID

from upvault.errors import FileNotFound, InvalidIdentity
from upvault.models import Category, Status

STAGING_PREFIX = "staging/"
FILES_PREFIX = "files/"
QUARANTINE_PREFIX = "quarantine/"


_PREFIX_BY_STATUS = {
    Status.PENDING: STAGING_PREFIX,
    Status.READY: FILES_PREFIX,
    Status.REJECTED: QUARANTINE_PREFIX,
}
_STATUS_BY_AREA = {prefix.rstrip("/"): status for status, prefix in _PREFIX_BY_STATUS.items()}


def area_prefix(status: Status) -> str:
    """The bucket area (top-level prefix) that holds files in ``status``."""
    return _PREFIX_BY_STATUS[status]


#: Most useful first: a lookup by id tries the area a file most likely is in.
LOOKUP_ORDER = (Status.READY, Status.PENDING, Status.REJECTED)

# The category code is the last (random) character of the ULID; Crockford base32 letters.
_CODE_BY_CATEGORY = {Category.DOCUMENTS: "D", Category.AUDIO: "A", Category.IMAGES: "G"}
_CATEGORY_BY_CODE = {code: category for category, code in _CODE_BY_CATEGORY.items()}
_FILE_ID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")

_SAFE_SUB = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
_HASHED_MARK = "h-"
MAX_SUB_LENGTH = 1024


def new_file_id(category: Category) -> str:
    """Return a new sortable file id (a ULID) that carries its category in its last character."""
    raw = str(ULID())
    return raw[:-1] + _CODE_BY_CATEGORY[category]


def derived_file_id(category: Category, created: datetime, seed: bytes) -> str:
    """Return the file id of an object imported from elsewhere (``upvault migrate``).

    The id is fixed by ``created`` (its ULID timestamp) and ``seed`` (the source object's
    identity): importing the same object twice names the same file, so a rerun of a migration
    can never create a duplicate.
    """
    millis = max(0, int(created.timestamp() * 1000))
    raw = str(ULID.from_bytes(millis.to_bytes(6, "big") + hashlib.sha256(seed).digest()[:10]))
    return raw[:-1] + _CODE_BY_CATEGORY[category]


def category_of(file_id: str) -> Category:
    """Return the category a file id was issued for, or raise :class:`FileNotFound`.

    Anything that is not one of our ids is simply unknown: the caller answers 404.
    """
    if not _FILE_ID.match(file_id):
        raise FileNotFound(file_id)
    try:
        return _CATEGORY_BY_CODE[file_id[-1]]
    except KeyError:
        raise FileNotFound(file_id) from None


def created_at(file_id: str) -> datetime:
    """Return when a file id was issued (the ULID's timestamp)."""
    return ULID.from_str(file_id).datetime.astimezone(UTC)


def user_segment(sub: str) -> str:
    """Map a token's ``sub`` to the key segment of that user's files.

    Ids that are already safe lower-case slugs (Cognito's UUIDs) stay readable; anything else
    (upper case, dots, slashes, unicode, control characters) becomes ``h-`` plus a SHA-256
    digest. Safe ids never start with ``h-``, so the mapping is injective: two users can never
    share a prefix, whatever their ids look like.
    """
    if not sub or len(sub) > MAX_SUB_LENGTH:
        raise InvalidIdentity("token subject is empty or too long")
    if _SAFE_SUB.match(sub) and not sub.startswith(_HASHED_MARK):
        return sub
    return _HASHED_MARK + hashlib.sha256(sub.encode("utf-8", "surrogatepass")).hexdigest()[:48]


@dataclass(frozen=True)
class ObjectKey:
    """A parsed object key of one of our areas."""

    status: Status
    user: str
    category: Category
    file_id: str
    safe_name: str

    def __str__(self) -> str:
        return f"{area_prefix(self.status)}{self.user}/{self.category.value}/{self.file_id}/{self.safe_name}"

    def moved_to(self, status: Status) -> ObjectKey:
        """The same file's key in another area."""
        return ObjectKey(status, self.user, self.category, self.file_id, self.safe_name)

    @classmethod
    def parse(cls, key: str) -> ObjectKey:
        """Parse a key of our layout; raise :class:`ValueError` for anything else."""
        parts = key.split("/")
        if len(parts) != 5:
            raise ValueError(f"not an Upvault key: {key!r}")
        area, user, category, file_id, safe_name = parts
        status = _STATUS_BY_AREA.get(area)
        if status is None or not user or not safe_name:
            raise ValueError(f"not an Upvault key: {key!r}")
        try:
            parsed_category = Category(category)
        except ValueError:
            raise ValueError(f"unknown category in key: {key!r}") from None
        if not _FILE_ID.match(file_id) or _CATEGORY_BY_CODE.get(file_id[-1]) is not parsed_category:
            raise ValueError(f"bad file id in key: {key!r}")
        return cls(status, user, parsed_category, file_id, safe_name)


def user_prefix(status: Status, user: str, category: Category | None = None) -> str:
    """Prefix listing one user's files of one status, optionally of one category."""
    base = f"{area_prefix(status)}{user}/"
    return f"{base}{category.value}/" if category else base


def file_prefix(status: Status, user: str, file_id: str) -> str:
    """Prefix of exactly one file in one area (its key minus the name)."""
    return f"{user_prefix(status, user, category_of(file_id))}{file_id}/"
