"""The ``x-amz-meta-*`` entries Upvault keeps on every object.

They are signed into the presigned PUT (or set by the API on multipart uploads), so a client
cannot change them; the processor trusts them as the declaration to verify against.
"""

from __future__ import annotations

from upvault.filenames import decode_header_value, encode_header_value
from upvault.models import Checksums

NAME = "upvault-name"
SIZE = "upvault-size"
#: The whole file's checksums as the client declared them (signed): what the processor requires
#: storage to have verified. Never reported as the file's checksum: only storage's values are.
SHA256 = "upvault-sha256"
CRC64NVME = "upvault-crc64nvme"
#: The whole-file checksum storage must hold for the upload to be promoted ("crc64nvme" on a
#: multipart upload, whose value may come only at completion): set when the upload starts, so
#: the processor knows what to require even when nothing was declared up front.
VERIFIED_BY = "upvault-verified-by"
REASON = "upvault-reason"
#: Marks the zero-byte object that records a multipart upload's declaration while it runs.
PLACEHOLDER = "upvault-placeholder"
#: The part size a multipart upload started with (a later settings change must not re-cut it).
PART_SIZE = "upvault-part-size"
#: Storage's id of the multipart upload, so signing parts needs one HEAD, not a lookup.
MULTIPART_ID = "upvault-multipart-id"
#: "s3": the client creates and completes the multipart upload with presigned S3 requests.
PRESIGN = "upvault-presign"
CLIENT_PREFIX = "c-"
#: Storage's bound on an object's user metadata. MinIO refuses a request whose ``x-amz-meta-*``
#: header names and values add up to more than 2 KiB (``MetadataTooLarge``); S3 counts the same
#: keys without the prefix against the same 2 KB, so a declaration within this bound fits both.
STORAGE_LIMIT = 2048
HEADER_PREFIX = "x-amz-meta-"


def build(
    *, display_name: str, size: int, checksums: Checksums, client: dict[str, str], multipart: bool = False
) -> dict[str, str]:
    """Metadata for a new upload (a multipart one records that storage must verify its CRC64NVME)."""
    metadata = {NAME: encode_header_value(display_name), SIZE: str(size)}
    if multipart:
        metadata[VERIFIED_BY] = "crc64nvme"
    if checksums.sha256:
        metadata[SHA256] = checksums.sha256
    if checksums.crc64nvme:
        metadata[CRC64NVME] = checksums.crc64nvme
    metadata.update({f"{CLIENT_PREFIX}{key}": value for key, value in client.items()})
    return metadata


def display_name(metadata: dict[str, str], fallback: str) -> str:
    """The original file name, or ``fallback`` (the key's safe name) when absent."""
    raw = metadata.get(NAME)
    return decode_header_value(raw) if raw else fallback


def declared_size(metadata: dict[str, str]) -> int | None:
    """The size the client declared, if recorded and well-formed."""
    raw = metadata.get(SIZE, "")
    return int(raw) if raw.isdigit() else None


def client_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """The client's own metadata map, as it sent it."""
    return {key[len(CLIENT_PREFIX) :]: value for key, value in metadata.items() if key.startswith(CLIENT_PREFIX)}


def is_placeholder(metadata: dict[str, str]) -> bool:
    """True for the marker of a multipart upload still in progress."""
    return metadata.get(PLACEHOLDER) == "1"


def declared_checksums(metadata: dict[str, str]) -> Checksums:
    """The whole file's checksums the client declared (and signed) for this upload."""
    return Checksums(sha256=metadata.get(SHA256), crc64nvme=metadata.get(CRC64NVME))


def requires_crc64nvme(metadata: dict[str, str]) -> bool:
    """Whether the upload must carry a full-object CRC64NVME storage verified (multipart)."""
    return metadata.get(VERIFIED_BY) == "crc64nvme" or CRC64NVME in metadata


def stored_size(metadata: dict[str, str]) -> int:
    """Bytes ``metadata`` counts against :data:`STORAGE_LIMIT` (header names and UTF-8 values)."""
    return sum(len(HEADER_PREFIX + key) + len(value.encode("utf-8")) for key, value in metadata.items())
