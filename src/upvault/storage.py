"""All access to the bucket goes through :class:`ObjectStore`.

The store is built from settings and boto3 clients that are passed in (created once per cold
start by :func:`make_clients`), so tests hand it a moto or MinIO client and nothing patches
module globals. Presigning happens on a second client configured for the *public* endpoint:
SigV4 signs the Host header, so URLs must be made for the host the browser reaches.

S3's own id of a multipart upload (its ``UploadId``) is called ``multipart_id`` here, so it is
never mistaken for the API's ``upload_id``, which is the file id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from upvault.errors import StorageUnavailable
from upvault.keys import ObjectKey
from upvault.models import Checksums, ListedObject, ObjectVersion, PresignedRequest, StoredObject, StoredPart
from upvault.settings import Settings
from upvault.signing import ScopedCredentials

_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchVersion"})


@dataclass(frozen=True)
class S3Clients:
    """The client that talks to storage, the one that signs URLs for browsers, and a
    fail-fast one for health checks (one attempt, one-second timeouts)."""

    api: Any
    presign: Any
    health: Any = None
    #: Credentials the presigner signs with (refreshed by botocore when they rotate), unless
    #: a signing role is set: then they only call STS for each user's scoped credentials.
    credentials: Credentials | None = None
    #: STS client for the per-user signing credentials (only with ``signing_role_arn``).
    sts: Any = None


def _client_config(settings: Settings, *, connect_timeout: float, read_timeout: float) -> Config:
    return Config(
        signature_version="s3v4",
        region_name=settings.region,
        # Path style only for S3-compatible endpoints; on AWS virtual-hosted style is required.
        s3={"addressing_style": "path" if settings.endpoint_url else "virtual"},
        # boto3 >= 1.36 otherwise adds CRC32 checksums to presigned URLs, which browsers
        # cannot compute and S3-compatible servers reject.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": settings.storage_max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def make_clients(settings: Settings, session: boto3.session.Session | None = None) -> S3Clients:
    """Create the boto3 clients once per process. No network call happens here."""
    session = session or boto3.session.Session()
    credentials: dict[str, str] = {}
    if settings.access_key_id and settings.secret_access_key:
        credentials = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key,
        }
    config = _client_config(
        settings, connect_timeout=settings.storage_connect_timeout, read_timeout=settings.storage_read_timeout
    )
    endpoint = str(settings.endpoint_url).rstrip("/") if settings.endpoint_url else None
    api = session.client("s3", endpoint_url=endpoint, config=config, **credentials)
    signing = settings.signing_endpoint_url
    presign = api if signing == endpoint else session.client("s3", endpoint_url=signing, config=config, **credentials)
    health_config = _client_config(settings, connect_timeout=1.0, read_timeout=1.0).merge(
        Config(retries={"mode": "standard", "max_attempts": 1})
    )
    health = session.client("s3", endpoint_url=endpoint, config=health_config, **credentials)
    signing_credentials = (
        Credentials(settings.access_key_id, settings.secret_access_key)
        if credentials and settings.access_key_id and settings.secret_access_key
        else session.get_credentials()
    )
    sts = None
    if settings.signing_role_arn:
        # STS's own signer and the regional endpoint (on MinIO its S3 endpoint serves STS too).
        sts_config = Config(
            region_name=settings.region,
            retries={"mode": "standard", "max_attempts": settings.storage_max_attempts},
            connect_timeout=settings.storage_connect_timeout,
            read_timeout=settings.storage_read_timeout,
        )
        sts = session.client("sts", endpoint_url=endpoint, config=sts_config, **credentials)
    return S3Clients(api=api, presign=presign, health=health, credentials=signing_credentials, sts=sts)


class _QuerySigner:
    """SigV4 query-string signing of S3 requests, with botocore's own signer.

    ``generate_presigned_url`` re-runs endpoint resolution, parameter validation and
    serialisation on every call, which makes it the largest part of this API's warm latency.
    The URL of a key only depends on the bucket and endpoint, so it is resolved once here,
    through the client's own endpoint rules, and each URL is then one ``S3SigV4QueryAuth``
    signature: the same signer ``generate_presigned_url`` ends in (a unit test checks that
    both give byte-identical URLs). With ``scoped`` credentials (a signing role), each URL is
    signed with the session of the user whose key it names (:mod:`upvault.signing`).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        region: str,
        credentials: Credentials | None,
        scoped: ScopedCredentials | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._region = region
        self._credentials = credentials
        self._scoped = scoped
        self._base: str | None = None

    def _credentials_for(self, key: str) -> Credentials | None:
        """The key owner's scoped credentials with a signing role, else the client's own."""
        if self._scoped is None:
            return self._credentials
        # Every presigned key is one of a user's (staging/<user>/..., files/<user>/...). The first
        # URL for a user in this process calls STS: unreachable is a 503 like any storage call.
        with _storage_call():
            return self._scoped.for_user(ObjectKey.parse(key).user)

    def _key_url_prefix(self) -> str:
        # Resolved on first use, not at cold start: building the app must need no credentials.
        if self._base is None:
            probe = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": "_"}, ExpiresIn=60
            )
            base = probe.split("?", 1)[0]
            if not base.endswith("/_"):
                raise ValueError(f"unexpected presigned URL layout: {base}")
            self._base = base[:-1]
        return self._base

    def sign(
        self,
        method: str,
        key: str,
        *,
        expires: int,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> PresignedRequest:
        """A presigned request for ``method`` on ``key`` whose signature covers ``headers``."""
        # Taken before signing and truncated like X-Amz-Date: never later than the real expiry.
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires)
        prefix = self._key_url_prefix()
        credentials = self._credentials_for(key)
        if credentials is None:
            raise NoCredentialsError()
        request = AWSRequest(
            method=method, url=prefix + quote(key, safe="/~"), headers=headers or {}, params=params or {}
        )
        signer = S3SigV4QueryAuth(credentials.get_frozen_credentials(), "s3", self._region, expires=expires)
        signer.add_auth(request)
        # Content-Length stays signed but is not listed: browsers refuse to set it (they send
        # the body's real length, which is what was signed).
        to_send = {name: value for name, value in (headers or {}).items() if name.lower() != "content-length"}
        return PresignedRequest(method, str(request.prepare().url), expires_at, to_send)


