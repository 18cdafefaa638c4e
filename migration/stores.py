"""Listing, reading and writing objects of each kind of location, with the checks that go with it.

Both stores speak the same small interface, so the engine never asks which kind it copies
between. Every write is verified where it lands:

* **S3/MinIO**: the request carries a checksum of the exact bytes read (CRC64NVME, or SHA-256
  for objects mapped into Upvault's layout, as the API's own uploads do) and storage refuses
  anything else; the checksum storage reports back must equal ours.
* **Local folder**: the file is written under a temporary name, read back and hashed, and only
  renamed into place when it matches.

Reads are checked too: the byte count against the listing, and the checksum the source stores
(botocore validates it when present), or its ETag when that is a plain MD5 of the content.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import errno
import hashlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import boto3
import botocore.compat
import botocore.loaders
import botocore.session
from awscrt.checksums import crc64nvme
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.utils import parse_timestamp

from migration.crt import CrtChannel, CrtRequestError
from migration.errors import MigrationError, ObjectFailed, RunAborted
from migration.locations import Location, SideOptions

MIB = 1024 * 1024
CHUNK = 1 * MIB
#: Temporary files of a local destination start with this; listings ignore them.
PARTIAL_PREFIX = ".upvault-partial-"
#: rclone's name for the modification time it keeps as metadata: both tools understand it.
MTIME_KEY = "mtime"
#: Object headers copied along with the bytes (boto3 parameter names).
COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
_UNREACHABLE = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)
_BUCKET_GONE = frozenset({"NoSuchBucket"})
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Entry:
    """One object as a listing shows it."""

    key: str
    size: int
    #: Seconds since the epoch: the file's mtime, or the object's LastModified.
    mtime: float
    #: Changes whenever the object changes: its ETag, or a file's ``size:mtime_ns``.
    version: str
    #: The ETag of an S3 object.
    etag: str | None = None


@dataclass
class ObjectMeta:
    """What travels with the bytes: content type, user metadata, headers, timestamp."""

    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    mtime: float | None = None
    #: The full-object CRC64NVME storage keeps for the object, when it keeps one.
    crc64nvme: str | None = None


@dataclass(frozen=True)
class Written:
    """A verified write: the new object's version token and the checksum storage confirmed."""

    version: str
    checksum: str


class Digest:
    """Streaming CRC64NVME (S3's full-object checksum), with MD5 (plain ETags) and SHA-256 on demand.

    CRC64NVME runs in awscrt's native code; the other two cost CPU and are only computed when
    something will compare them.
    """

    def __init__(self, *, md5: bool = False, sha256: bool = False) -> None:
        self._crc = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._sha256 = hashlib.sha256() if sha256 else None
        self.size = 0

    def update(self, data: bytes) -> None:
        """Add the next bytes."""
        self._crc = crc64nvme(data, self._crc)
        if self._md5 is not None:
            self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        self.size += len(data)

    @property
    def crc64nvme(self) -> str:
        """Base64 of the 8-byte big-endian CRC64NVME, as S3 reports it."""
        return base64.b64encode(self._crc.to_bytes(8, "big")).decode()

    @property
    def md5_hex(self) -> str | None:
        """Hex MD5 (a single-part, unencrypted object's ETag), when asked for."""
        return self._md5.hexdigest() if self._md5 is not None else None

    @property
    def sha256(self) -> str | None:
        """Base64 SHA-256, when asked for."""
        return base64.b64encode(self._sha256.digest()).decode() if self._sha256 is not None else None

    @classmethod
    def of(cls, data: bytes, *, md5: bool = False, sha256: bool = False) -> Digest:
        """The digest of ``data``."""
        digest = cls(md5=md5, sha256=sha256)
        digest.update(data)
        return digest

    @classmethod
    def of_stream(cls, stream: BinaryIO, *, md5: bool = False, sha256: bool = False) -> Digest:
        """The digest of everything ``stream`` yields."""
        digest = cls(md5=md5, sha256=sha256)
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
        return digest

    def value(self, algorithm: str) -> str | None:
        """The base64 value S3 would report for ``CRC64NVME`` or ``SHA256``."""
        return self.crc64nvme if algorithm == "CRC64NVME" else self.sha256


