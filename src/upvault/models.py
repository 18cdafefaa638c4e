"""Plain data the core takes and returns; the API turns these into JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from upvault.keys import Status
from upvault.settings import Category
from upvault.storage import PresignedRequest, StoredPart
from upvault.validation import Checksums


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
    """The answer to 'I want to upload this': one presigned PUT or a multipart plan."""

    file_id: str
    upload_id: str
    expires_at: datetime
    single: PresignedRequest | None = None
    multipart: MultipartPlan | None = None
    #: The storage key the bytes go to.
    key: str = ""
    #: URLs of the first parts (without part checksums), saving a round trip.
    first_parts: list[PartUrl] = field(default_factory=list)
    #: The presigned CreateMultipartUpload, when the client runs the upload itself (presign "s3").
    create: PresignedRequest | None = None


@dataclass(frozen=True)
class PartToSign:
    """A part a client wants a URL for, with the digests storage should check."""

    part_number: int
    md5: str | None = None
    crc64nvme: str | None = None


@dataclass(frozen=True)
class S3Request:
    """One raw S3 request a client asks to have presigned (Uppy 6's ``signRequest``)."""

    method: str
    key: str
    storage_upload_id: str | None = None
    part_number: int | None = None
    crc64nvme: str | None = None


@dataclass(frozen=True)
class PartUrl:
    """A presigned URL for one missing part."""

    part_number: int
    size: int
    request: PresignedRequest


@dataclass(frozen=True)
class UploadProgress:
    """State of a multipart upload, for resuming it."""

    upload_id: str
    file_id: str
    plan: MultipartPlan
    stored: list[StoredPart]
    missing: list[PartUrl]
    expires_at: datetime


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
    sha256: str | None = None
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FilePage:
    """One page of a listing; ``cursor`` continues it when not ``None``."""

    items: list[FileInfo]
    cursor: str | None
