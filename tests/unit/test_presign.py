"""Our presigner produces exactly what boto3's generate_presigned_url produces."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import S3SigV4QueryAuth

from upvault.models import Checksums
from upvault.settings import Settings
from upvault.storage import ObjectStore, make_clients

FIXED = datetime(2026, 11, 25, 12, 0, 0)
ALGORITHM_HEADER = ("x-amz-sdk-checksum-algorithm", "SHA256")
KEY = "staging/alice/documents/01M88A9NNXFE5G0HW0G2XWHCYD/Kontoauszug Ü+~ (1).pdf"


@pytest.fixture(params=["aws", "minio"])
def pair(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[ObjectStore, Any]:
    # Given a store configured for AWS (virtual-hosted, session token) or for MinIO (path style, keys)
    if request.param == "aws":
        settings = Settings(bucket="upvault-test", region="eu-central-1")
    else:
        settings = Settings(
            bucket="upvault-test",
            endpoint_url="http://127.0.0.1:9000",
            public_endpoint_url="http://localhost:9000",
            access_key_id="k",
            secret_access_key="s",
        )
    clients = make_clients(settings)
    return ObjectStore(settings, clients), clients.presign


@pytest.fixture(autouse=True)
def _python_signer() -> Iterator[None]:
    """boto3 as on Lambda: botocore's Python SigV4 signer.

    The dev venv has awscrt (for CRC64NVME), and with it botocore prefers CRT's signer, whose
    URLs are as valid but not byte-identical; Lambda has no awscrt.
    """
    with mock.patch.dict(botocore.auth.AUTH_TYPE_MAPS, {"s3v4-query": S3SigV4QueryAuth}):
        yield


def _same_instant() -> Any:
    return mock.patch("botocore.auth.get_current_datetime", return_value=FIXED)


def test_put_url_is_identical_to_boto3(pair: tuple[ObjectStore, Any]) -> None:
    store, client = pair
    metadata = {"upvault-name": "Kontoauszug%20%C3%9C.pdf", "upvault-size": "123"}
    with _same_instant():
        ours = store.presign_put(
            KEY,
            content_type="application/pdf",
            content_length=123,
            metadata=metadata,
            md5="1B2M2Y8AsgTpgAmY7PhCfg==",
            sha256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        )
        # boto3 leaves the SDK's algorithm header unsigned on presigned URLs: add it as we do
        client.meta.events.register(
            "before-sign.s3.PutObject", lambda request, **_: request.headers.add_header(*ALGORITHM_HEADER)
        )
        theirs = client.generate_presigned_url(
            "put_object",
            ExpiresIn=900,
            Params={
                "Bucket": "upvault-test",
                "Key": KEY,
                "ContentType": "application/pdf",
                "ContentLength": 123,
                "ContentMD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "ChecksumSHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                "IfNoneMatch": "*",
                "Metadata": metadata,
            },
        )
    assert ours.url == theirs


def test_part_url_is_identical_to_boto3(pair: tuple[ObjectStore, Any]) -> None:
    store, client = pair
    with _same_instant():
        ours = store.presign_part(
            KEY, "upload/id+=", 7, 5 * 1024 * 1024, Checksums(md5="1B2M2Y8AsgTpgAmY7PhCfg==", crc64nvme="rosUhgp5mIg=")
        )
        theirs = client.generate_presigned_url(
            "upload_part",
            ExpiresIn=900,
            Params={
                "Bucket": "upvault-test",
                "Key": KEY,
                "UploadId": "upload/id+=",
                "PartNumber": 7,
                "ContentLength": 5 * 1024 * 1024,
                "ContentMD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "ChecksumCRC64NVME": "rosUhgp5mIg=",
            },
        )
    assert ours.url == theirs


def test_get_url_is_identical_to_boto3(pair: tuple[ObjectStore, Any]) -> None:
    store, client = pair
    disposition = "attachment; filename=\"a.pdf\"; filename*=UTF-8''%C3%9C.pdf"
    with _same_instant():
        ours = store.presign_get(KEY, disposition=disposition, content_type="application/pdf")
        theirs = client.generate_presigned_url(
            "get_object",
            ExpiresIn=300,
            Params={
                "Bucket": "upvault-test",
                "Key": KEY,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": "application/pdf",
            },
        )
    assert ours.url == theirs
