"""Domain errors. The API maps each class to one RFC 9457 problem (status, type, title).

The core raises these and nothing else for client mistakes; anything else is a bug.
"""

from __future__ import annotations

from typing import Any


class UpvaultError(Exception):
    """Base class of every error the client can cause."""

    #: Stable machine-readable name; the problem ``type`` is built from it.
    code = "upvault-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidIdentity(UpvaultError):
    """The caller's identity is missing or unusable (401)."""

    code = "unauthorized"


class FileNotFound(UpvaultError):
    """No such file for this user; deliberately the same for other users' files (404)."""

    code = "not-found"

    def __init__(self, file_id: str) -> None:
        super().__init__(f"no file or upload with id {file_id!r}")


class UploadNotFound(FileNotFound):
    """No such upload (404)."""

    code = "not-found"


class Conflict(UpvaultError):
    """The request conflicts with the file's current state (409)."""

    code = "conflict"


class TooLarge(UpvaultError):
    """Declared size exceeds the category's limit (413)."""

    code = "too-large"


class TypeNotAllowed(UpvaultError):
    """Content type not allowed for the category (415)."""

    code = "unsupported-type"


class InvalidInput(UpvaultError):
    """A field is malformed; ``errors`` lists each field problem (422)."""

    code = "validation-error"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.errors = errors or []


class BadPartList(UpvaultError):
    """A multipart part list or part number is wrong (400)."""

    code = "bad-part-list"


class ChecksumMismatch(UpvaultError):
    """Storage refused the bytes: they do not match the checksum the client declared (400)."""

    code = "checksum-mismatch"


class StorageUnavailable(UpvaultError):
    """Storage could not be reached in time (503)."""

    code = "storage-unavailable"


def field_error(field: str, message: str) -> InvalidInput:
    """Shorthand for a 422 about a single field."""
    return InvalidInput(f"invalid {field}: {message}", [{"field": field, "message": message}])
