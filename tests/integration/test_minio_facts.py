"""The MinIO behaviours Upvault's design relies on, each checked against a real server.

Where MinIO and S3 differ, the assertions accept the class of error both give (a 4xx status and
one of a small set of codes), never one vendor's exact code; the exact MinIO answers are
recorded in docs/minio.md. Presigned requests are made with plain httpx, as a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.devstack import MINIO_SIGNING_ROLE
from local.minio import LIVE_PATH, MinioServer, generate_kms_secret_key
from local.ports import free_port
from tests.integration.conftest import KMS_KEY_NAME
from tests.live_minio import make_s3_client, minio_binary
from upvault.signing import ScopedCredentials, session_policy

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
BODY = b"%PDF-1.7\n" + b"upvault test document\n" * 40
PDF = "application/pdf"

# Classes of rejection, accepting both MinIO's and S3's codes (see docs/minio.md).
SIGNATURE_MISMATCH = ({403}, {"SignatureDoesNotMatch"})
SIGNED_HEADER_MISSING = ({400, 403}, {"AccessDenied", "SignatureDoesNotMatch", "HeadersNotSigned"})
UNSIGNED_HEADER_SENT = ({400, 403}, {"AccessDenied", "HeadersNotSigned"})
DIGEST_MISMATCH = ({400}, {"BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"})
EXPIRED = ({403}, {"AccessDenied"})


def b64(digest: bytes) -> str:
    """Base64 of a digest, as Content-MD5 and x-amz-checksum-* carry it."""
    return base64.b64encode(digest).decode()


MD5 = b64(hashlib.md5(BODY).digest())
SHA256 = b64(hashlib.sha256(BODY).digest())


def error_of(response: httpx.Response) -> tuple[int, str | None]:
    """Status and S3 error code of a response (the code is ``None`` on success)."""
    match = re.search(r"<Code>([^<]+)</Code>", response.text)
    return response.status_code, match[1] if match else None


def client_error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    """Status and error code of a boto3 ClientError."""
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def assert_rejected(response: httpx.Response, expected: tuple[set[int], set[str]]) -> None:
    """Assert a request was refused with one of the allowed statuses and error codes."""
    statuses, codes = expected
    status, code = error_of(response)
    detail = f"got {status} {code}: {response.text[:300]}"
    assert status in statuses, detail
    assert code in codes, detail


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    """Assert no object exists at ``key`` (a refused upload stored nothing)."""
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_error(exc)[0] == 404


def signed_headers(url: str) -> list[str]:
    """The ``X-Amz-SignedHeaders`` of a presigned URL."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query["X-Amz-SignedHeaders"][0].split(";")


# --- bucket features --------------------------------------------------------------------------


def test_put_bucket_cors_is_not_implemented(minio_s3: Any, bucket: str) -> None:
    # Given a bucket
    rules = {"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["http://localhost:5173"]}]}
    # When a per-bucket CORS configuration is put
    with pytest.raises(ClientError) as exc:
        minio_s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
    # Then MinIO answers 501 NotImplemented and keeps no CORS configuration
    assert client_error(exc) == (501, "NotImplemented")
    with pytest.raises(ClientError) as missing:
        minio_s3.get_bucket_cors(Bucket=bucket)
    assert client_error(missing) == (404, "NoSuchCORSConfiguration")


def test_lifecycle_abort_incomplete_multipart_alone_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given a lifecycle rule whose only action is AbortIncompleteMultipartUpload
    rule = {
        "ID": "abort-mpu",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    # When it is put, alone or beside another valid rule
    for rules in ([rule], [rule, {**_expire_staging(), "ID": "staging"}]):
        with pytest.raises(ClientError) as exc:
            minio_s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        # Then the whole configuration is refused with a 400 (MinIO: InvalidArgument)
        status, code = client_error(exc)
        assert status == 400
        assert code in {"InvalidArgument", "MalformedXML"}


def _expire_staging() -> dict[str, Any]:
    return {"ID": "staging", "Status": "Enabled", "Filter": {"Prefix": "staging/"}, "Expiration": {"Days": 2}}


def test_lifecycle_abort_beside_expiration_is_silently_dropped(minio_s3: Any, bucket: str) -> None:
    # Given a rule with an Expiration and an AbortIncompleteMultipartUpload action
    rule = {**_expire_staging(), "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
    # When it is put
    minio_s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    # Then it is accepted, but reading it back shows the abort action was dropped
    (stored,) = minio_s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert stored["Expiration"] == {"Days": 2}
    assert stored["Filter"] == {"Prefix": "staging/"}
    assert "AbortIncompleteMultipartUpload" not in stored


def test_lifecycle_expiry_rules_are_kept(minio_s3: Any, bucket: str) -> None:
    # Given the expiry rules the deployed bucket has (abort-multipart aside)
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rules = [
        {
            **_expire_staging(),
            "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "expire-noncurrent-files",
            "Status": "Enabled",
            "Filter": {"Prefix": "files/"},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
        },
    ]
    # When they are put
    minio_s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    # Then they read back unchanged (a noncurrent-only rule is fine, unlike an abort-only one)
    stored = minio_s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert sorted(stored, key=lambda r: r["ID"]) == sorted(rules, key=lambda r: r["ID"])


def test_lifecycle_transition_to_an_aws_storage_class_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given a transition to an AWS storage class (MinIO only knows tiers configured on it)
    rule = {
        "ID": "tiering",
        "Status": "Enabled",
        "Filter": {"Prefix": "files/"},
        "Transitions": [{"Days": 30, "StorageClass": "INTELLIGENT_TIERING"}],
    }
    # When it is put
    with pytest.raises(ClientError) as exc:
        minio_s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    # Then it is refused
    assert client_error(exc) == (400, "InvalidStorageClass")


def test_default_kms_encryption_must_name_the_key(minio_s3: Any, bucket: str) -> None:
    # Given MinIO's built-in KMS with one named key
    def kms(**key: str) -> dict[str, Any]:
        default = {"SSEAlgorithm": "aws:kms", **key}
        return {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}

    # When aws:kms default encryption omits the key id (S3 would use its managed key)
    with pytest.raises(ClientError) as no_key:
        minio_s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms())
    # Then it is refused
    assert client_error(no_key) == (400, "MalformedXML")
    # When it names another key, then that is refused too
    with pytest.raises(ClientError) as other_key:
        minio_s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration=kms(KMSMasterKeyID="no-such-key")
        )
    assert client_error(other_key)[0] == 404
    # When it names the configured key
    minio_s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms(KMSMasterKeyID=KMS_KEY_NAME))
    put = minio_s3.put_object(Bucket=bucket, Key="doc.pdf", Body=BODY)
    # Then new objects are SSE-KMS with that key, and a presigned GET returns the plain bytes
    assert put["ServerSideEncryption"] == "aws:kms"
    head = minio_s3.head_object(Bucket=bucket, Key="doc.pdf")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(KMS_KEY_NAME)
    url = minio_s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.pdf"})
    assert httpx.get(url).content == BODY


