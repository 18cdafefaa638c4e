"""What can be uploaded: a path, bytes, or a file-like object, read by range from any thread.

Nothing here holds a whole file in memory: readers fill buffers they own. A stream that
cannot seek is spooled to a temporary file first (its size must be declared before upload,
and its checksum computed before the first byte is sent).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

#: What ``upload`` accepts.
UploadSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


@runtime_checkable
class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...  # pragma: no cover - protocol


@dataclass(frozen=True)
class Identity:
    """How the resume journal recognises a file on disk: the same path, size and mtime."""

    path: Path
    size: int
    mtime_ns: int


class Source:
    """A fixed sequence of ``size`` bytes that threads may read by range concurrently."""

    def __init__(self, size: int, name: str | None, identity: Identity | None = None) -> None:
        self.size = size
        #: A file name to declare when the caller gives none (the path's name).
        self.name = name
        #: Set for files on disk: the journal key that makes resuming possible.
        self.identity = identity

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset``; returns the bytes read (short only at the end)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file handle (if any)."""

    def head(self, length: int) -> bytes:
        """The first ``length`` bytes (for content sniffing)."""
        buffer = bytearray(min(length, self.size))
        read = self.read_into(0, memoryview(buffer))
        return bytes(buffer[:read])

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` as a fresh ``bytes`` (short only at the end)."""
        buffer = bytearray(min(length, max(self.size - offset, 0)))
        read = self.read_into(offset, memoryview(buffer))
        return bytes(buffer) if read == len(buffer) else bytes(buffer[:read])

    def chunks(self, offset: int, length: int, size: int) -> Iterator[bytes]:
        """``length`` bytes from ``offset`` in fresh ``size``-byte chunks (a streamed body).

        Fresh ``bytes``, not views of a reused buffer: any HTTP transport may keep them, and the
        HTTP/1.1 writer sends a lone ``bytes`` chunk without copying it again.
        """
        end = offset + length
        while offset < end:
            chunk = self.read(offset, min(size, end - offset))
            if not chunk:
                raise OSError(f"file shrank while reading: {end - offset} bytes missing")
            offset += len(chunk)
            yield chunk


class _BufferSource(Source):
    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = memoryview(data).cast("B")
        super().__init__(len(self._data), None)

    def read_into(self, offset: int, buffer: memoryview) -> int:
        piece = self._data[offset : offset + len(buffer)]
        buffer[: len(piece)] = piece
        return len(piece)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self._data[offset : offset + length])


class _FileSource(Source):
    """A seekable binary file.

    A file this module opened is read by position (``pread``), so threads never wait for one
    another; a caller's file object is read under one lock (seek + read), respecting its buffering.
    """

    def __init__(
        self,
        handle: IO[bytes],
        *,
        start: int,
        size: int,
        name: str | None,
        owned: bool,
        identity: Identity | None = None,
    ) -> None:
        self._handle = handle
        self._start = start
        self._owned = owned
        self._lock = threading.Lock()
        #: Positional reads where the platform has them (not Windows), on files opened here.
        self._fd = handle.fileno() if owned and hasattr(os, "pread") and hasattr(os, "preadv") else None
        super().__init__(size, name, identity)

    def read_into(self, offset: int, buffer: memoryview) -> int:
        wanted = min(len(buffer), self.size - offset)
        done = 0
        if self._fd is not None:
            while done < wanted:
                read = os.preadv(self._fd, [buffer[done:wanted]], self._start + offset + done)
                if not read:
                    break
                done += read
            return done
        with self._lock:
            self._handle.seek(self._start + offset)
            while done < wanted:
                read = self._handle.readinto(buffer[done:wanted])  # type: ignore[attr-defined]
                if not read:
                    break
                done += read
        return done

    def read(self, offset: int, length: int) -> bytes:
        wanted = min(length, max(self.size - offset, 0))
        if self._fd is None:
            return super().read(offset, length)
        # One copy, from the page cache straight into the bytes object that is sent.
        data = os.pread(self._fd, wanted, self._start + offset)
        while 0 < len(data) < wanted:
            more = os.pread(self._fd, wanted - len(data), self._start + offset + len(data))
            if not more:
                break
            data += more
        return data

    def close(self) -> None:
        if self._owned:
            self._handle.close()


def open_source(source: UploadSource) -> Source:
    """Wrap what the caller gave; a path is opened here (and closed by :meth:`Source.close`)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        handle = path.open("rb")
        stat = os.fstat(handle.fileno())
        identity = Identity(path.resolve(), stat.st_size, stat.st_mtime_ns)
        return _FileSource(handle, start=0, size=stat.st_size, name=path.name, owned=True, identity=identity)
    if isinstance(source, bytes | bytearray | memoryview):
        return _BufferSource(source)
    if isinstance(source, _Readable):
        return _stream_source(source)
    raise TypeError(f"cannot upload a {type(source).__name__}: give a path, bytes or a binary file object")


def _stream_source(stream: IO[bytes]) -> Source:
    name = getattr(stream, "name", None)
    name = Path(name).name if isinstance(name, str) else None
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable() and hasattr(stream, "readinto"):
        start = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(start)
        return _FileSource(stream, start=start, size=end - start, name=name, owned=False)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the source
    shutil.copyfileobj(stream, spool, 1024 * 1024)
    spool.flush()  # read by position from its descriptor, below Python's write buffer
    return _FileSource(spool, start=0, size=spool.tell(), name=name, owned=True)
