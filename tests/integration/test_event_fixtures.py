"""The committed event fixtures parse with the models the handlers use, and agree with each other.

They come from AWS's own generator (scripts/generate-events.sh runs ``sam local generate-event``)
and from a live MinIO (events/minio-webhook-put.json); these checks need no server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, S3Model, SqsModel

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> Any:
    """One fixture, parsed as JSON."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def test_api_gateway_fixture_is_an_http_api_v2_event() -> None:
    # Given the generated HTTP API event
    event = APIGatewayProxyEventV2Model.model_validate(load("apigw-http-api-proxy.json"))
    # Then it is payload format 2.0, as our HTTP API sends to the API function
    assert event.version == "2.0"
    assert event.requestContext.http.method


def test_sqs_fixture_carries_the_s3_put_event() -> None:
    # Given the SQS message fixture and the S3 put fixture
    sqs = SqsModel.model_validate(load("sqs-s3-put.json"))
    (record,) = sqs.Records
    # Then its body is exactly the S3 event, with a correct md5OfBody, in our key layout
    assert json.loads(record.body) == load("s3-put.json")
    assert record.md5OfBody == hashlib.md5(record.body.encode()).hexdigest()
    s3 = S3Model.model_validate_json(record.body)
    assert s3.Records[0].eventSource == "aws:s3"
    assert s3.Records[0].s3.object.key.startswith("staging/")


def test_minio_capture_is_not_an_aws_event() -> None:
    # Given the captured MinIO webhook payload
    payload = load("minio-webhook-put.json")
    # Then it differs from S3's in exactly the ways the event bridge normalises
    record = payload["Records"][0]
    assert record["eventSource"] == "minio:s3"
    assert record["eventName"].startswith("s3:")
    assert record["awsRegion"] == ""
    aws = load("s3-put.json")["Records"][0]
    assert set(aws) - set(record) == set()