def test_default_encryption_without_a_kms_is_not_implemented(tmp_path: Path) -> None:
    # Given a MinIO started without MINIO_KMS_SECRET_KEY
    with MinioServer(
        tmp_path / "data", root_user="nokms", root_password="nokms-secret", binary=minio_binary()
    ) as server:
        s3 = make_s3_client(server)
        s3.create_bucket(Bucket="plain")
        for default in ({"SSEAlgorithm": "AES256"}, {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}):
            # When SSE-S3 or SSE-KMS default encryption is put
            with pytest.raises(ClientError) as exc:
                s3.put_bucket_encryption(
                    Bucket="plain",
                    ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
                )
            # Then MinIO refuses: encryption needs its KMS configured
            assert client_error(exc) == (501, "NotImplemented")
            assert "KMS is not configured" in exc.value.response["Error"]["Message"]


def test_versioning_keeps_previous_versions(minio_s3: Any, bucket: str) -> None:
    # Given a versioned bucket with two versions of one key
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = minio_s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    second = minio_s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    # When the key is deleted
    deleted = minio_s3.delete_object(Bucket=bucket, Key="k")
    # Then a delete marker hides it, both versions remain, and the first can be restored by copy
    assert deleted["DeleteMarker"] is True
    assert_absent(minio_s3, bucket, "k")
    versions = minio_s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
    assert {v["VersionId"] for v in versions} == {first, second}
    source = {"Bucket": bucket, "Key": "k", "VersionId": first}
    minio_s3.copy_object(Bucket=bucket, Key="k", CopySource=source)
    assert minio_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_list_multipart_uploads_matches_exact_keys_only(minio_s3: Any, bucket: str) -> None:
    # Given a multipart upload under a file's folder
    key = "staging/u/audio/01M889VFNKRG0TFTBWVX4HJ68D/call.wav"
    upload_id = minio_s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    # When uploads are listed by the folder (S3 returns it) and by the exact key

    def listed(prefix: str) -> list[str]:
        return [u["UploadId"] for u in minio_s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])]

    # Then MinIO only finds it by its exact key (and with no prefix at all)
    assert listed("staging/u/audio/01M889VFNKRG0TFTBWVX4HJ68D/") == []
    assert listed(key) == [upload_id]
    assert listed("") == [upload_id]


def test_health_live_says_nothing_about_storage(tmp_path: Path) -> None:
    # Given a running MinIO whose readiness (/cluster) was 200 at start
    with MinioServer(
        tmp_path / "data", root_user="health", root_password="health-secret", binary=minio_binary()
    ) as server:
        assert server.health() == 200
        # When its drive disappears
        shutil.rmtree(server.data_dir)
        # Then /minio/health/cluster turns 503 while /minio/health/live stays 200
        deadline = time.monotonic() + 20
        while server.health() != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.health() == 503
        assert server.health(LIVE_PATH) == 200


# --- presigned PUT: what storage itself enforces ----------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One presigned PUT as a browser would send it, possibly tampered with."""

    headers: dict[str, str]
    content: bytes = BODY
    url: Callable[[str], str] = field(default=lambda url: url)


def _flip_signature(url: str) -> str:
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]
    return f"{head}X-Amz-Signature={flipped}"


SIGNED = {"Content-Type": PDF, "Content-MD5": MD5}
OTHER_MD5 = b64(hashlib.md5(b"other bytes").digest())
SAME_LENGTH_OTHER_BYTES = BODY[:-1] + b"!"

