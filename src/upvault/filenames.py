"""User-supplied file names: what we accept, what goes in keys, what goes in headers.

A name arrives from a browser (``File.name``) and is hostile until proven otherwise. We
*reject* names that can only be an attack or a bug (control characters, NUL, bidi overrides
that disguise extensions, absurd lengths), and *normalise* everything else: the original
(NFC) name travels as object metadata for display and download, while keys only ever contain
:func:`safe_key_name`'s conservative ASCII form.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from upvault.errors import field_error

MAX_NAME_CHARS = 255
MAX_KEY_NAME_CHARS = 100

# Bidi embeddings/overrides/isolates and marks: used to spoof "invoice\u202efdp.exe".
_BIDI = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def clean_display_name(name: object) -> str:
    """Validate a client-supplied file name and return its NFC form.

    Raises a 422 :class:`~upvault.errors.InvalidInput` for names that are not text, empty,
    longer than 255 characters, or contain control, bidi-override or unpaired surrogate
    characters. Path components are dropped (``../../etc/passwd`` becomes ``passwd``): a
    browser never sends them, so they only ever come from a tool or an attacker.
    """
    if not isinstance(name, str):
        raise field_error("filename", "must be a string")
    if len(name) > MAX_NAME_CHARS:
        raise field_error("filename", f"must be at most {MAX_NAME_CHARS} characters")
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in _BIDI:
            raise field_error("filename", f"contains a forbidden character U+{ord(char):04X}")
    normalized = unicodedata.normalize("NFC", name)
    basename = re.split(r"[\\/]", normalized)[-1].strip()
    if basename in ("", ".", ".."):
        raise field_error("filename", "must name a file")
    return basename


def safe_key_name(display_name: str) -> str:
    """Derive the conservative ASCII name used inside object keys.

    Compatibility-decomposes (so full-width and ligature tricks fold to plain letters), drops
    accents and format characters, replaces every run of other characters with ``_``, strips
    leading dots (no hidden files, no ``..``), defuses Windows device names in any case
    (``CON.txt``, ``nUl``), lower-cases the extension and bounds the length while keeping it.
    Never empty.
    """
    stem, dot, ext = display_name.rpartition(".")
    if not dot or not stem.strip(". "):
        stem, ext = display_name, ""
    ext = _UNSAFE_RUN.sub("", _ascii_fold(ext)).lower()[:16]
    stem = _UNSAFE_RUN.sub("_", _ascii_fold(stem)).strip("._- ") or "file"
    if stem.lower().split(".")[0] in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    budget = MAX_KEY_NAME_CHARS - (len(ext) + 1 if ext else 0)
    stem = stem[:budget].rstrip("._-") or "file"
    return f"{stem}.{ext}" if ext else stem


def _ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c) and c.isascii())


def extension_of(display_name: str) -> str:
    """Lower-case extension without the dot, or ``""``."""
    _, dot, ext = display_name.rpartition(".")
    return ext.lower() if dot else ""


def encode_header_value(value: str) -> str:
    """Percent-encode UTF-8 text for an ``x-amz-meta-*`` header (headers are ASCII)."""
    return quote(value, safe="")


def decode_header_value(value: str) -> str:
    """Inverse of :func:`encode_header_value`."""
    return unquote(value)


def content_disposition(display_name: str) -> str:
    """RFC 6266 ``attachment`` with an ASCII fallback and the exact UTF-8 name in ``filename*``."""
    fallback = safe_key_name(display_name).replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(display_name, safe='')}"
