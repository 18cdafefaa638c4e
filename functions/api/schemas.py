"""Request and response models of the HTTP API (what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from upvault.limits import Limits
from upvault.models import Category, FileInfo, PartUrl, PresignedRequest, Status, UploadProgress


class Strict(BaseModel):
    """Unknown fields are errors: a forged ``user_id`` is rejected, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class PartIn(Strict):
    """A part to sign, with its own checksums: storage then verifies the part's bytes.

    Storage needs each part's CRC64NVME (S3 and MinIO refuse a part of a CRC64NVME upload
    without one), so a client that can compute it gets URLs from here.
    """

    part_number: StrictInt
    crc64nvme: str | None = Field(default=None, max_length=64, description="base64 CRC-64/NVME of this part")
    md5: str | None = Field(default=None, max_length=64, description="base64 MD5 of this part")


class ChecksumsIn(Strict):
    """Base64 digests of the whole file; storage verifies them against the bytes.

    A single PUT (up to the multipart threshold) requires ``sha256`` and may add ``md5``; a
    multipart upload may declare ``crc64nvme`` (full-object CRC-64/NVME) here or give it at
    completion (``POST /v1/uploads/{upload_id}/complete``), and takes nothing else.
    A 422 for a missing checksum names ``multipart_threshold``.
    """

    md5: str | None = Field(default=None, max_length=64, description="base64 MD5, 16 bytes (single PUT only)")
    sha256: str | None = Field(default=None, max_length=64, description="base64 SHA-256, 32 bytes (single PUT)")
    crc64nvme: str | None = Field(
        default=None,
        max_length=64,
        description="base64 CRC-64/NVME of the whole file, 8 bytes big-endian (multipart; or give it at completion)",
    )


class UploadCreate(Strict):
    """Declaration of a file about to be uploaded."""

    filename: str = Field(max_length=4096, examples=["statement-2026-10.pdf"])
    content_type: str = Field(max_length=255, examples=["application/pdf"])
    size: StrictInt = Field(description="exact size in bytes", examples=[48213])
    category: Category
    checksums: ChecksumsIn = Field(default_factory=ChecksumsIn)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    multipart: bool | None = Field(
        default=None, description="upload in parts (true) or with one PUT (false); default: by size"
    )
    part_size: StrictInt | None = Field(
        default=None, description="bytes per part, 5 MiB..5 GiB, at most 10,000 parts (multipart only)"
    )
    parts: list[PartIn] = Field(
        default_factory=list,
        max_length=100,
        description="multipart: parts (with their CRC64NVME) whose URLs the plan should carry",
    )
    presign: Literal["s3"] | None = Field(
        default=None,
        description='"s3": the client creates and completes the multipart upload itself with requests '
        "presigned by POST /v1/uploads/s3-requests (Uppy 6)",
    )

    @field_validator("metadata", mode="before")
    @classmethod
    def _drop_uppy_meta(cls, value: Any) -> Any:
        # Uppy attaches these to every file's meta and forwards them when told to send meta;
        # the declaration has them already (filename, content_type), so they are ignored.
        if isinstance(value, dict):
            return {key: item for key, item in value.items() if key not in UPPY_META_KEYS}
        return value


#: File meta entries Uppy sets itself (``file.meta``); ignored when a client forwards them.
UPPY_META_KEYS = frozenset({"relativePath", "name", "type"})


class PresignedOut(BaseModel):
    """A request to make directly against storage, with exactly these headers."""

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, request: PresignedRequest) -> PresignedOut:
        """Wrap a core presigned request."""
        return cls(method=request.method, url=request.url, headers=dict(request.headers))


class PartUrlOut(BaseModel):
    """A presigned URL for one part."""

    part_number: int
    size: int
    method: str
    url: str
    headers: dict[str, str]

    @classmethod
    def of(cls, part: PartUrl) -> PartUrlOut:
        """Shape a core part URL."""
        request = part.request
        return cls(
            part_number=part.part_number,
            size=part.size,
            method=request.method,
            url=request.url,
            headers=dict(request.headers),
        )


class MultipartPlanOut(BaseModel):
    """How to split the file; ``parts`` are URLs for the first parts, sign more at ``parts_url``."""

    part_size: int
    part_count: int
    parts_url: str
    parts: list[PartUrlOut] = Field(default_factory=list, description="URLs of the first parts (no part checksum)")
    create: PresignedOut | None = Field(
        default=None, description='presigned CreateMultipartUpload (declared with presign "s3" only)'
    )