REJECTIONS = {
    "shorter body": (Attempt(SIGNED, content=BODY[:-1]), SIGNATURE_MISMATCH),
    "longer body": (Attempt(SIGNED, content=BODY + b"x"), SIGNATURE_MISMATCH),
    "other content type": (Attempt({**SIGNED, "Content-Type": "image/png"}), SIGNATURE_MISMATCH),
    "other content-md5 header": (Attempt({**SIGNED, "Content-MD5": OTHER_MD5}), SIGNATURE_MISMATCH),
    "bytes not matching the signed md5": (Attempt(SIGNED, content=SAME_LENGTH_OTHER_BYTES), DIGEST_MISMATCH),
    "tampered signature": (Attempt(SIGNED, url=_flip_signature), SIGNATURE_MISMATCH),
    "url used for another key": (
        Attempt(SIGNED, url=lambda u: u.replace("/upload.pdf?", "/elsewhere.pdf?")),
        SIGNATURE_MISMATCH,
    ),
    "signed content-type missing": (Attempt({"Content-MD5": MD5}), SIGNED_HEADER_MISSING),
    "signed content-md5 missing": (Attempt({"Content-Type": PDF}), SIGNED_HEADER_MISSING),
    "unsigned x-amz-meta header": (Attempt({**SIGNED, "x-amz-meta-owner": "mallory"}), UNSIGNED_HEADER_SENT),
}


def presign_put(s3: Any, bucket: str, key: str, expires: int = 300, **params: Any) -> str:
    """A presigned PUT URL as the API will hand it out: type, length and MD5 signed."""
    base = {"ContentType": PDF, "ContentLength": len(BODY), "ContentMD5": MD5}
    return str(
        s3.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key, **base, **params}, ExpiresIn=expires
        )
    )


def test_presigned_put_signs_type_length_and_md5(minio_s3: Any, bucket: str) -> None:
    # Given a URL signed with ContentType, ContentLength and ContentMD5
    url = presign_put(minio_s3, bucket, "upload.pdf")
    # Then exactly those headers (and host) are signed: the client must send them as given
    assert signed_headers(url) == ["content-length", "content-md5", "content-type", "host"]
    # When a browser PUTs the declared bytes with the declared headers
    response = httpx.put(url, content=BODY, headers=SIGNED)
    # Then storage accepts them and keeps the declared type
    assert response.status_code == 200, response.text
    head = minio_s3.head_object(Bucket=bucket, Key="upload.pdf")
    assert (head["ContentLength"], head["ContentType"]) == (len(BODY), PDF)
    assert minio_s3.get_object(Bucket=bucket, Key="upload.pdf")["Body"].read() == BODY


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_presigned_put_is_rejected_by_storage(minio_s3: Any, bucket: str, case: str) -> None:
    # Given a URL signed for upload.pdf with type, length and MD5
    attempt, expected = REJECTIONS[case]
    url = attempt.url(presign_put(minio_s3, bucket, "upload.pdf"))
    # When the browser's request differs from what was signed
    response = httpx.put(url, content=attempt.content, headers=attempt.headers)
    # Then storage refuses it and stores nothing, under either key
    assert_rejected(response, expected)
    assert_absent(minio_s3, bucket, "upload.pdf")
    assert_absent(minio_s3, bucket, "elsewhere.pdf")


def test_presigned_put_expired_url_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given a URL that expires after one second
    url = presign_put(minio_s3, bucket, "upload.pdf", expires=1)
    # When it is used after it expired
    time.sleep(2.1)
    response = httpx.put(url, content=BODY, headers=SIGNED)
    # Then it is refused (403 AccessDenied "Request has expired") and nothing is stored
    assert_rejected(response, EXPIRED)
    assert "expired" in response.text.lower()
    assert_absent(minio_s3, bucket, "upload.pdf")


def test_presigned_url_longer_than_a_week_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given a URL signed for more than S3's 7-day maximum (boto3 does not stop it)
    url = presign_put(minio_s3, bucket, "upload.pdf", expires=604_801)
    # When it is used
    response = httpx.put(url, content=BODY, headers=SIGNED)
    # Then storage refuses it
    assert_rejected(response, ({400}, {"AuthorizationQueryParametersError"}))
    assert_absent(minio_s3, bucket, "upload.pdf")


def test_presigned_get_url_cannot_upload(minio_s3: Any, bucket: str) -> None:
    # Given a download URL for an existing object
    minio_s3.put_object(Bucket=bucket, Key="doc.pdf", Body=b"original")
    url = minio_s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.pdf"})
    # When it is used to PUT
    response = httpx.put(url, content=BODY)
    # Then it is refused and the object is unchanged
    assert_rejected(response, SIGNATURE_MISMATCH)
    assert minio_s3.get_object(Bucket=bucket, Key="doc.pdf")["Body"].read() == b"original"


# --- presigned POST policy and presigned GET ---------------------------------------------------


def test_presigned_post_policy_bounds_size_type_and_key(minio_s3: Any, bucket: str) -> None:
    # Given a POST policy for one key: 10..100 bytes of application/pdf
    post = minio_s3.generate_presigned_post(
        bucket,
        "form.pdf",
        Fields={"Content-Type": PDF},
        Conditions=[["content-length-range", 10, 100], {"Content-Type": PDF}],
        ExpiresIn=60,
    )

    def send(size: int, content_type: str = PDF, key: str = "form.pdf") -> httpx.Response:
        fields = {**post["fields"], "Content-Type": content_type, "key": key}
        return httpx.post(post["url"], data=fields, files={"file": ("f.pdf", b"x" * size, content_type)})

    # When a browser posts too little, too much, another type, or to another key
    # Then storage refuses each, and stores nothing
    assert error_of(send(5)) == (400, "EntityTooSmall")
    assert error_of(send(101)) == (400, "EntityTooLarge")
    assert_rejected(send(50, content_type="image/png"), ({403}, {"AccessDenied"}))
    assert_rejected(send(50, key="elsewhere.pdf"), ({403}, {"AccessDenied"}))
    assert_absent(minio_s3, bucket, "form.pdf")
    assert_absent(minio_s3, bucket, "elsewhere.pdf")
    # When it posts what the policy allows, then it is stored
    assert send(50).status_code == 204
    assert minio_s3.head_object(Bucket=bucket, Key="form.pdf")["ContentLength"] == 50


