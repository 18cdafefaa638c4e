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
from upvault.models import Category, Checksums, StoredObject
from upvault.settings import EXTENSIONS, Settings

#: Bytes the processor reads from each object; enough for every signature we accept.
SNIFF_BYTES = 8 * 1024

#: What ``filetype`` reports for a declared type, when it names it differently.
SNIFFED_AS: dict[str, frozenset[str]] = {
    "audio/wav": frozenset({"audio/x-wav", "audio/wav"}),
    "audio/flac": frozenset({"audio/x-flac", "audio/flac"}),
    "audio/webm": frozenset({"video/webm", "audio/webm"}),
    "audio/mp4": frozenset({"audio/mp4", "video/mp4"}),
    "audio/ogg": frozenset({"audio/ogg", "video/ogg"}),
}
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
#: Raw digest length of each checksum a client may declare (base64 on the wire).
DIGEST_BYTES = {"md5": 16, "sha256": 32, "crc64nvme": 8}


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
        raise TypeNotAllowed(
            f"content type {content_type!r} is not allowed for {category.value}; "
            f"allowed: {', '.join(sorted(policy.allowed_types))}",
            allowed_types=sorted(policy.allowed_types),
        )
    limit = min(policy.max_size, settings.max_object_size)
    if size > limit:
        raise TooLarge(f"{size} bytes exceeds the {category.value} limit of {limit} bytes", max_size=limit)
    reason = extension_error(display_name, content_type)
    if reason:
        extensions = sorted(EXTENSIONS.get(content_type, frozenset()))
        raise TypeNotAllowed(
            f"{reason}; a {content_type} file must be named .{', .'.join(extensions)}", allowed_extensions=extensions
        )


def extension_error(display_name: str, content_type: str) -> str | None:
    """Why ``display_name`` may not carry ``content_type``, or ``None``.

    The extension decides what a user's machine does with a downloaded file, whatever its
    content type says, so it comes from an allow-list per type: ``invoice.exe`` holding a real
    PDF, ``report.html`` as text and ``logo.svg`` as an image are all refused, and so is a name
    without an extension.
    """
    ext = extension_of(display_name)
    if not ext:
        return "the file name has no extension"
    if ext not in EXTENSIONS.get(content_type, frozenset()):
        return f"extension .{ext} is not allowed for {content_type}"
    return None


def digest_error(value: str, algorithm: str) -> str | None:
    """Why ``value`` is not the canonical base64 of an ``algorithm`` digest, or ``None``.

    Canonical means exactly what ``base64.b64encode`` gives for the raw digest: no line breaks,
    no whitespace, no URL-safe alphabet, right padding. The value is signed into a header, so
    anything looser would be a header injection or a checksum storage reads differently.
    """
    expected = DIGEST_BYTES[algorithm]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64"
    if len(raw) != expected or base64.b64encode(raw).decode() != value:
        return f"must be the base64 of a {expected}-byte digest"
    return None


def _digest_errors(checksums: Checksums, prefix: str) -> list[dict[str, str]]:
    errors = []
    for algorithm in DIGEST_BYTES:
        value = getattr(checksums, algorithm)
        message = None if value is None else digest_error(value, algorithm)
        if message:
            errors.append({"field": f"{prefix}{algorithm}", "message": message})
    return errors


def check_checksums(checksums: Checksums, *, multipart: bool, threshold: int) -> None:
    """Require the checksums storage verifies for the upload kind; reject any other (422).

    A single PUT needs the whole file's ``sha256`` (``md5`` may come too). A multipart upload
    may declare the whole file's ``crc64nvme`` (the only full-object checksum both S3 and MinIO
    verify across parts) or give it at completion, and refuses ``sha256``/``md5``, which storage
    could not verify. The problem names ``multipart_threshold`` so a client that guessed the
    kind wrong can declare again.
    """
    errors = _digest_errors(checksums, "checksums.")
    if multipart:
        for algorithm in ("sha256", "md5"):
            if getattr(checksums, algorithm) is not None:
                errors.append(
                    {
                        "field": f"checksums.{algorithm}",
                        "message": f"cannot be verified on a multipart upload (above {threshold} bytes): "
                        "give crc64nvme, here or at completion",
                    }
                )
    else:
        if checksums.sha256 is None:
            errors.append({"field": "checksums.sha256", "message": f"is required up to {threshold} bytes (single PUT)"})
        if checksums.crc64nvme is not None:
            errors.append(
                {"field": "checksums.crc64nvme", "message": f"is for multipart uploads (above {threshold} bytes)"}
            )
    if errors:
        raise InvalidInput("invalid checksums", errors, multipart_threshold=threshold)


def completion_crc64nvme(declared: str | None, given: str | None) -> str:
    """The whole file's CRC64NVME a multipart upload completes with: given now or declared (422).

    Neither is a 422 naming ``crc64nvme``; a value that differs from the declared one is a 422
    too (the declaration was signed into the upload: it cannot be changed at the end).
    """
    if given is not None:
        message = digest_error(given, "crc64nvme")
        if message:
            raise field_error("crc64nvme", message)
        if declared is not None and given != declared:
            raise field_error("crc64nvme", "differs from the checksums.crc64nvme declared for this upload")
        return given
    if declared is None:
        raise field_error(
            "crc64nvme", "is required: the whole file's CRC64NVME (base64 of 8 big-endian bytes), none was declared"
        )
    return declared


def check_part_checksums(part_checksums: dict[int, Checksums]) -> None:
    """Reject a part's ``md5``/``crc64nvme`` unless each is a canonical base64 digest (422)."""
    errors = []
    for number, checksums in part_checksums.items():
        errors += _digest_errors(checksums, f"parts.{number}.")
    if errors:
        raise InvalidInput("invalid part checksums", errors)


def verified_checksums(obj: StoredObject) -> Checksums:
    """The whole-object checksums storage holds for ``obj``: what it verified, nothing declared.

    A composite checksum (a checksum of part checksums) is not the file's and is left out.
    """
    if obj.checksum_type not in (None, "FULL_OBJECT"):
        return Checksums()
    return Checksums(sha256=obj.checksum_sha256, crc64nvme=obj.checksum_crc64nvme)


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


#: How active content (markup a browser renders or runs) starts; never accepted as plain text.
_MARKUP = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<?xml", b"<iframe", b"<object")


def _verify_text(leading: bytes, *, truncated: bool) -> str | None:
    if b"\x00" in leading:
        return "text file contains NUL bytes (binary content)"
    if leading.removeprefix(b"\xef\xbb\xbf").lstrip().lower().startswith(_MARKUP):
        return "declared as text but is markup (HTML, SVG or XML): active content"
    if filetype.guess(leading) is not None:
        return "declared as text but has a binary file signature"
    try:
        leading.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The 8 KiB window may cut a multi-byte character in half: that is not an error.
        if not (truncated and exc.start >= len(leading) - 3 and exc.reason == "unexpected end of data"):
            return "text file is not valid UTF-8"
    return None