@dataclass(frozen=True)
class Checksum:
    """The checksum a write declares: ``CRC64NVME`` or ``SHA256`` and its base64 value."""

    algorithm: str
    value: str


class HashingReader:
    """A read-only stream that hashes every byte it hands out (fed to the transfer manager)."""

    def __init__(self, stream: Any, digest: Digest) -> None:
        self._stream = stream
        self.digest = digest

    def read(self, size: int = -1) -> bytes:
        """Read and hash up to ``size`` bytes (all when negative)."""
        data: bytes = self._stream.read(size) if size >= 0 else self._stream.read()
        self.digest.update(data)
        return data


def is_plain_md5(etag: str | None) -> bool:
    """Whether an ETag looks like the MD5 of the content (not multipart: no ``-N`` suffix)."""
    return etag is not None and len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


class Store(Protocol):
    """What the engine needs of a location."""

    location: Location
    #: Stores of one group can copy between each other without the bytes passing through here.
    server_side_group: str | None

    def check(self, *, writable: bool) -> None:
        """Raise :class:`MigrationError` unless the location exists (and takes writes)."""

    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Every object under the location (and ``prefix``), keys relative to the location."""

    def read(self, entry: Entry, *, sha256: bool = False) -> tuple[bytes, ObjectMeta, Digest]:
        """The bytes of a small object, checked against what the source says about them."""

    def local_copy(
        self, entry: Entry, *, sha256: bool = False
    ) -> contextlib.AbstractContextManager[tuple[Path, ObjectMeta, Digest]]:
        """A file holding the object's bytes (a temporary download for remote stores)."""

    def write(self, key: str, data: bytes, meta: ObjectMeta, checksum: Checksum) -> Written:
        """Store a small object and verify it."""

    def write_file(self, key: str, path: Path, meta: ObjectMeta, checksum: Checksum) -> Written:
        """Store a large object from a file (multipart where it applies) and verify it."""

    def open_stream(self, entry: Entry) -> contextlib.AbstractContextManager[tuple[HashingReader, ObjectMeta]]:
        """The object as a hashing stream; leaving the block checks what was read against the source."""

    def write_stream(self, key: str, reader: HashingReader, meta: ObjectMeta) -> Written:
        """Store everything ``reader`` yields and verify it against ``reader.digest``."""

    def copy_from(self, source: Store, entry: Entry, key: str, meta: ObjectMeta) -> Written:
        """Server-side copy from a store of the same group."""

    def head(self, key: str) -> ObjectMeta | None:
        """Metadata of one object, ``None`` when missing."""

    def digest(self, key: str, *, sha256: bool = False) -> Digest:
        """Read the whole object and hash it."""

    def delete(self, key: str) -> None:
        """Remove one object."""

    def close(self) -> None:
        """Release connections and thread pools."""


# -- local folders -----------------------------------------------------------------------------


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


@contextlib.contextmanager
def _disk_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise RunAborted(f"{what}: no space left on the destination disk ({exc.strerror})") from None
        raise ObjectFailed(f"{what}: {exc.strerror or exc}") from None