def test_presigned_get_honours_signed_response_overrides(minio_s3: Any, bucket: str) -> None:
    # Given an object and a GET URL signed with a download name and type
    minio_s3.put_object(Bucket=bucket, Key="doc.pdf", Body=BODY, ContentType=PDF)
    disposition = "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    url = minio_s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "doc.pdf",
            "ResponseContentDisposition": disposition,
            "ResponseContentType": "application/octet-stream",
        },
    )
    # When it is fetched as signed, and with the type override changed
    response = httpx.get(url)
    tampered = httpx.get(url.replace("application%2Foctet-stream", "text%2Fhtml"))
    # Then the signed overrides are applied, and a changed one is refused
    assert response.status_code == 200
    assert response.headers["content-disposition"] == disposition
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == BODY
    assert_rejected(tampered, SIGNATURE_MISMATCH)


# --- presigned PUT with x-amz-checksum-sha256 -------------------------------------------------

SHA_HEADERS = {"Content-Type": PDF, "x-amz-checksum-sha256": SHA256}


def presign_sha_put(s3: Any, bucket: str, key: str, checksum: str = SHA256) -> str:
    """A presigned PUT URL with type, length and a SHA-256 checksum signed (no MD5)."""
    return str(
        s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ContentType": PDF,
                "ContentLength": len(BODY),
                "ChecksumSHA256": checksum,
            },
            ExpiresIn=300,
        )
    )