#: The one id of a file, from its declaration on; ``upload_id`` names it while bytes are sent.
FILE_ID = "the file's id (a ULID), for GET /v1/files/{file_id} and friends"
UPLOAD_ID = "always equal to file_id; the name the /v1/uploads/{upload_id} routes use for it"


class UploadCreated(BaseModel):
    """Where and how to upload: a single PUT (``upload``) or a multipart plan (``multipart``)."""

    file_id: str = Field(description=FILE_ID)
    upload_id: str = Field(description=UPLOAD_ID)
    key: str = Field(description="the storage key the bytes go to")
    expires_at: datetime
    upload: PresignedOut | None = None
    multipart: MultipartPlanOut | None = None


class PartsRequest(Strict):
    """Parts to (re-)sign."""

    parts: list[PartIn] = Field(min_length=1, max_length=10_000)
    key: str | None = Field(
        default=None, max_length=1024, description="the plan's key: signing then needs no storage lookup"
    )


class S3RequestIn(Strict):
    """One raw S3 request of an upload declared with ``presign: "s3"`` (Uppy 6's ``signRequest``)."""

    method: Literal["GET", "PUT", "POST", "DELETE"]
    key: str = Field(max_length=1024, description="the declared upload's key")
    storage_upload_id: str | None = Field(default=None, max_length=1024, description="storage's multipart upload id")
    part_number: StrictInt | None = Field(default=None, ge=1, le=10_000)
    crc64nvme: str | None = Field(
        default=None,
        max_length=24,
        description="base64 CRC64NVME of the part (PUT), or of the whole file (POST completion)",
    )


class S3RequestOut(BaseModel):
    """The presigned request, and the key it is for."""

    method: str
    url: str
    key: str
    headers: dict[str, str] = Field(default_factory=dict)


class CategoryLimitsOut(BaseModel):
    """What one category accepts."""

    max_size: int
    types: list[str]
    extensions: list[str]


class LimitsOut(BaseModel):
    """Limits to validate and cut a file with before uploading it."""

    multipart_threshold: int = Field(description="above this size the API plans a multipart upload")
    part_size: int = Field(description="default part size")
    min_part_size: int
    max_part_size: int
    max_parts: int
    max_single_put: int
    max_object_size: int
    categories: dict[str, CategoryLimitsOut]

    @classmethod
    def of(cls, limits: Limits) -> LimitsOut:
        """Shape the core's limits."""
        categories = {
            name: CategoryLimitsOut(max_size=rule.max_size, types=rule.types, extensions=rule.extensions)
            for name, rule in limits.categories.items()
        }
        return cls(
            multipart_threshold=limits.multipart_threshold,
            part_size=limits.part_size,
            min_part_size=limits.min_part_size,
            max_part_size=limits.max_part_size,
            max_parts=limits.max_parts,
            max_single_put=limits.max_single_put,
            max_object_size=limits.max_object_size,
            categories=categories,
        )


class StoredPartOut(BaseModel):
    """A part storage already holds."""

    part_number: int
    etag: str
    size: int
    crc64nvme: str | None = None


class UploadPartsOut(BaseModel):
    """Progress of a multipart upload: what is stored and URLs for what is not."""

    upload_id: str = Field(description=UPLOAD_ID)
    file_id: str = Field(description=FILE_ID)
    size: int
    part_size: int
    part_count: int
    parts: list[StoredPartOut]
    missing: list[PartUrlOut] = Field(
        description="URLs for the parts asked for (POST); always empty on GET, which signs nothing"
    )
    missing_parts: list[int] = Field(
        default_factory=list,
        description="parts storage does not hold yet (GET): sign them with POST .../parts giving each "
        "part's crc64nvme, which storage requires",
    )
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
            missing=[PartUrlOut.of(m) for m in progress.missing],
            missing_parts=progress.missing_parts,
            expires_at=progress.expires_at,
        )


class CompletedPart(Strict):
    """A part as the client uploaded it: its number and the ETag storage answered."""

    part_number: StrictInt
    etag: str = Field(min_length=1, max_length=128)


class CompleteRequest(Strict):
    """All parts, in order, and the whole file's CRC64NVME."""

    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)
    crc64nvme: str | None = Field(
        default=None,
        max_length=64,
        description="base64 CRC-64/NVME of the whole file, 8 bytes big-endian: required unless the "
        "declaration carried checksums.crc64nvme, and then equal to it (422 otherwise); storage "
        "verifies it against the parts (400 checksum-mismatch)",
    )


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
