"""Request and response models of the HTTP API (what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from upvault.models import Category, FileInfo, PresignedRequest, Status, UploadProgress


class Strict(BaseModel):
    """Unknown fields are errors: a forged ``user_id`` is rejected, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ChecksumsIn(Strict):
    """Base64 digests of the whole file; storage verifies them against the bytes.

    A single PUT (up to the multipart threshold) requires ``sha256`` and may add ``md5``; a
    multipart upload requires ``crc64nvme`` (full-object CRC-64/NVME) and takes nothing else.
    A 422 for a missing checksum names ``multipart_threshold``.
    """

    md5: str | None = Field(default=None, max_length=64, description="base64 MD5, 16 bytes (single PUT only)")
    sha256: str | None = Field(default=None, max_length=64, description="base64 SHA-256, 32 bytes (single PUT)")
    crc64nvme: str | None = Field(
        default=None, max_length=64, description="base64 CRC-64/NVME of the whole file, 8 bytes big-endian (multipart)"
    )


class UploadCreate(Strict):
    """Declaration of a file about to be uploaded."""

    filename: str = Field(max_length=4096, examples=["statement-2026-10.pdf"])
    content_type: str = Field(max_length=255, examples=["application/pdf"])
    size: StrictInt = Field(description="exact size in bytes", examples=[48213])
    category: Category
    checksums: ChecksumsIn = Field(default_factory=ChecksumsIn)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)


class PresignedOut(BaseModel):
    """A request to make directly against storage, with exactly these headers."""

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, request: PresignedRequest) -> PresignedOut:
        """Wrap a core presigned request."""
        return cls(method=request.method, url=request.url, headers=dict(request.headers))


class MultipartPlanOut(BaseModel):
    """How to split the file; fetch part URLs from ``parts_url``."""

    part_size: int
    part_count: int
    parts_url: str


#: The one id of a file, from its declaration on; ``upload_id`` names it while bytes are sent.
FILE_ID = "the file's id (a ULID), for GET /v1/files/{file_id} and friends"
UPLOAD_ID = "always equal to file_id; the name the /v1/uploads/{upload_id} routes use for it"


class UploadCreated(BaseModel):
    """Where and how to upload: a single PUT (``upload``) or a multipart plan (``multipart``)."""

    file_id: str = Field(description=FILE_ID)
    upload_id: str = Field(description=UPLOAD_ID)
    expires_at: datetime
    upload: PresignedOut | None = None
    multipart: MultipartPlanOut | None = None


class PartIn(Strict):
    """A part to sign, with its own checksums: storage then verifies the part's bytes.

    Storage needs each part's CRC64NVME (S3 and MinIO refuse a part of a CRC64NVME upload
    without one), so a client that can compute it gets URLs from here.
    """

    part_number: StrictInt
    crc64nvme: str | None = Field(default=None, max_length=64, description="base64 CRC-64/NVME of this part")
    md5: str | None = Field(default=None, max_length=64, description="base64 MD5 of this part")


class PartsRequest(Strict):
    """Parts to (re-)sign."""

    parts: list[PartIn] = Field(min_length=1, max_length=10_000)


class StoredPartOut(BaseModel):
    """A part storage already holds."""

    part_number: int
    etag: str
    size: int
    crc64nvme: str | None = None


class PartUrlOut(BaseModel):
    """A presigned URL for one part."""

    part_number: int
    size: int
    method: str
    url: str
    headers: dict[str, str]


class UploadPartsOut(BaseModel):
    """Progress of a multipart upload: what is stored and URLs for what is not."""

    upload_id: str = Field(description=UPLOAD_ID)
    file_id: str = Field(description=FILE_ID)
    size: int
    part_size: int
    part_count: int
    parts: list[StoredPartOut]
    missing: list[PartUrlOut]
    expires_at: datetime

    @classmethod
    def of(cls, progress: UploadProgress) -> UploadPartsOut:
        """Shape core progress for the API."""
        return cls(
            upload_id=progress.file_id,
            file_id=progress.file_id,
            size=progress.plan.size,
            part_size=progress.plan.part_size,
            part_count=progress.plan.part_count,
            parts=[
                StoredPartOut(part_number=p.part_number, etag=p.etag, size=p.size, crc64nvme=p.crc64nvme)
                for p in progress.stored
            ],
            missing=[
                PartUrlOut(
                    part_number=m.part_number,
                    size=m.size,
                    method=m.request.method,
                    url=m.request.url,
                    headers=dict(m.request.headers),
                )
                for m in progress.missing
            ],
            expires_at=progress.expires_at,
        )


class CompletedPart(Strict):
    """A part as the client uploaded it: its number and the ETag storage answered."""

    part_number: StrictInt
    etag: str = Field(min_length=1, max_length=128)


class CompleteRequest(Strict):
    """All parts, in order."""

    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)


class _FromInfo(BaseModel):
    """A response model filled from the core's :class:`FileInfo` (the fields it declares)."""

    @classmethod
    def of(cls, info: FileInfo) -> Self:
        """Shape a core file record."""
        return cls(**{name: getattr(info, name) for name in cls.model_fields})


class FileOut(_FromInfo):
    """A file as its owner sees it."""

    file_id: str
    name: str
    category: Category
    status: Status
    size: int
    created_at: datetime
    content_type: str | None = None
    sha256: str | None = Field(default=None, description="base64 SHA-256 storage verified (single PUT uploads)")
    crc64nvme: str | None = Field(default=None, description="base64 CRC-64/NVME storage verified (multipart uploads)")
    reason: str | None = Field(default=None, description="why the file was rejected")
    metadata: dict[str, str] = Field(default_factory=dict)


class FileSummaryOut(_FromInfo):
    """A file as a listing shows it: everything one LIST tells, with no per-file request.

    ``name`` is the storage-safe form of the file name; the original name, content type,
    checksum and rejection reason are in ``GET /v1/files/{file_id}``.
    """

    file_id: str
    name: str = Field(description="storage-safe form of the name (ASCII); the original is in the file's details")
    category: Category
    status: Status
    size: int
    created_at: datetime


class FileListOut(BaseModel):
    """One page of files; pass ``cursor`` back to get the next page."""

    items: list[FileSummaryOut]
    cursor: str | None = None


class DownloadOut(BaseModel):
    """A short-lived download URL."""

    method: str = "GET"
    url: str
    expires_at: datetime


class HealthOut(BaseModel):
    """Service health."""

    status: str = "ok"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
