"""Which objects a run takes (filters) and where each one goes (plain 1:1 or legacy → Upvault).

The legacy layout is the old storage service's: ``<category>/<user>/<name>`` in one bucket or
folder, or one bucket per category holding ``<user>/<name>`` (the category then comes from
``--category`` or from the bucket's name). Mapped objects obey Upvault's rules: each is declared
with the same checks an API upload declaration gets (:func:`upvault.validation.check_upload`,
the same name rules and metadata), and lands in ``staging/`` with the metadata
:meth:`upvault.uploads.UploadService.start_upload` writes, so the processor validates its bytes
exactly like an upload's before it becomes visible. Nothing is ever written to ``files/``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from migration.stores import Entry, ObjectMeta
from upvault import object_metadata
from upvault.errors import InvalidInput, UpvaultError
from upvault.filenames import clean_display_name, encode_header_value, extension_of, safe_key_name
from upvault.keys import (
    FILES_PREFIX,
    QUARANTINE_PREFIX,
    STAGING_PREFIX,
    ObjectKey,
    derived_file_id,
    user_segment,
)
from upvault.models import Category, Checksums, Status
from upvault.settings import EXTENSIONS, Settings
from upvault.validation import check_upload, normalise_content_type

#: Client metadata (``c-*``) a mapped file carries: where it came from and when it was written.
SOURCE_KEY = "source-key"
SOURCE_MTIME = "source-mtime"
#: Areas of the destination bucket a mapped file can be in, by the processor's progress.
AREAS = (STAGING_PREFIX, FILES_PREFIX, QUARANTINE_PREFIX)


@dataclass(frozen=True)
class KeyFacts:
    """Category and user a key names, in Upvault's layout or the legacy one (``None``: unknown)."""

    category: str | None = None
    user: str | None = None


def _category(value: str) -> Category | None:
    try:
        return Category(value)
    except ValueError:
        return None


def key_facts(key: str, default_category: Category | None = None) -> KeyFacts:
    """What a key says about its category and user, for ``--category`` and ``--user``."""
    try:
        parsed = ObjectKey.parse(key)
    except ValueError:
        parts = key.split("/")
        if len(parts) >= 3 and _category(parts[0]):
            return KeyFacts(parts[0], parts[1])
        if len(parts) == 2 and default_category:
            return KeyFacts(default_category.value, parts[0])
        return KeyFacts()
    return KeyFacts(parsed.category.value, parsed.user)


@dataclass(frozen=True)
class Filters:
    """``--include``/``--exclude`` globs on keys, ``--category``, ``--user``, ``--since``."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    category: Category | None = None
    users: frozenset[str] = frozenset()
    since: datetime | None = None

    def accepts(self, entry: Entry, facts: KeyFacts) -> bool:
        """Whether a listed object is part of this run."""
        if self.include and not any(fnmatch.fnmatchcase(entry.key, glob) for glob in self.include):
            return False
        if any(fnmatch.fnmatchcase(entry.key, glob) for glob in self.exclude):
            return False
        if self.category and facts.category != self.category.value:
            return False
        if self.users and facts.user not in self.users:
            return False
        return not (self.since and datetime.fromtimestamp(entry.mtime, UTC) < self.since)


@dataclass(frozen=True)
class Target:
    """Where one source object goes, and under which declaration (legacy mode)."""

    key: str
    #: Why the object cannot be migrated into Upvault's layout (the API would refuse it).
    rejected: str | None = None
    #: Legacy mode: the key's suffix ``<user>/<category>/<file_id>/<name>`` (same in every area).
    suffix: str | None = None
    category: Category | None = None
    display_name: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def mapped(self) -> bool:
        """Whether the object is placed into Upvault's layout (validated by the processor)."""
        return self.suffix is not None


class Mapper(Protocol):
    """Decides each object's destination."""

    #: Whether targets are Upvault uploads (staging/, declaration metadata).
    mapped: bool

    def target(self, entry: Entry) -> Target:
        """The destination of ``entry``."""

    def facts(self, entry: Entry) -> KeyFacts:
        """Category and user of ``entry`` for the filters."""

    def declare(self, target: Target, entry: Entry, meta: ObjectMeta, sha256: str | None) -> tuple[Target, ObjectMeta]:
        """The metadata the destination object gets (and a rejection found only now)."""


class PlainMapper:
    """1:1 copy: the same relative key, content type, metadata and headers."""

    mapped = False

    def target(self, entry: Entry) -> Target:
        """Same key."""
        return Target(entry.key)

    def facts(self, entry: Entry) -> KeyFacts:
        """From Upvault's or the legacy layout, when the key has either."""
        return key_facts(entry.key)

    def declare(self, target: Target, entry: Entry, meta: ObjectMeta, sha256: str | None) -> tuple[Target, ObjectMeta]:
        """Everything travels unchanged."""
        return target, meta


