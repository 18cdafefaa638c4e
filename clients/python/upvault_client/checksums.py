"""The checksums storage verifies, computed from bytes the client reads anyway.

* Single PUT: SHA-256 of the file, declared up front (storage checks ``x-amz-checksum-sha256``
  signed into the URL), so the file is read once before it is sent.
* Multipart: each part's CRC64NVME, computed from the part's buffer just before it is sent and
  signed into its URL, and the **full-object CRC64NVME**, combined from the parts' (CRC64NVME is
  linear: AWS's ``awscrt`` does the arithmetic) and given at completion. No pass over the file
  comes before its first byte.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from upvault_client.errors import Cancelled, IntegrityError
from upvault_client.sources import Source

#: Bytes read per step when hashing a file (or parts of it) without sending it.
BLOCK = 1024 * 1024


def crc64nvme(data: bytes | bytearray | memoryview, previous: int = 0) -> int:
    """CRC64NVME of ``data``, continuing ``previous`` (awscrt; its native library is loaded on
    first use, so single PUTs and listings never pay the ~0.1 s it takes)."""
    from awscrt.checksums import crc64nvme as compute

    value: int = compute(data, previous)
    return value


def load_crc64nvme() -> None:
    """Load awscrt's native library on a background thread (about 50 ms), so a multipart
    upload's first part is not kept waiting for it; the import lock makes a use meanwhile wait."""
    threading.Thread(target=importlib.import_module, args=("awscrt.checksums",), daemon=True).start()


def combine_crc64nvme(first: int, second: int, second_length: int) -> int:
    """The CRC64NVME of two consecutive pieces from theirs (awscrt)."""
    from awscrt.checksums import combine_crc64nvme as combine

    value: int = combine(first, second, second_length)
    return value


def crc64nvme_b64(value: int) -> str:
    """A CRC64NVME as S3 writes it: base64 of the 8 big-endian bytes."""
    return base64.b64encode(value.to_bytes(8, "big")).decode()


@dataclass(frozen=True)
class FileDigests:
    """What one pass over a file computed."""

    size: int
    #: Base64 SHA-256.
    sha256: str | None = None


def digest(
    source: Source,
    *,
    on_bytes: Callable[[int], None] | None = None,
    cancelled: threading.Event | None = None,
) -> FileDigests:
    """Read ``source`` once, computing its SHA-256 (what a single PUT declares)."""
    hasher = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    offset = 0
    while offset < source.size:
        if cancelled is not None and cancelled.is_set():
            raise Cancelled("cancelled while computing the checksum")
        read = source.read_into(offset, view)
        if read == 0:
            raise OSError(f"file shrank while reading: {source.size - offset} bytes missing")
        hasher.update(view[:read])
        offset += read
        if on_bytes is not None:
            on_bytes(read)
    return FileDigests(size=source.size, sha256=base64.b64encode(hasher.digest()).decode())


def part_crcs_by_reading(
    source: Source, part_size: int, part_count: int, numbers: list[int] | None = None
) -> list[int]:
    """The CRC64NVME of parts ``numbers`` (1-based; default all) by reading them from ``source``."""
    crcs = []
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    for number in numbers if numbers is not None else range(1, part_count + 1):
        offset, end = (number - 1) * part_size, min(number * part_size, source.size)
        crc = 0
        while offset < end:
            read = source.read_into(offset, view[: min(BLOCK, end - offset)])
            if read == 0:
                raise OSError("file shrank while reading")
            crc = crc64nvme(view[:read], crc)
            offset += read
        crcs.append(crc)
    return crcs


class StreamVerifier:
    """Checks bytes streamed from storage against a file's size and the checksum storage verified."""

    def __init__(self, file_id: str, size: int, *, sha256: str | None, crc64nvme: str | None) -> None:
        self.file_id = file_id
        self.size = size
        self.expected_sha256 = sha256
        self.expected_crc = crc64nvme
        self._sha256 = hashlib.sha256() if sha256 else None
        self._crc = 0
        self.received = 0

    @property
    def algorithm(self) -> str | None:
        """``sha256``, ``crc64nvme``, or ``None`` when storage verified no checksum (size only)."""
        return "sha256" if self.expected_sha256 else "crc64nvme" if self.expected_crc else None

    def update(self, chunk: bytes) -> None:
        """Account for the next chunk."""
        self.received += len(chunk)
        if self._sha256 is not None:
            self._sha256.update(chunk)
        elif self.expected_crc:
            self._crc = crc64nvme(chunk, self._crc)

    def check(self) -> None:
        """Raise :class:`IntegrityError` unless size and checksum match."""
        if self.received != self.size:
            raise IntegrityError(f"{self.file_id}: received {self.received} bytes, the file has {self.size}")
        if self._sha256 is not None:
            actual = base64.b64encode(self._sha256.digest()).decode()
            if actual != self.expected_sha256:
                raise IntegrityError(f"{self.file_id}: SHA-256 {actual} differs from {self.expected_sha256}")
        elif self.expected_crc and crc64nvme_b64(self._crc) != self.expected_crc:
            actual = crc64nvme_b64(self._crc)
            raise IntegrityError(f"{self.file_id}: CRC64NVME {actual} differs from {self.expected_crc}")
