"""Plain data the core takes and returns: enums and frozen dataclasses, no behaviour, no I/O.

Every other module of the core imports from here and this module imports nothing of the core,
so data flows one way: ``storage`` turns boto3's answers into these values, the use cases
(``uploads``, ``files``, ``processing``) pass them on, and the API turns them into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Category(StrEnum):
    """What a user uploads; each category has its own allowed types and size limit."""

    DOCUMENTS = "documents"
    AUDIO = "audio"
    IMAGES = "images"


class Status(StrEnum):
    """Lifecycle of an uploaded file; each status is one area (top-level prefix) of the bucket."""

    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Checksums:
    """Base64 digests a client declared for its file or one part (each may be absent).

    Which are required depends on the upload kind: a single PUT carries ``sha256`` (and may
    carry ``md5``), a multipart upload the whole file's ``crc64nvme`` (its parts may carry
    their own ``crc64nvme`` and ``md5``). Storage verifies every one it is given.
    """

    md5: str | None = None
    sha256: str | None = None
    crc64nvme: str | None = None


# -- what storage answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PresignedRequest:
    """A URL plus the exact headers the client must send with it, and when the URL expires."""

    method: str
    url: str
    expires_at: datetime
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredObject:
    """What one HEAD tells about an object."""

    key: str
    size: int
    content_type: str
    metadata: dict[str, str]
    last_modified: datetime
    version_id: str | None = None
    etag: str | None = None
    #: Checksums storage holds for the object (it verified them when the bytes arrived).
    checksum_sha256: str | None = None
    checksum_crc64nvme: str | None = None
    #: ``FULL_OBJECT`` or ``COMPOSITE`` (a checksum of part checksums, not of the file).
    checksum_type: str | None = None


@dataclass(frozen=True)
class ListedObject:
    """What a LIST tells about an object (no HEAD needed)."""

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of a version listing: a version of an object, or a delete marker."""

    key: str
    version_id: str
    last_modified: datetime
    is_latest: bool
    is_delete_marker: bool = False


@dataclass(frozen=True)
class StoredPart:
    """A part of a multipart upload already in storage."""

    part_number: int
    etag: str
    size: int
    crc64nvme: str | None = None


# -- use cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartToSign:
    """A part a client wants a URL for, with the digests storage should check."""

    part_number: int
    checksums: Checksums = field(default_factory=Checksums)


@dataclass(frozen=True)
class S3Request:
    """One raw S3 request a client asks to have presigned (Uppy 6's ``signRequest``)."""

    method: str
    key: str
    storage_upload_id: str | None = None
    part_number: int | None = None
    crc64nvme: str | None = None


@dataclass(frozen=True)
class UploadRequest:
    """What a client declares about the file it is about to upload."""

    filename: str
    content_type: str
    size: int
    category: Category
    checksums: Checksums = field(default_factory=Checksums)
    metadata: dict[str, str] = field(default_factory=dict)
    #: The client's choice (``None``: the service decides by its threshold and part size).
    multipart: bool | None = None
    part_size: int | None = None
    #: "s3": the client creates, completes or aborts the multipart upload itself with
    #: presigned S3 requests (Uppy 6); the API then only signs them.
    presign: str | None = None
    #: Parts (with their checksums) the plan should carry URLs for.
    first_parts: tuple[PartToSign, ...] = ()


@dataclass(frozen=True)
class MultipartPlan:
    """How to cut a large file: every part but the last is ``part_size`` bytes."""

    part_size: int
    part_count: int
    size: int

    def part_length(self, part_number: int) -> int:
        """Exact byte length of one part."""
        if part_number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


@dataclass(frozen=True)
class UploadTicket:
    """The answer to 'I want to upload this': one presigned PUT or a multipart plan.

    A file has one id from its declaration on; the API also calls it ``upload_id`` while the
    bytes are on their way (the two are always equal).
    """

    file_id: str
    expires_at: datetime
    single: PresignedRequest | None = None
    multipart: MultipartPlan | None = None
    #: The storage key the bytes go to.
    key: str = ""
    #: URLs of the first parts (bound to the part checksums the client declared), saving a round trip.
    first_parts: list[PartUrl] = field(default_factory=list)
    #: The presigned CreateMultipartUpload, when the client runs the upload itself (presign "s3").
    create: PresignedRequest | None = None


@dataclass(frozen=True)
class PartUrl:
    """A presigned URL for one missing part."""

    part_number: int
    size: int
    request: PresignedRequest


@dataclass(frozen=True)
class UploadProgress:
    """State of a multipart upload, for resuming it."""

    file_id: str
    plan: MultipartPlan
    stored: list[StoredPart]
    missing: list[PartUrl]
    expires_at: datetime
    #: Parts storage does not hold yet (their URLs need each part's CRC64NVME: signed on request).
    missing_parts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class FileInfo:
    """One file as its owner sees it."""

    file_id: str
    name: str
    category: Category
    status: Status
    size: int
    created_at: datetime
    content_type: str | None = None
    #: Only checksums storage verified over the stored bytes, never what a client declared.
    sha256: str | None = None
    crc64nvme: str | None = None
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FilePage:
    """One page of a listing, newest first; ``cursor`` continues it when not ``None``."""

    items: list[FileInfo]
    cursor: str | None