def test_presigned_put_with_sha256_is_verified_and_stored(minio_s3: Any, bucket: str) -> None:
    # Given a URL signed with ChecksumSHA256
    url = presign_sha_put(minio_s3, bucket, "upload.pdf")
    # Then boto3 1.44.8 signs the checksum header itself, but not x-amz-sdk-checksum-algorithm
    assert signed_headers(url) == ["content-length", "content-type", "host", "x-amz-checksum-sha256"]
    # When the right bytes are sent with that checksum
    response = httpx.put(url, content=BODY, headers=SHA_HEADERS)
    # Then they are stored with the checksum, which a HEAD in checksum mode returns
    assert response.status_code == 200, response.text
    head = minio_s3.head_object(Bucket=bucket, Key="upload.pdf", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == SHA256


def test_presigned_put_with_wrong_sha256_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given URLs signed with a SHA-256: one of other bytes, one of the right bytes
    wrong = b64(hashlib.sha256(b"other bytes").digest())
    wrong_url = presign_sha_put(minio_s3, bucket, "declared-wrong.pdf", checksum=wrong)
    right_url = presign_sha_put(minio_s3, bucket, "bytes-differ.pdf")
    # When the declared checksum does not match the bytes sent
    wrong_headers = {**SHA_HEADERS, "x-amz-checksum-sha256": wrong}
    declared_wrong = httpx.put(wrong_url, content=BODY, headers=wrong_headers)
    bytes_differ = httpx.put(right_url, content=SAME_LENGTH_OTHER_BYTES, headers=SHA_HEADERS)
    # Then storage computes the digest itself and refuses both (MinIO: XAmzContentChecksumMismatch)
    assert_rejected(declared_wrong, DIGEST_MISMATCH)
    assert_rejected(bytes_differ, DIGEST_MISMATCH)
    assert_absent(minio_s3, bucket, "declared-wrong.pdf")
    assert_absent(minio_s3, bucket, "bytes-differ.pdf")


def test_presigned_put_without_its_signed_sha256_is_rejected(minio_s3: Any, bucket: str) -> None:
    # Given a URL signed with ChecksumSHA256
    url = presign_sha_put(minio_s3, bucket, "upload.pdf")
    # When the checksum header is left out, or another value is sent
    missing = httpx.put(url, content=BODY, headers={"Content-Type": PDF})
    other = b64(hashlib.sha256(b"other").digest())
    changed = httpx.put(url, content=BODY, headers={**SHA_HEADERS, "x-amz-checksum-sha256": other})
    # Then both are refused and nothing is stored
    assert_rejected(missing, SIGNED_HEADER_MISSING)
    assert_rejected(changed, SIGNATURE_MISMATCH)
    assert_absent(minio_s3, bucket, "upload.pdf")


def test_unsigned_sha256_header_is_still_verified_by_minio(minio_s3: Any, bucket: str) -> None:
    # Given a URL signed without any checksum
    url = str(
        minio_s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": "upload.pdf", "ContentType": PDF, "ContentLength": len(BODY)},
        )
    )
    wrong = b64(hashlib.sha256(b"other").digest())
    # When the browser adds an x-amz-checksum-sha256 header that was not signed
    refused = httpx.put(url, content=BODY, headers={**SHA_HEADERS, "x-amz-checksum-sha256": wrong})
    accepted = httpx.put(url, content=BODY, headers=SHA_HEADERS)
    # Then MinIO accepts the unsigned header, verifies it (a wrong one is refused) and stores it
    assert_rejected(refused, DIGEST_MISMATCH)
    assert accepted.status_code == 200, accepted.text
    head = minio_s3.head_object(Bucket=bucket, Key="upload.pdf", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == SHA256


# --- what a presigned request can carry unsigned, conditional writes, CRC64NVME multipart -------

#: Unsigned ``x-amz-*`` headers an attacker can add to a presigned PUT, with a value each; the
#: copy source is filled in per test. docs/minio.md says what Upvault does about each.
UNSIGNED_HEADERS = {
    "x-amz-acl": "public-read",
    "x-amz-tagging": "owner=mallory",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "x-amz-server-side-encryption": "AES256",
    "x-amz-website-redirect-location": "https://evil.example/",
    "x-amz-metadata-directive": "REPLACE",
    "x-amz-copy-source": "",
}


@pytest.mark.parametrize("header", sorted(UNSIGNED_HEADERS))
def test_unsigned_x_amz_headers_minio_accepts_on_a_presigned_put(minio_s3: Any, bucket: str, header: str) -> None:
    # Given another object in the bucket, and a URL signed for type, length and MD5 only
    minio_s3.put_object(Bucket=bucket, Key="someone-else.pdf", Body=b"another user's bytes", ContentType=PDF)
    url = presign_put(minio_s3, bucket, "upload.pdf")
    value = UNSIGNED_HEADERS[header] or f"/{bucket}/someone-else.pdf"
    # When the request adds one x-amz-* header that was not signed
    response = httpx.put(url, content=BODY, headers={"Content-Type": PDF, "Content-MD5": MD5, header: value})
    # Then MinIO accepts it (S3 refuses unsigned x-amz-* headers on presigned requests), and a
    # copy source turns the upload into a server-side copy of the other object
    assert response.status_code == 200, response.text
    stored = minio_s3.get_object(Bucket=bucket, Key="upload.pdf")["Body"].read()
    assert stored == (b"another user's bytes" if header == "x-amz-copy-source" else BODY)


def test_if_none_match_signed_into_a_put_url_makes_it_upload_once(minio_s3: Any, bucket: str) -> None:
    # Given a versioned bucket and a URL whose signature covers If-None-Match: *
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    url = presign_put(minio_s3, bucket, "once.pdf", IfNoneMatch="*")
    assert "if-none-match" in signed_headers(url)
    # When it is used twice, then again after the object was deleted (a delete marker)
    headers = {"Content-Type": PDF, "Content-MD5": MD5, "If-None-Match": "*"}
    first = httpx.put(url, content=BODY, headers=headers)
    second = httpx.put(url, content=BODY, headers=headers)
    minio_s3.delete_object(Bucket=bucket, Key="once.pdf")
    third = httpx.put(url, content=BODY, headers=headers)
    # Then only the first is stored while an object exists (412 PreconditionFailed, as S3); once
    # the key holds only a delete marker the URL works again: the processor's state rule covers that
    assert first.status_code == 200, first.text
    assert error_of(second) == (412, "PreconditionFailed")
    assert third.status_code == 200, third.text


def test_deleting_a_missing_key_leaves_no_delete_marker(minio_s3: Any, bucket: str) -> None:
    # Given a versioned bucket, When a key that never existed is deleted
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    minio_s3.delete_object(Bucket=bucket, Key="never-there")
    # Then MinIO writes no delete marker (S3 does): a marker cannot be a delete intent there
    assert "DeleteMarkers" not in minio_s3.list_object_versions(Bucket=bucket, Prefix="never-there")


def crc(data: bytes) -> str:
    """Base64 CRC-64/NVME (awscrt)."""
    from awscrt.checksums import crc64nvme

    return b64(crc64nvme(data).to_bytes(8, "big"))


# --- STS: the per-user signing credentials (upvault.signing) -------------------------------------


def root_sts(minio: MinioServer) -> Any:
    """MinIO's STS, called with the root user's keys (as the local stack's API calls it)."""
    return boto3.client(
        "sts",
        endpoint_url=minio.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=minio.root_user,
        aws_secret_access_key=minio.root_password,
    )


def test_assume_role_scopes_the_callers_rights_by_a_session_policy(
    minio: MinioServer, minio_s3: Any, bucket: str
) -> None:
    # Given Alice's and Bob's files, and STS called with the root user's credentials (MinIO takes
    # any role ARN: the session is the caller's rights narrowed by the session policy)
    for user in ("alice", "bob"):
        minio_s3.put_object(Bucket=bucket, Key=f"files/{user}/d/1/a.pdf", Body=user.encode(), ContentType=PDF)
    sts = root_sts(minio)
    scoped = ScopedCredentials(sts, MINIO_SIGNING_ROLE, bucket=bucket, longest_url_seconds=900, kms=False)
    # When Alice's signing credentials are used for her keys and for Bob's
    frozen = scoped.for_user("alice").get_frozen_credentials()
    alice = boto3.client(
        "s3",
        endpoint_url=minio.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )
    # Then her own keys work: write her staging area, read her files
    alice.put_object(Bucket=bucket, Key="staging/alice/d/2/b.pdf", Body=BODY, ContentType=PDF)
    assert alice.get_object(Bucket=bucket, Key="files/alice/d/1/a.pdf")["Body"].read() == b"alice"
    # and everything else is refused by storage (403 AccessDenied): Bob's files, Bob's staging
    # area, a server-side copy of Bob's file into hers, her own staged bytes, any listing
    refused = [
        lambda: alice.get_object(Bucket=bucket, Key="files/bob/d/1/a.pdf"),
        lambda: alice.put_object(Bucket=bucket, Key="staging/bob/d/2/b.pdf", Body=BODY),
        lambda: alice.copy_object(
            Bucket=bucket, Key="staging/alice/d/3/c.pdf", CopySource={"Bucket": bucket, "Key": "files/bob/d/1/a.pdf"}
        ),
        lambda: alice.get_object(Bucket=bucket, Key="staging/alice/d/2/b.pdf"),
        lambda: alice.list_objects_v2(Bucket=bucket, Prefix="files/alice/"),
    ]
    for call in refused:
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (403, "AccessDenied")
    assert_absent(minio_s3, bucket, "staging/alice/d/3/c.pdf")


def test_a_session_policy_with_kms_actions_is_refused(minio: MinioServer) -> None:
    # Given STS on MinIO, When a session policy names kms actions (what SSE-KMS needs on AWS)
    sts = root_sts(minio)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(
            RoleArn=MINIO_SIGNING_ROLE,
            RoleSessionName="upvault-alice",
            Policy=session_policy("any-bucket", "alice", kms=True),
        )
    # Then MinIO refuses the policy (its KMS is internal): upvault.signing leaves kms out there
    assert client_error(exc) == (400, "InvalidParameterValue")


def test_crc64nvme_full_object_multipart_rules(minio_s3: Any, bucket: str) -> None:
    # Given a multipart upload created with CRC64NVME, FULL_OBJECT, and two parts of a file
    data = os.urandom(5 * 1024 * 1024) + b"tail"
    parts = [data[: 5 * 1024 * 1024], data[5 * 1024 * 1024 :]]
    upload = minio_s3.create_multipart_upload(
        Bucket=bucket, Key="big.bin", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )["UploadId"]

    def part_url(number: int, checksum: str | None) -> str:
        params = {"Bucket": bucket, "Key": "big.bin", "UploadId": upload, "PartNumber": number}
        if checksum:
            params["ChecksumCRC64NVME"] = checksum
        return str(minio_s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=300))

    # When a part comes without its CRC64NVME, with it signed, and with other bytes
    bare = httpx.put(part_url(1, None), content=parts[0])
    signed = [
        httpx.put(part_url(n, crc(p)), content=p, headers={"x-amz-checksum-crc64nvme": crc(p)})
        for n, p in ((1, parts[0]), (2, parts[1]))
    ]
    forged = httpx.put(
        part_url(2, crc(parts[1])), content=b"x" * len(parts[1]), headers={"x-amz-checksum-crc64nvme": crc(parts[1])}
    )
    # Then a part without its checksum is refused (400), signed ones are stored, other bytes refused
    assert bare.status_code == 400, bare.text
    assert [r.status_code for r in signed] == [200, 200]
    assert_rejected(forged, DIGEST_MISMATCH)
    listed = minio_s3.list_parts(Bucket=bucket, Key="big.bin", UploadId=upload)["Parts"]
    completed = [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "ChecksumCRC64NVME": p["ChecksumCRC64NVME"]} for p in listed
    ]

    def complete(checksum: str, parts_list: list[dict[str, Any]]) -> Any:
        return minio_s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big.bin",
            UploadId=upload,
            ChecksumCRC64NVME=checksum,
            ChecksumType="FULL_OBJECT",
            MultipartUpload={"Parts": parts_list},
        )

    # and completion is tried without part checksums, with another whole-file CRC, then right
    with pytest.raises(ClientError) as no_part_checksums:
        complete(crc(data), [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed])
    with pytest.raises(ClientError) as other_file:
        complete(crc(b"other bytes"), completed)
    complete(crc(data), completed)
    # Then completion needs each part's checksum, verifies the whole file's, and HEAD reports it
    assert client_error(no_part_checksums) == (400, "InvalidPart")
    assert client_error(other_file)[0] == 400
    assert client_error(other_file)[1] in {"XAmzContentChecksumMismatch", "BadDigest"}
    head = minio_s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (crc(data), "FULL_OBJECT")
    # and a copy keeps the checksum (so does a copy of a single PUT's SHA-256)
    minio_s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "big.bin"})
    copied = minio_s3.head_object(Bucket=bucket, Key="copy.bin", ChecksumMode="ENABLED")
    assert copied["ChecksumCRC64NVME"] == crc(data)


