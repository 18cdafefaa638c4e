"""Unit tier: everything in process on moto (``mock_aws``), through the real Lambda handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from functions.api.app import create_app
from functions.api.handler import make_handler as make_api_handler
from functions.processor.handler import make_handler as make_processor_handler
from local.lambda_context import LocalLambdaContext
from tests.support import apigw_event, checksums_of, s3_notification, sqs_event
from upvault.processing import Processor
from upvault.settings import MIB, Settings
from upvault.storage import ObjectStore, S3Clients, make_clients

BUCKET = "upvault-test"


@pytest.fixture
def settings() -> Settings:
    """Small multipart threshold so multipart flows run with a few MiB."""
    return Settings(bucket=BUCKET, multipart_threshold=5 * MIB, part_size=5 * MIB)


@pytest.fixture
def s3() -> Iterator[Any]:
    """A versioned bucket on moto."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def clients(settings: Settings, s3: Any) -> S3Clients:
    """The production client configuration (SigV4, checksums when required), on moto."""
    return make_clients(settings)


@pytest.fixture
def store(settings: Settings, clients: S3Clients) -> ObjectStore:
    """The store on moto."""
    return ObjectStore(settings, clients)


@dataclass
class Response:
    """What API Gateway would send back."""

    status: int
    headers: dict[str, str]
    body: Any


class Api:
    """Calls the API exactly as API Gateway does: an HTTP API v2 event into the Lambda handler."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = "alice",
        body: Any = None,
        query: str = "",
        claims: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if claims is None and user is not None:
            claims = {"sub": user, "iss": "https://issuer.example", "aud": "upvault"}
        event = apigw_event(method, path, claims=claims, body=body, query=query, headers=headers)
        result = self.handler(event, LocalLambdaContext(function_name="upvault-api"))
        raw = result.get("body") or ""
        parsed = json.loads(raw) if raw else None
        return Response(result["statusCode"], {k.lower(): v for k, v in result.get("headers", {}).items()}, parsed)

    def upload(
        self,
        data: bytes,
        *,
        content_type: str,
        category: str = "documents",
        filename: str = "file.pdf",
        user: str = "alice",
        multipart: bool = False,
        **extra: Any,
    ) -> Response:
        """Declare an upload of ``data`` (POST /v1/uploads), with its checksum unless given."""
        extra.setdefault("checksums", checksums_of(data, multipart=multipart))
        return self.call(
            "POST",
            "/v1/uploads",
            user=user,
            body={"filename": filename, "content_type": content_type, "size": len(data), "category": category, **extra},
        )


@pytest.fixture
def api(settings: Settings, clients: S3Clients) -> Api:
    """The API Lambda handler, on moto."""
    return Api(make_api_handler(create_app(settings, clients)))


@pytest.fixture
def processor(store: ObjectStore) -> Processor:
    """The processor core, on moto."""
    return Processor(store)


@pytest.fixture
def process(processor: Processor) -> Any:
    """Deliver S3 notifications for keys to the processor Lambda handler; returns its response."""
    handler = make_processor_handler(processor)

    def deliver(*keys: str) -> dict[str, Any]:
        event = sqs_event(*(s3_notification(key) for key in keys))
        result: dict[str, Any] = handler(event, LocalLambdaContext(function_name="upvault-processor"))
        return result

    return deliver


def put_presigned(upload: dict[str, Any], data: bytes, **override: str) -> requests.Response:
    """PUT bytes to a presigned URL with exactly the headers the API said to send, like a browser.

    moto records a PUT's checksum only when the SDK's algorithm header names it (S3 and MinIO
    record and verify the signed ``x-amz-checksum-*`` alone): the helper adds that header, so
    moto keeps what S3 would. moto checks no signature, so the extra header changes nothing else.
    """
    headers = {k: v for k, v in upload["headers"].items() if k.lower() != "content-length"}
    for algorithm in ("sha256", "crc64nvme"):
        if f"x-amz-checksum-{algorithm}" in {name.lower() for name in headers}:
            headers["x-amz-sdk-checksum-algorithm"] = algorithm.upper()
    headers.update(override)
    return requests.put(upload["url"], data=data, headers=headers, timeout=10)


def staged_key(s3: Any) -> str:
    """The one key under staging/ (tests upload one file at a time)."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/").get("Contents", [])]
    assert len(keys) == 1, keys
    return str(keys[0])


def all_keys(s3: Any) -> list[str]:
    """Every current key in the bucket."""
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture
def ready_file(api: Api, s3: Any, process: Any) -> Any:
    """Upload and process a file, returning its id (the full happy path)."""

    def make(
        data: bytes,
        content_type: str = "application/pdf",
        filename: str = "statement.pdf",
        category: str = "documents",
        user: str = "alice",
    ) -> str:
        response = api.upload(data, content_type=content_type, filename=filename, category=category, user=user)
        assert response.status == 201, response.body
        assert put_presigned(response.body["upload"], data).status_code == 200
        key = next(k for k in all_keys(s3) if response.body["file_id"] in k)
        process(key)
        return str(response.body["file_id"])

    return make
