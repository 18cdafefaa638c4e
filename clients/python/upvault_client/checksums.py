"""The checksums storage verifies, computed while streaming the file once.

* Single PUT: SHA-256 of the file (storage checks ``x-amz-checksum-sha256``).
* Multipart: the **full-object CRC64NVME** of the file, declared up front and checked by
  storage at completion, plus each part's own CRC64NVME signed into its URL.

CRC64NVME is linear, so the file is hashed in 1 MiB blocks once and any part's CRC (for any
part size that is a whole number of MiB, which is what the API plans) is combined from its
blocks without reading the file again. AWS's ``awscrt`` does the arithmetic.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from upvault_client.errors import Cancelled, IntegrityError
from upvault_client.sources import Source

#: Granularity of the block CRCs (parts the API plans are whole MiB).
BLOCK = 1024 * 1024


def crc64nvme(data: bytes | bytearray | memoryview, previous: int = 0) -> int:
    """CRC64NVME of ``data``, continuing ``previous`` (awscrt; its native library is loaded on
    first use, so single PUTs and listings never pay the ~0.1 s it takes)."""
    from awscrt.checksums import crc64nvme as compute

    value: int = compute(data, previous)
    return value


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
    #: Base64 SHA-256 (when asked for).
    sha256: str | None = None
    #: CRC64NVME of each ``BLOCK``-sized block, in order (when asked for).
    blocks: tuple[int, ...] = ()

    @property
    def crc64nvme(self) -> str | None:
        """Base64 full-object CRC64NVME (when blocks were computed)."""
        if not self.blocks and self.size:
            return None
        return crc64nvme_b64(self._combine(0, len(self.blocks)))

    def part_crcs(self, part_size: int, part_count: int) -> list[int] | None:
        """Each part's CRC64NVME, combined from the blocks; ``None`` when parts cut blocks."""
        if not self.blocks or part_size % BLOCK:
            return None
        per = part_size // BLOCK
        return [self._combine(index * per, min((index + 1) * per, len(self.blocks))) for index in range(part_count)]

    def _combine(self, first: int, end: int) -> int:
        crc = 0
        for index in range(first, end):
            length = min(BLOCK, self.size - index * BLOCK)
            crc = self.blocks[index] if index == first else combine_crc64nvme(crc, self.blocks[index], length)
        return crc


def digest(
    source: Source,
    *,
    sha256: bool,
    crc: bool,
    on_bytes: Callable[[int], None] | None = None,
    cancelled: threading.Event | None = None,
) -> FileDigests:
    """Read ``source`` once, computing the requested checksums."""
    hasher = hashlib.sha256() if sha256 else None
    blocks: list[int] = []
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    offset = 0
    while offset < source.size:
        if cancelled is not None and cancelled.is_set():
            raise Cancelled("cancelled while computing the checksum")
        read = source.read_into(offset, view)
        if read == 0:
            raise OSError(f"file shrank while reading: {source.size - offset} bytes missing")
        chunk = view[:read]
        if hasher is not None:
            hasher.update(chunk)
        if crc:
            blocks.append(crc64nvme(chunk))
        offset += read
        if on_bytes is not None:
            on_bytes(read)
    return FileDigests(
        size=source.size,
        sha256=base64.b64encode(hasher.digest()).decode() if hasher is not None else None,
        blocks=tuple(blocks),
    )


def part_crcs_by_reading(source: Source, part_size: int, part_count: int) -> list[int]:
    """Each part's CRC64NVME by reading the file again (part sizes that are not whole MiB)."""
    crcs = []
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    for index in range(part_count):
        offset, end = index * part_size, min((index + 1) * part_size, source.size)
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