def test_crc64nvme_full_object_value_comes_only_at_completion(minio_s3: Any, bucket: str) -> None:
    # Given multipart uploads created with CRC64NVME, FULL_OBJECT (S3's create takes no value:
    # the whole file's CRC is always given at completion), each part stored with its own CRC
    data = os.urandom(5 * 1024 * 1024) + b"tail"
    pieces = [data[: 5 * 1024 * 1024], data[5 * 1024 * 1024 :]]

    def upload(key: str) -> tuple[str, list[dict[str, Any]]]:
        upload_id = minio_s3.create_multipart_upload(
            Bucket=bucket, Key=key, ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
        )["UploadId"]
        parts = []
        for number, piece in enumerate(pieces, start=1):
            stored = minio_s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=piece, ChecksumCRC64NVME=crc(piece)
            )
            parts.append({"PartNumber": number, "ETag": stored["ETag"], "ChecksumCRC64NVME": crc(piece)})
        return upload_id, parts

    # When one is completed with the whole file's value and one without any
    with_value, parts = upload("with.bin")
    minio_s3.complete_multipart_upload(
        Bucket=bucket,
        Key="with.bin",
        UploadId=with_value,
        ChecksumCRC64NVME=crc(data),
        ChecksumType="FULL_OBJECT",
        MultipartUpload={"Parts": parts},
    )
    without, parts = upload("without.bin")
    minio_s3.complete_multipart_upload(
        Bucket=bucket, Key="without.bin", UploadId=without, MultipartUpload={"Parts": parts}
    )
    # Then both hold the file's full-object CRC64NVME: storage computes it from the parts either
    # way, and checks it only against a value given at completion (the API always gives one)
    for key in ("with.bin", "without.bin"):
        head = minio_s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert (head.get("ChecksumCRC64NVME"), head.get("ChecksumType")) == (crc(data), "FULL_OBJECT"), key