def _type_for(category: Category, settings: Settings, name: str) -> str | None:
    """The content type a name's extension stands for: the allowed one in ``category`` if there
    is exactly one, else a known but disallowed one (the declaration check then refuses it),
    else ``None`` (the source's content type decides at copy time)."""
    ext = extension_of(name)
    known = sorted(t for t, exts in EXTENSIONS.items() if ext in exts)
    allowed = [t for t in known if t in settings.policies[category].allowed_types]
    if len(allowed) == 1:
        return allowed[0]
    return known[0] if known and not allowed else None


def _problem(exc: UpvaultError) -> str:
    if isinstance(exc, InvalidInput) and exc.errors:
        return "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    return exc.detail


class LegacyMapper:
    """``<category>/<user>/<name>`` (or ``<user>/<name>`` in a per-category bucket) → Upvault.

    Args:
        settings: The deployment's rules (allowed types, size limits), from ``UPVAULT_*``.
        source_id: Identifies the source location; with the key and version it seeds each file
            id, so a rerun names the same files and never creates duplicates.
        category: The category of a per-category bucket (``<user>/<name>`` keys).
        user_map: Legacy user folder → the subject (token ``sub``) of that user in Upvault;
            folders not in it are taken as the subject itself.
    """

    mapped = True

    def __init__(
        self,
        settings: Settings,
        source_id: str,
        *,
        category: Category | None = None,
        user_map: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.source_id = source_id
        self.category = category
        self.user_map = dict(user_map or {})

    def facts(self, entry: Entry) -> KeyFacts:
        """Category and legacy user folder."""
        return key_facts(entry.key, self.category)

    def target(self, entry: Entry) -> Target:
        """The staged key of ``entry``, or a rejection saying why it cannot be one."""
        parts = entry.key.split("/")
        category = _category(parts[0]) if len(parts) >= 3 else None
        if category is not None:
            user, name = parts[1], parts[-1]
        elif len(parts) == 2 and self.category is not None:
            category, user, name = self.category, parts[0], parts[1]
        else:
            where = "<category>/<user>/<name>" + (" or <user>/<name>" if self.category else "")
            return Target(entry.key, rejected=f"not in the legacy layout {where}")
        try:
            segment = user_segment(self.user_map.get(user, user))
            display_name = clean_display_name(name)
        except UpvaultError as exc:
            return Target(entry.key, rejected=_problem(exc))
        created = datetime.fromtimestamp(entry.mtime, UTC)
        seed = f"{self.source_id}\n{entry.key}\n{entry.version}".encode("utf-8", "surrogatepass")
        file_id = derived_file_id(category, created, seed)
        key = ObjectKey(Status.PENDING, segment, category, file_id, safe_key_name(display_name))
        target = Target(
            str(key),
            suffix=str(key).removeprefix(STAGING_PREFIX),
            category=category,
            display_name=display_name,
            content_type=_type_for(category, self.settings, display_name),
        )
        if target.content_type is not None:
            return self._checked(target, entry, target.content_type)
        return target

    def _checked(self, target: Target, entry: Entry, content_type: str) -> Target:
        assert target.category is not None and target.display_name is not None
        try:
            check_upload(
                self.settings,
                category=target.category,
                content_type=content_type,
                size=entry.size,
                display_name=target.display_name,
            )
        except UpvaultError as exc:
            return Target(entry.key, rejected=_problem(exc))
        return replace(target, content_type=content_type)

    def declare(self, target: Target, entry: Entry, meta: ObjectMeta, sha256: str | None) -> tuple[Target, ObjectMeta]:
        """The declaration an upload of this file would have made: name, size, checksum, type.

        A name whose extension does not settle the type takes the source's content type, which
        must then pass the same checks.
        """
        assert target.display_name is not None
        if target.content_type is None:
            target = self._checked(target, entry, normalise_content_type(meta.content_type))
            if target.rejected:
                return target, meta
        assert target.content_type is not None and target.display_name is not None
        client = {
            SOURCE_KEY: encode_header_value(entry.key)[:256],
            SOURCE_MTIME: datetime.fromtimestamp(entry.mtime, UTC).isoformat(timespec="seconds"),
        }
        metadata = object_metadata.build(
            display_name=target.display_name, size=entry.size, checksums=Checksums(sha256=sha256), client=client
        )
        return target, ObjectMeta(content_type=target.content_type, metadata=metadata, mtime=None)