class StorageRejected(Exception):
    """Storage refused a request because of what the client did (its parts, its checksum, a
    concurrent call); ``code`` is storage's error code. The use cases turn it into a problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def _rejected(error: ClientError) -> StorageRejected:
    details = error.response.get("Error", {})
    return StorageRejected(str(details.get("Code", "")), str(details.get("Message", "")))


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


@contextmanager
def _storage_call() -> Iterator[None]:
    """Turn 'storage unreachable' into a domain error; everything else propagates."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StorageUnavailable(f"storage unreachable: {type(exc).__name__}") from exc


class ObjectStore:
    """The bucket, as the rest of Upvault needs it."""

    def __init__(self, settings: Settings, clients: S3Clients) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._s3 = clients.api
        self._health = clients.health or clients.api
        scoped = None
        if settings.signing_role_arn:
            if clients.sts is None:
                raise ValueError("a signing role is set but no STS client was given (make_clients makes one)")
            scoped = ScopedCredentials(
                clients.sts,
                settings.signing_role_arn,
                bucket=settings.bucket,
                longest_url_seconds=max(settings.put_url_expiry, settings.get_url_expiry),
                # On AWS (no endpoint) uploads are SSE-KMS; MinIO refuses kms actions in a policy.
                kms=settings.endpoint_url is None,
            )
        self._query_signer = _QuerySigner(
            clients.presign, settings.bucket, settings.region, clients.credentials, scoped
        )
        # The transfer manager does multipart copies above 5 GiB (S3's single-copy limit), so every
        # single-PUT object (at most 5 GiB) is copied whole and keeps a full-object checksum.
        self._transfer = TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=512 * 1024**2)

    # -- presigning (no network, but one STS call per user and hour with a signing role) ------
    def presign_put(
        self,
        key: str,
        *,
        content_type: str,
        content_length: int,
        metadata: dict[str, str],
        sha256: str,
        md5: str | None = None,
    ) -> PresignedRequest:
        """Presign a single PUT whose type, length, checksums and metadata are all signed.

        ``If-None-Match: *`` is signed too: storage refuses the URL once an object exists at
        the key (S3 and MinIO), so it uploads once while the file is pending. The algorithm
        header AWS SDKs send with a checksum comes along: moto, the fallback store, records the
        checksum only with it (S3 and MinIO accept it).
        """
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(content_length),
            "If-None-Match": "*",
            "x-amz-checksum-sha256": sha256,
            "x-amz-sdk-checksum-algorithm": "SHA256",
        }
        if md5:
            headers["Content-MD5"] = md5
        headers.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        return self._query_signer.sign("PUT", key, headers=headers, expires=self.settings.put_url_expiry)

    def presign_part(
        self, key: str, multipart_id: str, part_number: int, content_length: int, checksums: Checksums | None = None
    ) -> PresignedRequest:
        """Presign one part of a multipart upload, with its length (and CRC64NVME, MD5) signed."""
        headers = {"Content-Length": str(content_length)}
        if checksums and checksums.crc64nvme:
            headers["x-amz-checksum-crc64nvme"] = checksums.crc64nvme
        if checksums and checksums.md5:
            headers["Content-MD5"] = checksums.md5
        return self._query_signer.sign(
            "PUT",
            key,
            headers=headers,
            expires=self.settings.put_url_expiry,
            params={"uploadId": multipart_id, "partNumber": str(part_number)},
        )

    def presign_request(
        self, method: str, key: str, *, params: dict[str, str], headers: dict[str, str] | None = None
    ) -> PresignedRequest:
        """Presign any S3 request on ``key`` (multipart create, list, complete, abort)."""
        return self._query_signer.sign(
            method, key, headers=headers, params=params, expires=self.settings.put_url_expiry
        )

    def presign_get(self, key: str, *, disposition: str, content_type: str) -> PresignedRequest:
        """Presign a download that the browser saves under the given name."""
        return self._query_signer.sign(
            "GET",
            key,
            expires=self.settings.get_url_expiry,
            params={"response-content-disposition": disposition, "response-content-type": content_type},
        )

    # -- objects ----------------------------------------------------------------------------
    def head(self, key: str, *, version_id: str | None = None) -> StoredObject | None:
        """HEAD an object (its latest version, or ``version_id``); ``None`` when it does not exist."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            params["VersionId"] = version_id
        try:
            with _storage_call():
                response = self._s3.head_object(**params)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return StoredObject(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType", "application/octet-stream"),
            metadata=dict(response.get("Metadata", {})),
            last_modified=response["LastModified"],
            version_id=response.get("VersionId"),
            etag=response.get("ETag"),
            checksum_sha256=response.get("ChecksumSHA256"),
            checksum_crc64nvme=response.get("ChecksumCRC64NVME"),
            checksum_type=response.get("ChecksumType"),
        )

    def read_leading_bytes(self, key: str, length: int, *, version_id: str | None = None) -> bytes:
        """Read at most ``length`` bytes from the start of an object (one ranged GET)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Range": f"bytes=0-{length - 1}"}
        if version_id:
            params["VersionId"] = version_id
        with _storage_call():
            response = self._s3.get_object(**params)
            data: bytes = response["Body"].read(length)
        return data

    def first_key(self, prefix: str) -> str | None:
        """The first key under a prefix, or ``None`` (one LIST of at most one key)."""
        with _storage_call():
            response = self._s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        contents = response.get("Contents", [])
        return str(contents[0]["Key"]) if contents else None

    def list_objects(self, prefix: str) -> list[ListedObject]:
        """Every object under ``prefix``, in key order (one LIST request per 1,000 keys)."""
        items: list[ListedObject] = []
        with _storage_call():
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                items.extend(
                    ListedObject(key=item["Key"], size=int(item["Size"]), last_modified=item["LastModified"])
                    for item in page.get("Contents", [])
                )
        return items

    def copy(
        self,
        source_key: str,
        dest_key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        source_version: str | None = None,
        checksum_algorithm: str | None = None,
    ) -> None:
        """Server-side copy (multipart copy for large objects).

        With ``metadata`` the copy is a new object made only of what we give: our metadata and
        content type, no tags, the bucket's default encryption and storage class, whatever
        an uploader sent with the source. With ``checksum_algorithm`` storage computes that
        checksum over the copied bytes.
        """
        source: dict[str, str] = {"Bucket": self.bucket, "Key": source_key}
        if source_version:
            source["VersionId"] = source_version
        extra: dict[str, Any] = {}
        if metadata is not None:
            extra = {"MetadataDirective": "REPLACE", "Metadata": metadata, "TaggingDirective": "REPLACE"}
            if content_type:
                extra["ContentType"] = content_type
        if checksum_algorithm:
            extra["ChecksumAlgorithm"] = checksum_algorithm
        with _storage_call():
            self._s3.copy(source, self.bucket, dest_key, ExtraArgs=extra, Config=self._transfer)

    def put_empty(self, key: str, *, content_type: str, metadata: dict[str, str]) -> None:
        """Write a zero-byte object carrying metadata: a multipart upload's declaration, or a
        rejection whose bytes are not kept."""
        with _storage_call():
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=b"", ContentType=content_type, Metadata=metadata)

    def purge_up_to(self, key: str, version_id: str | None) -> None:
        """Permanently remove ``version_id`` of ``key`` and every older version (never a marker).

        Used on ``staging/`` once a version was processed: older versions (a multipart upload's
        placeholder) must not become current again. A newer version (the same URL used again) is
        left for its own event, and delete markers (the owner's delete) stay. Versions are taken
        in the order storage lists them, newest first: timestamps can tie within a second.
        Without versioning this is a plain delete.
        """
        if not version_id or version_id == "null":
            self.delete(key)
            return
        entries = [entry for entry in self.versions(key) if entry.key == key and not entry.is_delete_marker]
        ids = [entry.version_id for entry in entries]
        doomed = ids[ids.index(version_id) :] if version_id in ids else [version_id]
        with _storage_call():
            for doomed_id in doomed:
                self._s3.delete_object(Bucket=self.bucket, Key=key, VersionId=doomed_id)

    def delete(self, key: str) -> None:
        """Delete the current version (versioned bucket: it stays recoverable)."""
        with _storage_call():
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def versions(self, prefix: str) -> list[ObjectVersion]:
        """Object versions and delete markers under a prefix (one file's prefix: a short list)."""
        entries: list[ObjectVersion] = []
        with _storage_call():
            paginator = self._s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for kind, is_marker in (("Versions", False), ("DeleteMarkers", True)):
                    entries.extend(
                        ObjectVersion(
                            key=str(item["Key"]),
                            version_id=str(item["VersionId"]),
                            last_modified=item["LastModified"],
                            is_latest=bool(item.get("IsLatest")),
                            is_delete_marker=is_marker,
                        )
                        for item in page.get(kind, [])
                    )
        return entries

    # -- multipart --------------------------------------------------------------------------
    def create_multipart(self, key: str, *, content_type: str, metadata: dict[str, str]) -> str:
        """Start a multipart upload and return storage's own id for it (its ``UploadId``).

        Storage keeps a full-object CRC64NVME of the parts as they arrive and checks it against
        the value given on completion: the whole file is verified end to end.
        """
        with _storage_call():
            response = self._s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                Metadata=metadata,
                ChecksumAlgorithm="CRC64NVME",
                ChecksumType="FULL_OBJECT",
            )
        return str(response["UploadId"])

    def find_multipart(self, prefix: str) -> tuple[str, str] | None:
        """The (key, multipart id) of the multipart upload under a file's prefix."""
        # MinIO lists multipart uploads by exact key only: ask for the placeholder's key.
        with _storage_call():
            response = self._s3.list_multipart_uploads(
                Bucket=self.bucket, Prefix=self.first_key(prefix) or prefix, MaxUploads=10
            )
        uploads = response.get("Uploads", [])
        if not uploads:
            return None
        newest = max(uploads, key=lambda upload: upload["Initiated"])
        return str(newest["Key"]), str(newest["UploadId"])

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart] | None:
        """Parts already stored; ``None`` if the upload no longer exists."""
        parts: list[StoredPart] = []
        try:
            with _storage_call():
                paginator = self._s3.get_paginator("list_parts")
                for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=multipart_id):
                    parts.extend(
                        StoredPart(int(p["PartNumber"]), str(p["ETag"]), int(p["Size"]), p.get("ChecksumCRC64NVME"))
                        for p in page.get("Parts", [])
                    )
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        return parts

    def complete_multipart(
        self, key: str, multipart_id: str, parts: list[StoredPart], *, crc64nvme: str | None, if_match: str | None
    ) -> None:
        """Assemble stored parts (as storage listed them) into the final object.

        ``crc64nvme`` is the whole file's checksum the client declared: storage completes only if
        the parts add up to it. ``if_match`` (the placeholder's ETag) makes completion happen
        once: a concurrent second completion finds another object there. Raises
        :class:`StorageRejected` when storage refuses (gone, precondition, parts, checksum).
        """
        listed = []
        for part in parts:
            entry: dict[str, Any] = {"PartNumber": part.part_number, "ETag": part.etag}
            if part.crc64nvme:
                entry["ChecksumCRC64NVME"] = part.crc64nvme
            listed.append(entry)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": multipart_id,
            "MultipartUpload": {"Parts": listed},
        }
        if crc64nvme:
            params.update(ChecksumCRC64NVME=crc64nvme, ChecksumType="FULL_OBJECT")
        if if_match:
            params["IfMatch"] = if_match
        try:
            with _storage_call():
                self._s3.complete_multipart_upload(**params)
        except ClientError as exc:
            if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) >= 500:
                raise
            raise _rejected(exc) from exc

    def abort_multipart(self, key: str, multipart_id: str) -> bool:
        """Abort a multipart upload (its parts are discarded); ``False`` if it no longer existed."""
        try:
            with _storage_call():
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=multipart_id)
        except ClientError as exc:
            if not _is_missing(exc):
                raise
            return False
        return True

    # -- health -----------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        try:
            with _storage_call():
                self._health.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, StorageUnavailable):
                raise
            raise StorageUnavailable(f"bucket not reachable: {type(exc).__name__}") from exc
