"""Upload policy: what may be uploaded where, checked twice.

* Before upload (:func:`check_upload`): the declared category, content type, size, name and
  checksums; the answer is a precise 413/415/422.
* After upload (:func:`verify_content`): the processor compares the stored object against
  what was declared, using its real size and its first bytes (magic-byte sniffing with the
  maintained ``filetype`` library). Storage that enforces less than S3 (or a client that
  lies) can therefore never make a wrong file visible.
"""

from __future__ import annotations

import base64
import binascii

import filetype

from upvault.errors import InvalidInput, TooLarge, TypeNotAllowed, field_error
from upvault.filenames import extension_of
from upvault.models import Category, Checksums
from upvault.settings import Settings

#: Bytes the processor reads from each object; enough for every signature we accept.
SNIFF_BYTES = 8 * 1024

#: Extensions that name each content type we accept; a name with another *known* extension
#: contradicts the declared type (``photo.pdf`` declared as ``image/png``).
EXTENSIONS: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"pdf"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": frozenset({"xlsx"}),
    "text/plain": frozenset({"txt", "text", "log", "md"}),
    "text/csv": frozenset({"csv"}),
    "image/png": frozenset({"png"}),
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe"}),
    "image/webp": frozenset({"webp"}),
    "image/gif": frozenset({"gif"}),
    "image/heic": frozenset({"heic", "heif"}),
    "image/tiff": frozenset({"tif", "tiff"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/wav": frozenset({"wav"}),
    "audio/ogg": frozenset({"ogg", "oga", "opus"}),
    "audio/webm": frozenset({"webm", "weba"}),
    "audio/mp4": frozenset({"m4a", "mp4"}),
    "audio/flac": frozenset({"flac"}),
}
_KNOWN_EXTENSIONS = frozenset().union(*EXTENSIONS.values())

#: What ``filetype`` reports for a declared type, when it names it differently.
SNIFFED_AS: dict[str, frozenset[str]] = {
    "audio/wav": frozenset({"audio/x-wav", "audio/wav"}),
    "audio/flac": frozenset({"audio/x-flac", "audio/flac"}),
    "audio/webm": frozenset({"video/webm", "audio/webm"}),
    "audio/mp4": frozenset({"audio/mp4", "video/mp4"}),
    "audio/ogg": frozenset({"audio/ogg", "video/ogg"}),
}
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
MAX_CHECKSUM_FIELDS = {"md5": 16, "sha256": 32, "crc64nvme": 8}


def normalise_content_type(content_type: str) -> str:
    """Lower-case media type without parameters (``Text/Plain; charset=utf-8`` → ``text/plain``)."""
    return content_type.split(";", 1)[0].strip().lower()


def check_upload(
    settings: Settings,
    *,
    category: Category,
    content_type: str,
    size: int,
    display_name: str,
) -> None:
    """Raise the precise error for an upload request the policy refuses, else return."""
    if size <= 0:
        raise field_error("size", "must be a positive number of bytes")
    policy = settings.policies[category]
    if content_type not in policy.allowed_types:
        allowed = ", ".join(sorted(policy.allowed_types))
        raise TypeNotAllowed(
            f"content type {content_type!r} is not allowed for {category.value}; allowed: {allowed}",
            allowed_types=sorted(policy.allowed_types),
        )
    limit = min(policy.max_size, settings.max_object_size)
    if size > limit:
        raise TooLarge(f"{size} bytes exceeds the {category.value} limit of {limit} bytes", max_size=limit)
    ext = extension_of(display_name)
    if ext in _KNOWN_EXTENSIONS and ext not in EXTENSIONS.get(content_type, frozenset()):
        raise field_error("filename", f"extension .{ext} contradicts content type {content_type}")


def check_checksums(checksums: Checksums) -> None:
    """Reject checksums that are not base64 digests of the right length (422)."""
    for name in MAX_CHECKSUM_FIELDS:
        check_digest(f"checksums.{name}", getattr(checksums, name))


def check_digest(field: str, value: str | None) -> None:
    """Reject one base64 digest of the wrong length; ``field`` ends with the algorithm's name."""
    if value is None:
        return
    expected = MAX_CHECKSUM_FIELDS[field.rsplit(".", 1)[-1]]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise field_error(field, "must be base64") from None
    if len(raw) != expected:
        raise field_error(field, f"must be a base64 {expected}-byte digest")


def check_metadata(settings: Settings, metadata: dict[str, str]) -> None:
    """Bound client metadata: S3 keeps 2 KiB of user metadata and we need room for ours."""
    errors = []
    if len(metadata) > settings.max_metadata_entries:
        errors.append({"field": "metadata", "message": f"at most {settings.max_metadata_entries} entries"})
    total = 0
    for key, value in metadata.items():
        total += len(key) + len(value.encode("utf-8"))
        if not key.isascii() or not key.replace("-", "").isalnum() or not key.islower() or len(key) > 32:
            errors.append({"field": f"metadata.{key[:40]}", "message": "keys are 1-32 chars of a-z, 0-9, -"})
        if not value.isascii() or not value.isprintable():
            errors.append({"field": f"metadata.{key[:40]}", "message": "values must be printable ASCII"})
    if total > settings.max_metadata_bytes:
        errors.append({"field": "metadata", "message": f"at most {settings.max_metadata_bytes} bytes in total"})
    if errors:
        raise InvalidInput("invalid metadata", errors)


def verify_content(*, declared_type: str, declared_size: int, actual_size: int, leading: bytes) -> str | None:
    """Compare a stored object with its declaration; return the rejection reason or ``None``.

    ``leading`` holds the object's first bytes (at most :data:`SNIFF_BYTES`).
    """
    if actual_size != declared_size:
        return f"size mismatch: declared {declared_size} bytes, stored {actual_size}"
    if actual_size == 0:
        return "empty file"
    if declared_type in TEXT_TYPES:
        return _verify_text(leading, truncated=actual_size > len(leading))
    kind = filetype.guess(leading)
    if kind is None:
        return f"content is not {declared_type}: no known file signature"
    accepted = SNIFFED_AS.get(declared_type, frozenset({declared_type}))
    if kind.mime not in accepted:
        return f"content is {kind.mime}, declared {declared_type}"
    return None


def _verify_text(leading: bytes, *, truncated: bool) -> str | None:
    if b"\x00" in leading:
        return "text file contains NUL bytes (binary content)"
    if filetype.guess(leading) is not None:
        return "declared as text but has a binary file signature"
    try:
        leading.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The 8 KiB window may cut a multi-byte character in half: that is not an error.
        if not (truncated and exc.start >= len(leading) - 3 and exc.reason == "unexpected end of data"):
            return "text file is not valid UTF-8"
    return None
