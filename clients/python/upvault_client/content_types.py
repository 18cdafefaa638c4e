"""The content type and category of a file when the caller does not give them.

The bytes decide first (magic numbers, with the maintained ``filetype`` library, as the
service's own validation does), the name second (``mimetypes``), so a file declares what it
is rather than what it is called; the API then refuses a name that contradicts it.
"""

from __future__ import annotations

import mimetypes

import filetype

#: Bytes enough for every signature ``filetype`` knows.
SNIFF_BYTES = 8192

#: Other names of the types Upvault's categories allow, mapped to the allowed name.
_CANONICAL = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    # WebM and Ogg files recorded by browsers and phones are audio as often as not, and
    # Upvault stores no video: the audio name is the only one that can be accepted.
    "video/webm": "audio/webm",
    "video/ogg": "audio/ogg",
    "image/heif": "image/heic",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}
#: Containers whose signature says less than a known extension (a .docx *is* a zip file).
_GENERIC = frozenset({"application/zip", "application/octet-stream"})
FALLBACK = "application/octet-stream"


def canonical(content_type: str) -> str:
    """The allowed spelling of a type (lower case, no parameters, aliases resolved)."""
    bare = content_type.split(";", 1)[0].strip().lower()
    return _CANONICAL.get(bare, bare)


def guess_content_type(head: bytes, filename: str) -> str:
    """What the first bytes say the file is, else what its name says, else octet-stream."""
    sniffed = filetype.guess_mime(head) if head else None
    by_name = mimetypes.guess_type(filename, strict=False)[0]
    if sniffed and not (sniffed in _GENERIC and by_name):
        return canonical(sniffed)
    return canonical(by_name or sniffed or FALLBACK)


def guess_category(content_type: str) -> str:
    """``images`` for images, ``audio`` for audio, ``documents`` for everything else."""
    major = content_type.split("/", 1)[0]
    return {"image": "images", "audio": "audio"}.get(major, "documents")