class LocalStore:
    """A folder: keys are relative paths with ``/``; metadata goes to ``user.*`` xattrs where allowed."""

    server_side_group: str | None = None

    def __init__(self, location: Location) -> None:
        assert location.path is not None
        self.location = location
        self.root = location.path

    def check(self, *, writable: bool) -> None:
        """The folder must exist to be read; a destination folder is created."""
        if writable:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MigrationError(f"cannot create the destination folder {self.root}: {exc.strerror}") from None
            if not os.access(self.root, os.W_OK):
                raise MigrationError(f"the destination folder {self.root} is not writable")
        elif not self.root.is_dir():
            raise MigrationError(f"the source folder {self.root} does not exist")

    def path(self, key: str) -> Path:
        """The file of a key (keys never leave the folder)."""
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ObjectFailed(f"{key!r} would leave the destination folder")
        return path

    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Regular files under the folder, in a stable order; temporary files are skipped."""
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return
        for directory, folders, files in os.walk(base):
            folders.sort()
            for name in sorted(files):
                if name.startswith(PARTIAL_PREFIX):
                    continue
                path = Path(directory, name)
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    if path.is_file():
                        key = path.relative_to(self.root).as_posix()
                        yield Entry(key, stat.st_size, stat.st_mtime, f"{stat.st_size}:{stat.st_mtime_ns}")

    def _meta(self, path: Path) -> ObjectMeta:
        metadata: dict[str, str] = {}
        content_type = _guess_type(path.name)
        with contextlib.suppress(OSError, AttributeError):
            for name in os.listxattr(path):
                value = os.getxattr(path, name).decode("utf-8", "replace")
                if name == "user.mime_type":
                    content_type = value
                elif name.startswith("user.upvault.meta."):
                    metadata[name.removeprefix("user.upvault.meta.")] = value
        return ObjectMeta(content_type=content_type, metadata=metadata, mtime=path.stat().st_mtime)

    def read(self, entry: Entry, *, sha256: bool = False) -> tuple[bytes, ObjectMeta, Digest]:
        """The file's bytes; a file that changed size since the listing fails (rerun picks it up)."""
        path = self.path(entry.key)
        with _disk_errors(entry.key):
            data = path.read_bytes()
            meta = self._meta(path)
        if len(data) != entry.size:
            raise ObjectFailed(f"changed while copying: listed {entry.size} bytes, read {len(data)}")
        return data, meta, Digest.of(data, sha256=sha256)

    @contextlib.contextmanager
    def local_copy(self, entry: Entry, *, sha256: bool = False) -> Iterator[tuple[Path, ObjectMeta, Digest]]:
        """The file itself (hashed once; large uploads read it again in parts)."""
        path = self.path(entry.key)
        with _disk_errors(entry.key), path.open("rb") as stream:
            digest = Digest.of_stream(stream, sha256=sha256)
            meta = self._meta(path)
        if digest.size != entry.size:
            raise ObjectFailed(f"changed while copying: listed {entry.size} bytes, read {digest.size}")
        yield path, meta, digest

    def _place(self, key: str, fill: Any, meta: ObjectMeta, expected: Callable[[], Checksum]) -> Written:
        """Write through ``fill(temp_path)``, verify by reading back, then rename into place."""
        target = self.path(key)
        with _disk_errors(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=target.parent)
            os.close(handle)
            temp = Path(temp_name)
            try:
                fill(temp)
                checksum = expected()
                with temp.open("rb") as stream:
                    written = Digest.of_stream(stream, sha256=checksum.algorithm == "SHA256")
                got = written.value(checksum.algorithm)
                if got != checksum.value:
                    raise ObjectFailed(
                        f"verification failed: read back {checksum.algorithm} {got}, expected {checksum.value}"
                    )
                self._set_meta(temp, meta)
                os.replace(temp, target)
            finally:
                temp.unlink(missing_ok=True)
            stat = target.stat()
        return Written(f"{stat.st_size}:{stat.st_mtime_ns}", checksum.value)

    @staticmethod
    def _set_meta(path: Path, meta: ObjectMeta) -> None:
        # Extended attributes are best effort: not every filesystem has them.
        with contextlib.suppress(OSError, AttributeError):
            os.setxattr(path, "user.mime_type", meta.content_type.encode())
            for name, value in meta.metadata.items():
                os.setxattr(path, f"user.upvault.meta.{name}", value.encode())
        if meta.mtime is not None:
            os.utime(path, (meta.mtime, meta.mtime))

    def write(self, key: str, data: bytes, meta: ObjectMeta, checksum: Checksum) -> Written:
        """Write a small object."""
        return self._place(key, lambda temp: temp.write_bytes(data), meta, lambda: checksum)

    def write_file(self, key: str, path: Path, meta: ObjectMeta, checksum: Checksum) -> Written:
        """Copy a file into place."""
        return self._place(key, lambda temp: shutil.copyfile(path, temp), meta, lambda: checksum)

    @contextlib.contextmanager
    def open_stream(self, entry: Entry) -> Iterator[tuple[HashingReader, ObjectMeta]]:
        """The file, hashed as it is read; a size other than the listing's fails the object."""
        path = self.path(entry.key)
        with _disk_errors(entry.key), path.open("rb") as stream:
            reader = HashingReader(stream, Digest())
            yield reader, self._meta(path)
        if reader.digest.size == 0 < entry.size:
            return  # the caller stopped before copying (a rejected declaration)
        if reader.digest.size != entry.size:
            raise ObjectFailed(f"changed while copying: listed {entry.size} bytes, read {reader.digest.size}")

    def write_stream(self, key: str, reader: HashingReader, meta: ObjectMeta) -> Written:
        """Copy the stream into place."""

        def fill(temp: Path) -> None:
            with temp.open("wb") as out:
                shutil.copyfileobj(reader, out, CHUNK)

        return self._place(key, fill, meta, lambda: Checksum("CRC64NVME", reader.digest.crc64nvme))

    def copy_from(self, source: Store, entry: Entry, key: str, meta: ObjectMeta) -> Written:
        """Never called: folders have no server-side copy."""
        raise NotImplementedError

    def head(self, key: str) -> ObjectMeta | None:
        """The file's metadata, ``None`` when missing."""
        path = self.path(key)
        return self._meta(path) if path.is_file() else None

    def digest(self, key: str, *, sha256: bool = False) -> Digest:
        """Hash the file."""
        with _disk_errors(key), self.path(key).open("rb") as stream:
            return Digest.of_stream(stream, sha256=sha256)

    def delete(self, key: str) -> None:
        """Remove the file (never a folder)."""
        with _disk_errors(key):
            self.path(key).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release."""


# -- S3 and S3-compatible servers ----------------------------------------------------------------


#: One loader for every session: each side's client then reuses the S3 model already parsed.
_LOADER = botocore.loaders.create_loader()


def _timestamp(value: str) -> datetime:
    """botocore's timestamps without dateutil: 15 times cheaper, and every listed object has one."""
    try:
        if value[:1].isdigit():
            return datetime.fromisoformat(value)
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed: datetime = parse_timestamp(value)
        return parsed


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    """A bucket (and prefix) of S3 or an S3-compatible server, with its own credentials."""

    def __init__(
        self,
        location: Location,
        side: SideOptions,
        *,
        parallel: int,
        multipart_threshold: int,
        part_size: int,
        temp_dir: Path | None = None,
    ) -> None:
        self.location = location
        self.side = side
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.temp_dir = temp_dir
        self.where = f"{side.name} {location}" + (f" at {side.endpoint_url}" if side.endpoint_url else "")
        if not botocore.compat.HAS_CRT:
            raise MigrationError(
                "botocore's CRT support is off (is BOTO_DISABLE_CRT set?): the per-part CRC64NVME checksums of "
                "multipart copies need it; unset BOTO_DISABLE_CRT"
            )
        try:
            self.client, self.credentials = self._connect(side, parallel)
        except ProfileNotFound:
            raise MigrationError(f"{self.where}: the profile {side.profile!r} is not in the AWS config files") from None
        region, identity = self.client.meta.region_name, self.credentials.access_key
        # Same endpoint and same identity: the server can copy without the bytes passing here.
        self.server_side_group: str | None = f"{side.endpoint_url or 'aws'}|{region}|{identity}"
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=part_size,
            # One manager serves every large object of the run: its request pool is shared, so it
            # gets as many slots as objects in flight. Parts read from a stream wait in memory
            # (at most --parallel of them: 32 x 16 MiB = 512 MiB with the defaults on 2 cores).
            max_concurrency=parallel,
            preferred_transfer_client="classic",
        )
        # Each streamed object is read by a submission thread; s3transfer's default of 5 would
        # serialise the rest.
        self.transfer_config.max_submission_concurrency = parallel
        self.transfer_config.max_in_memory_upload_chunks = parallel
        self._transfers: Any = None
        self._crt: CrtChannel | None = None

    def _connect(self, side: SideOptions, parallel: int) -> tuple[Any, Credentials]:
        """This side's boto3 client and credentials (its own keys, else its profile, else the default chain)."""
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
        session = boto3.session.Session(profile_name=side.profile, region_name=side.region, botocore_session=core)
        keys = side.credentials
        explicit: dict[str, Any] = {}
        credentials: Credentials | None
        if keys is not None and keys.access_key_id and keys.secret_access_key:
            explicit = {
                "aws_access_key_id": keys.access_key_id,
                "aws_secret_access_key": keys.secret_access_key,
                "aws_session_token": keys.session_token,
            }
            credentials = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
        else:
            credentials = session.get_credentials()
            if credentials is None:
                raise MigrationError(f"{self.where}: no credentials; set {side.env_hint}")
        config = Config(
            signature_version="s3v4",
            region_name=side.region or session.region_name or "us-east-1",
            # Path style for S3-compatible endpoints; AWS itself wants virtual-hosted style.
            s3={"addressing_style": "path" if side.endpoint_url else "virtual"},
            # boto3 >= 1.36 adds CRC32 to every request by default; we send our own checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=max(10, parallel * 2),
        )
        return session.client("s3", endpoint_url=side.endpoint_url, config=config, **explicit), credentials

    @property
    def crt(self) -> CrtChannel:
        """The native client for small objects' GETs and PUTs (made on first use)."""
        if self._crt is None:
            self._crt = CrtChannel(self.side.endpoint_url, self.client.meta.region_name, self.credentials)
        return self._crt

    @property
    def transfers(self) -> Any:
        """One transfer manager for the run (its thread pool is shared by all large objects)."""
        if self._transfers is None:
            self._transfers = create_transfer_manager(self.client, self.transfer_config)
        return self._transfers

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Storage trouble → a per-object failure, or an abort when the server or bucket is gone."""
        try:
            yield
        except _UNREACHABLE as exc:
            raise RunAborted(f"{self.where} is unreachable ({type(exc).__name__}); rerun to continue") from None
        except NoCredentialsError:
            raise MigrationError(f"{self.where}: no credentials; set {self.side.env_hint}") from None
        except CrtRequestError as exc:
            raise self._crt_failure(exc) from None
        except FlexibleChecksumError as exc:
            raise ObjectFailed(f"the source's bytes do not match its stored checksum: {exc}") from None
        except ClientError as exc:
            code = _error_code(exc)
            if code in _BUCKET_GONE:
                raise RunAborted(f"{self.where}: the bucket {self.bucket!r} no longer exists") from None
            message = exc.response.get("Error", {}).get("Message", "")
            raise ObjectFailed(f"{code or 'error'}: {message}".rstrip(": ")) from None
        except BotoCoreError as exc:
            raise ObjectFailed(f"{type(exc).__name__}: {exc}") from None

    def _crt_failure(self, exc: CrtRequestError) -> Exception:
        if exc.unreachable:
            return RunAborted(f"{self.where} is unreachable ({exc.code}); rerun to continue")
        if exc.code in _BUCKET_GONE:
            return RunAborted(f"{self.where}: the bucket {self.bucket!r} no longer exists")
        if exc.code == "PreconditionFailed":
            return ObjectFailed("changed at the source since it was listed; the next run copies it")
        return ObjectFailed(str(exc))

    def check(self, *, writable: bool) -> None:
        """The bucket must exist and answer these credentials."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except _UNREACHABLE:
            raise MigrationError(f"{self.where}: cannot reach the endpoint") from None
        except NoCredentialsError:
            raise MigrationError(f"{self.where}: no credentials; set {self.side.env_hint}") from None
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise MigrationError(f"{self.where}: the bucket {self.bucket!r} does not exist") from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise MigrationError(
                    f"{self.where}: access denied to the bucket {self.bucket!r}: check {self.side.env_hint}"
                ) from None
            raise MigrationError(f"{self.where}: {code}") from None
        except BotoCoreError as exc:
            raise MigrationError(f"{self.where}: {exc}") from None

    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Every object under the prefix; "folder" markers (keys ending in ``/``) are skipped."""
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue
                    etag = item.get("ETag", "").strip('"').lower()
                    yield Entry(key[len(self.prefix) :], item["Size"], item["LastModified"].timestamp(), etag, etag)

    @staticmethod
    def _meta(response: dict[str, Any]) -> ObjectMeta:
        metadata = dict(response.get("Metadata", {}))
        raw_mtime = metadata.get(MTIME_KEY, "")
        try:
            mtime = float(raw_mtime) if raw_mtime else response["LastModified"].timestamp()
        except ValueError:
            mtime = response["LastModified"].timestamp()
        crc = response.get("ChecksumCRC64NVME")
        return ObjectMeta(
            content_type=response.get("ContentType") or "application/octet-stream",
            metadata=metadata,
            headers={name: response[name] for name in COPIED_HEADERS if response.get(name)},
            mtime=mtime,
            crc64nvme=crc if crc and "-" not in crc else None,
        )

    def _check_read(self, entry: Entry, response: dict[str, Any], digest: Digest) -> None:
        if digest.size != entry.size:
            raise ObjectFailed(f"changed while copying: listed {entry.size} bytes, read {digest.size}")
        # A plain ETag of an unencrypted object is the MD5 of its bytes; encrypted objects'
        # ETags are not (MinIO's never are), so only compare when nothing says "encrypted".
        encrypted = response.get("ServerSideEncryption") or response.get("SSECustomerAlgorithm")
        etag = response.get("ETag", "").strip('"').lower()
        if not encrypted and digest.md5_hex is not None and is_plain_md5(etag) and digest.md5_hex != etag:
            raise ObjectFailed(f"read bytes do not match the source's ETag {etag}")

    def read(self, entry: Entry, *, sha256: bool = False) -> tuple[bytes, ObjectMeta, Digest]:
        """GET the object (awscrt checks a stored checksum; we check the size and plain ETags)."""
        with self._errors(entry.key):
            response, data = self.crt.get(self.bucket, self.prefix + entry.key, if_match=f'"{entry.etag}"')
        digest = Digest.of(data, md5=is_plain_md5(entry.etag), sha256=sha256)
        self._check_read(entry, response, digest)
        return data, self._meta(response), digest

    @contextlib.contextmanager
    def local_copy(self, entry: Entry, *, sha256: bool = False) -> Iterator[tuple[Path, ObjectMeta, Digest]]:
        """Download in parallel ranges with the transfer manager into a temporary file."""
        with tempfile.TemporaryDirectory(prefix="upvault-migrate-", dir=self.temp_dir) as folder:
            path = Path(folder) / "object"
            with self._errors(entry.key), _disk_errors(entry.key):
                head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + entry.key, ChecksumMode="ENABLED")
                if head.get("ETag", "").strip('"').lower() != entry.etag:
                    raise ObjectFailed("changed at the source since it was listed; the next run copies it")
                self.transfers.download(self.bucket, self.prefix + entry.key, str(path)).result()
                with path.open("rb") as stream:
                    digest = Digest.of_stream(stream, md5=is_plain_md5(entry.etag), sha256=sha256)
            meta = self._meta(head)
            self._check_read(entry, head, digest)
            if meta.crc64nvme and meta.crc64nvme != digest.crc64nvme:
                raise ObjectFailed("downloaded bytes do not match the source's stored CRC64NVME")
            yield path, meta, digest

    def _put_args(self, meta: ObjectMeta) -> dict[str, Any]:
        args: dict[str, Any] = {"ContentType": meta.content_type, "Metadata": dict(meta.metadata), **meta.headers}
        if meta.mtime is not None:
            args["Metadata"].setdefault(MTIME_KEY, f"{meta.mtime:.9f}".rstrip("0").rstrip("."))
        return args

    def _confirm(self, key: str, response: dict[str, Any], checksum: Checksum) -> Written:
        """The checksum storage reports must be ours.

        When the write response lacks it, a HEAD asks; a server that keeps no checksums at all
        (some S3-compatible ones ignore the header) gets its object read back and hashed.
        """
        field_name = f"Checksum{checksum.algorithm}"
        reported = response.get(field_name)
        if reported is None:
            with self._errors(key):
                response = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED")
            reported = response.get(field_name)
        if reported is None or "-" in reported:
            # None kept, or only a checksum of the parts' checksums: read the object back.
            reported = self.digest(key, sha256=checksum.algorithm == "SHA256").value(checksum.algorithm)
        if reported != checksum.value:
            raise ObjectFailed(
                f"verification failed: the destination holds {checksum.algorithm} {reported}, sent {checksum.value}"
            )
        return Written(response.get("ETag", "").strip('"').lower(), checksum.value)

    def write(self, key: str, data: bytes, meta: ObjectMeta, checksum: Checksum) -> Written:
        """One PUT (awscrt) whose checksum header makes storage verify the bytes."""
        with self._errors(key):
            response = self.crt.put(
                self.bucket, self.prefix + key, data, self._put_args(meta), (checksum.algorithm, checksum.value)
            )
        return self._confirm(key, response, checksum)

    def write_file(self, key: str, path: Path, meta: ObjectMeta, checksum: Checksum) -> Written:
        """Upload with the transfer manager: multipart above the threshold, parts in parallel.

        The full-object checksum is declared up front, so storage verifies the assembled object
        (S3 and MinIO both check a FULL_OBJECT CRC64NVME on completion).
        """
        extra = {**self._put_args(meta), f"Checksum{checksum.algorithm}": checksum.value}
        with self._errors(key), _disk_errors(key):
            self.transfers.upload(str(path), self.bucket, self.prefix + key, extra_args=extra).result()
        return self._confirm(key, {}, checksum)

    @contextlib.contextmanager
    def open_stream(self, entry: Entry) -> Iterator[tuple[HashingReader, ObjectMeta]]:
        """One GET, hashed as the transfer manager reads it; checked against the source when done."""
        with self._errors(entry.key):
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + entry.key, IfMatch=f'"{entry.etag}"', ChecksumMode="ENABLED"
            )
        meta = self._meta(response)
        reader = HashingReader(response["Body"], Digest(md5=is_plain_md5(entry.etag)))
        with contextlib.closing(response["Body"]):
            yield reader, meta
        if reader.digest.size == 0 < entry.size:
            return  # the caller stopped before copying (a rejected declaration)
        self._check_read(entry, response, reader.digest)
        if meta.crc64nvme and meta.crc64nvme != reader.digest.crc64nvme:
            raise ObjectFailed("read bytes do not match the source's stored CRC64NVME")

    def write_stream(self, key: str, reader: HashingReader, meta: ObjectMeta) -> Written:
        """Upload a stream with the transfer manager, each part with its CRC64NVME.

        Storage (S3 and MinIO alike) then derives the object's full CRC64NVME from the verified
        parts; it must equal the CRC64NVME of every byte read from the source.
        """
        extra = {**self._put_args(meta), "ChecksumAlgorithm": "CRC64NVME"}
        with self._errors(key):
            self.transfers.upload(reader, self.bucket, self.prefix + key, extra_args=extra).result()
        return self._confirm(key, {}, Checksum("CRC64NVME", reader.digest.crc64nvme))

    def copy_from(self, source: Store, entry: Entry, key: str, meta: ObjectMeta) -> Written:
        """Server-side copy (CopyObject, UploadPartCopy for large objects): no bytes pass here."""
        assert isinstance(source, S3Store)
        copy_source = {"Bucket": source.bucket, "Key": source.prefix + entry.key}
        extra = {**self._put_args(meta), "MetadataDirective": "REPLACE", "CopySourceIfMatch": f'"{entry.etag}"'}
        with self._errors(key):
            self.transfers.copy(copy_source, self.bucket, self.prefix + key, extra_args=extra).result()
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED")
        if head["ContentLength"] != entry.size:
            raise ObjectFailed(f"verification failed: copied {head['ContentLength']} bytes, source has {entry.size}")
        etag = head.get("ETag", "").strip('"').lower()
        return Written(etag, "")

    def head(self, key: str) -> ObjectMeta | None:
        """HEAD one object (with its stored checksum); ``None`` when missing."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            with self._errors(key):
                raise
        except Exception:
            with self._errors(key):
                raise
        return self._meta(response)

    def digest(self, key: str, *, sha256: bool = False) -> Digest:
        """Stream the object through the hashes."""
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
            return Digest.of_stream(body, sha256=sha256)

    def delete(self, key: str) -> None:
        """Delete one object."""
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def close(self) -> None:
        """Stop the transfer manager's threads."""
        if self._transfers is not None:
            self._transfers.shutdown()
