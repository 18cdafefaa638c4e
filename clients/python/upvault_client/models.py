"""What the client hands back: files as the API describes them, download links, progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Where a file stands: uploaded and awaiting validation, visible, or refused with a reason.
PENDING, READY, REJECTED = "pending", "ready", "rejected"


class _ApiModel(BaseModel):
    """Frozen, and tolerant of fields a newer API adds."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class FileSummary(_ApiModel):
    """A file as a listing shows it (one storage LIST tells this much)."""

    file_id: str
    name: str
    category: str
    status: str
    size: int
    created_at: datetime

    @property
    def is_ready(self) -> bool:
        """Validated and visible."""
        return self.status == READY

    @property
    def is_pending(self) -> bool:
        """Uploaded (or being uploaded), not validated yet."""
        return self.status == PENDING

    @property
    def is_rejected(self) -> bool:
        """Refused by validation; ``reason`` (on :class:`FileInfo`) says why."""
        return self.status == REJECTED


class FileInfo(FileSummary):
    """One file's details: original name, type, the checksums storage verified, why it was rejected."""

    content_type: str | None = None
    #: Base64 SHA-256 of the file, reported only when storage verified it (single PUT uploads).
    sha256: str | None = None
    #: Base64 full-object CRC64NVME, reported only when storage verified it (multipart uploads).
    crc64nvme: str | None = None
    reason: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class DownloadLink(_ApiModel):
    """A short-lived presigned GET that downloads the file under its original name."""

    url: str
    expires_at: datetime
    method: str = "GET"


class Problem(BaseModel):
    """An RFC 9457 problem as the API sent it (extra members such as ``max_size`` are kept)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = "about:blank"
    title: str = ""
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[dict[str, str]] | None = None

    @property
    def extras(self) -> dict[str, Any]:
        """Members beyond RFC 9457's own (``max_size``, ``allowed_types``, ...)."""
        return dict(self.model_extra or {})


@dataclass(frozen=True)
class Progress:
    """Where one upload stands; passed to ``on_progress`` (from worker threads).

    ``phase`` is ``checksum`` while the file is read to compute the checksum storage will
    verify, ``upload`` while bytes go to storage, ``processing`` while waiting for validation.
    ``done``/``total`` count bytes (``processing`` reports the file size for both).
    ``resumed`` counts bytes of parts storage already held when an interrupted upload resumed.
    """

    phase: Literal["checksum", "upload", "processing"]
    done: int
    total: int
    resumed: int = 0
