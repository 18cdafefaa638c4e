"""S3's CompleteMultipartUpload XML, for clients that speak S3 (Uppy 6) but complete through the API.

Uppy 6 builds the completion body itself and sends it where ``signRequest`` points. On MinIO a
multipart upload with a full-object CRC64NVME can only be completed with each part's checksum
in that body, which Uppy does not write; the API completes it instead (with the checksums
storage listed), after checking the part list against the plan, and answers in S3's format.

The body is parsed with a strict pattern, not an XML parser: it is a flat list of
(PartNumber, ETag) pairs, and a pattern cannot be made to expand entities or fetch anything.
"""

from __future__ import annotations

import html
import re
from xml.sax.saxutils import escape

from upvault.errors import BadPartList

#: 10,000 parts of about 100 bytes each, with room to spare.
MAX_BODY_BYTES = 2 * 1024 * 1024
_PART = re.compile(
    r"<Part>\s*<PartNumber>\s*(\d{1,5})\s*</PartNumber>\s*<ETag>([^<]{1,200})</ETag>"
    r"(?:\s*<Checksum[A-Z0-9]+>[^<]{0,100}</Checksum[A-Z0-9]+>)*\s*</Part>"
)
_ENVELOPE = re.compile(
    r"^\s*(?:<\?xml[^>]{0,200}\?>\s*)?<CompleteMultipartUpload(?:\s[^>]{0,300})?>(.*)</CompleteMultipartUpload>\s*$",
    re.S,
)


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """The (part number, ETag) pairs of a CompleteMultipartUpload body; 400 if it is not one."""
    if len(body) > MAX_BODY_BYTES:
        raise BadPartList("completion body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPartList("completion body is not UTF-8") from None
    envelope = _ENVELOPE.match(text)
    if envelope is None:
        raise BadPartList("body is not an S3 CompleteMultipartUpload document")
    inner = envelope.group(1)
    parts = [(int(number), html.unescape(etag).strip()) for number, etag in _PART.findall(inner)]
    if not parts or _PART.sub("", inner).strip():
        raise BadPartList("CompleteMultipartUpload must list Part elements with PartNumber and ETag only")
    return sorted(parts)


def render_result(*, location: str, bucket: str, key: str) -> str:
    """S3's CompleteMultipartUploadResult (Uppy reads Location and Key)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
        "</CompleteMultipartUploadResult>"
    )