# --- global CORS and webhook notifications (a MinIO configured through its environment) -------


@dataclass
class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 recording what MinIO's webhook target posts.

    ``requests`` holds the deliveries it acknowledged (200); while ``refuse_next`` is above
    zero it answers 503 instead and keeps the payload in ``refused``, as a receiver in trouble.
    """

    token: str
    port: int = 0
    refuse_next: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    refused: list[bytes] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def serve(self) -> ThreadingHTTPServer:
        """Serve on ``port`` (a free one when 0) in a daemon thread; the caller shuts it down."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    status = 503 if receiver.refuse_next > 0 else 200
                    if status == 503:
                        receiver.refuse_next -= 1
                        receiver.refused.append(body)
                    else:
                        receiver.requests.append((self.path, dict(self.headers), body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def keys(self) -> list[str]:
        """The ``Key`` (``bucket/key``) of every acknowledged delivery, in arrival order."""
        with self.arrived:
            return [json.loads(body)["Key"] for _, _, body in self.requests]

    def wait_for(self, key: str, timeout: float = 15.0) -> dict[str, Any]:
        """Return the first posted payload whose ``Key`` is ``bucket/key`` (MinIO's form)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for _, _, body in self.requests:
                    payload: dict[str, Any] = json.loads(body)
                    if payload.get("Key", "").split("/", 1)[-1] == key:
                        return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no webhook event for {key!r} within {timeout} s")
                self.arrived.wait(remaining)


WEBHOOK_ID = "UPVAULT"
DEV_ORIGIN = "http://localhost:5173"


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    """A running webhook receiver."""
    receiver = WebhookReceiver(token=uuid.uuid4().hex)
    server = receiver.serve()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def configured_minio(tmp_path_factory: pytest.TempPathFactory, webhook: WebhookReceiver) -> Iterator[MinioServer]:
    """A MinIO with a webhook target (auth token, queue dir) and CORS for the dev origin only."""
    base = tmp_path_factory.mktemp("minio-configured")
    env = {
        f"MINIO_NOTIFY_WEBHOOK_ENABLE_{WEBHOOK_ID}": "on",
        f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{WEBHOOK_ID}": f"http://127.0.0.1:{webhook.port}/minio/events",
        f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{WEBHOOK_ID}": webhook.token,
        f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{WEBHOOK_ID}": str(base / "queue"),
        "MINIO_API_CORS_ALLOW_ORIGIN": DEV_ORIGIN,
    }
    with MinioServer(
        base / "data",
        root_user="configured",
        root_password="configured-secret",
        kms_secret_key=generate_kms_secret_key(KMS_KEY_NAME),
        env=env,
        binary=minio_binary(),
    ) as server:
        yield server


def test_global_cors_allows_only_the_configured_origin(configured_minio: MinioServer) -> None:
    # Given MINIO_API_CORS_ALLOW_ORIGIN set to the dev origin, and a presigned PUT URL
    s3 = make_s3_client(configured_minio)
    s3.create_bucket(Bucket="cors")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "cors", "Key": "k", "ContentType": PDF})
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    # When a browser on the dev origin and one elsewhere send a preflight and the upload
    allowed = httpx.options(url, headers={"Origin": DEV_ORIGIN, **preflight})
    denied = httpx.options(url, headers={"Origin": "https://evil.example", **preflight})
    upload = httpx.put(url, content=BODY, headers={"Origin": DEV_ORIGIN, "Content-Type": PDF})
    # Then only the dev origin is allowed, and ETag is exposed (multipart completion needs it)
    assert allowed.headers.get("access-control-allow-origin") == DEV_ORIGIN
    assert "PUT" in allowed.headers.get("access-control-allow-methods", "")
    assert "access-control-allow-origin" not in denied.headers
    assert upload.status_code == 200
    assert "etag" in upload.headers.get("access-control-expose-headers", "").lower()


def test_webhook_notification_payload_shape(configured_minio: MinioServer, webhook: WebhookReceiver) -> None:
    # Given a versioned bucket notifying the webhook target for staging/ only
    s3 = make_s3_client(configured_minio)
    s3.create_bucket(Bucket="events")
    s3.put_bucket_versioning(Bucket="events", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="events",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "staging-created",
                    "QueueArn": f"arn:minio:sqs::{WEBHOOK_ID}:webhook",
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "staging/"}]}},
                }
            ]
        },
    )
    key = "staging/user-1/documents/01M889VFNKRG0TFTBWVX4HJ68D/my report+v2 é😀.pdf"
    # When an object outside staging/ is written, then a browser uploads the staging key
    s3.put_object(Bucket="events", Key="files/user-1/outside.txt", Body=b"x")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "events", "Key": key, "ContentType": PDF, "ContentLength": len(BODY)}
    )
    upload = httpx.put(url, content=BODY, headers={"Content-Type": PDF})
    assert upload.status_code == 200, upload.text
    payload = webhook.wait_for(key)
    # Then MinIO posts its own shape: a wrapper with EventName and "bucket/key" around one record
    assert payload["EventName"] == "s3:ObjectCreated:Put"
    assert payload["Key"] == f"events/{key}"
    (record,) = payload["Records"]
    assert record["eventSource"] == "minio:s3"
    assert record["eventName"].startswith("s3:")
    assert record["s3"]["bucket"]["name"] == "events"
    # ... the key query-escaped ("/" as %2F, space as +), which unquote_plus restores
    obj = record["s3"]["object"]
    assert obj["key"] == urllib.parse.quote_plus(key, safe="")
    assert urllib.parse.unquote_plus(obj["key"]) == key
    # ... with size, eTag (no quotes), versionId and sequencer, as S3's records have
    assert obj["size"] == len(BODY)
    assert obj["eTag"] == hashlib.md5(BODY).hexdigest()
    assert obj["versionId"] == upload.headers["x-amz-version-id"]
    assert obj["sequencer"]
    # ... sent with the target's token as a Bearer header, and nothing for the key outside staging/
    headers = next(h for _, h, b in webhook.requests if json.loads(b)["Key"] == f"events/{key}")
    assert headers["Authorization"] == f"Bearer {webhook.token}"
    assert all("outside.txt" not in json.loads(b)["Key"] for _, _, b in webhook.requests)
    if os.environ.get("UPVAULT_RECORD_FIXTURES") == "1":
        (EVENTS_DIR / "minio-webhook-put.json").write_text(
            json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def test_recorded_webhook_fixture_has_the_live_shape(configured_minio: MinioServer) -> None:
    # Given the committed capture of a MinIO webhook payload
    saved = json.loads((EVENTS_DIR / "minio-webhook-put.json").read_text(encoding="utf-8"))
    # Then it still has the shape the live server sends (regenerate: UPVAULT_RECORD_FIXTURES=1)
    assert set(saved) == {"EventName", "Key", "Records"}
    (record,) = saved["Records"]
    assert record["eventSource"] == "minio:s3"
    assert record["eventName"] == saved["EventName"] == "s3:ObjectCreated:Put"
    assert "%2F" in record["s3"]["object"]["key"]
    assert {"size", "eTag", "versionId", "sequencer"} <= set(record["s3"]["object"])


def webhook_minio(base: Path, receiver_port: int, *, queue: bool) -> MinioServer:
    """A MinIO whose webhook target posts to ``receiver_port``, with or without a queue dir."""
    env = {
        "MINIO_NOTIFY_WEBHOOK_ENABLE_Q": "on",
        "MINIO_NOTIFY_WEBHOOK_ENDPOINT_Q": f"http://127.0.0.1:{receiver_port}/minio/events",
    }
    if queue:
        env["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_Q"] = str(base / "queue")
    return MinioServer(base / "data", root_user="queue", root_password="queue-secret", env=env, binary=minio_binary())


def notify_all_created(s3: Any, bucket: str) -> None:
    """Create ``bucket`` with every object creation notifying webhook target ``Q``."""
    s3.create_bucket(Bucket=bucket)
    config = {"QueueArn": "arn:minio:sqs::Q:webhook", "Events": ["s3:ObjectCreated:*"]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [config]})


def test_webhook_queue_dir_redelivers_after_receiver_outage(tmp_path: Path) -> None:
    # Given a MinIO with a queue dir, started while its receiver is down
    receiver = WebhookReceiver(token="", port=free_port())
    with webhook_minio(tmp_path, receiver.port, queue=True) as server:
        s3 = make_s3_client(server)
        notify_all_created(s3, "queued")
        # When one object is written while nothing listens, then the receiver comes up
        # answering 503 twice, and a second object is written
        s3.put_object(Bucket="queued", Key="while-down", Body=b"1")
        receiver.refuse_next = 2
        http = receiver.serve()
        try:
            s3.put_object(Bucket="queued", Key="while-failing", Body=b"2")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not {"queued/while-down", "queued/while-failing"} <= set(
                receiver.keys()
            ):
                time.sleep(0.1)
        finally:
            http.shutdown()
            http.server_close()
    # Then MinIO retried until both were acknowledged: none lost (at least once)
    assert len(receiver.refused) == 2
    assert {"queued/while-down", "queued/while-failing"} <= set(receiver.keys())


def test_webhook_without_queue_dir_loses_failed_deliveries(tmp_path: Path) -> None:
    # Given a MinIO without a queue dir, and a receiver that answers 503 once
    receiver = WebhookReceiver(token="", refuse_next=1)
    http = receiver.serve()
    try:
        with webhook_minio(tmp_path, receiver.port, queue=False) as server:
            s3 = make_s3_client(server)
            notify_all_created(s3, "unqueued")
            # When an object is written and its delivery fails, then another is written (only
            # once the first was refused: MinIO delivers concurrently, so two quick writes may
            # reach the receiver in either order)
            s3.put_object(Bucket="unqueued", Key="lost", Body=b"1")
            deadline = time.monotonic() + 10
            while not receiver.refused and time.monotonic() < deadline:
                time.sleep(0.05)
            s3.put_object(Bucket="unqueued", Key="kept", Body=b"2")
            time.sleep(4)  # longer than the queue store's 3 s retry interval
    finally:
        http.shutdown()
        http.server_close()
    # Then the failed event was never retried: without a queue dir, delivery is at most once
    assert [json.loads(body)["Key"] for body in receiver.refused] == ["unqueued/lost"]
    assert receiver.keys() == ["unqueued/kept"]
