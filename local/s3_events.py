"""Turn a local store's S3 notification into exactly what AWS sends, wrapped like SQS does.

moto omits fields AWS always sends (``userIdentity``, ``requestParameters``, ...); MinIO
prefixes event names with ``s3:``, reports ``minio:s3`` and query-escapes keys (``/`` as
``%2F``). The processor parses strictly against AWS's shape, so local paths normalise here,
and the processor never learns where an event came from.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import quote_plus, unquote_plus


def aws_key(raw_key: str, *, source: str) -> str:
    """Encode a key as S3 notifications do (form-encoded, ``/`` kept, space as ``+``)."""
    # Both moto and MinIO form-encode keys (space as "+", "+" as "%2B"); MinIO also escapes "/".
    decoded = unquote_plus(raw_key)
    return quote_plus(decoded, safe="/")


def to_aws_record(record: dict[str, Any], *, source: str, region: str = "us-east-1") -> dict[str, Any]:
    """One S3 event record in AWS's exact shape."""
    s3 = record.get("s3", {})
    obj = s3.get("object", {})
    bucket = s3.get("bucket", {})
    event_name = str(record.get("eventName", ""))
    event_name = event_name.removeprefix("s3:")
    normalized_object: dict[str, Any] = {
        "key": aws_key(str(obj.get("key", "")), source=source),
        "size": int(obj.get("size", 0)),
        "eTag": str(obj.get("eTag", "")),
        "sequencer": str(obj.get("sequencer", f"{time.time_ns():016X}")),
    }
    if obj.get("versionId"):
        normalized_object["versionId"] = obj["versionId"]
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": record.get("awsRegion") or region,
        "eventTime": record.get("eventTime") or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": event_name,
        "userIdentity": {"principalId": str(record.get("userIdentity", {}).get("principalId", "local"))},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": str(s3.get("configurationId", "upvault-staging")),
            "bucket": {
                "name": bucket.get("name", ""),
                "ownerIdentity": {"principalId": "local"},
                "arn": f"arn:aws:s3:::{bucket.get('name', '')}",
            },
            "object": normalized_object,
        },
    }


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receipt_handle: str | None = None,
    receive_count: int = 1,
    queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:upvault-events",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One record of the SQS event Lambda's event source mapping delivers."""
    now = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle or uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def normalise_body(body: str, *, source: str, region: str = "us-east-1") -> str:
    """Rewrite a notification body (with ``Records``) into AWS's shape; other bodies pass as-is."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return body
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        return body
    records = [to_aws_record(r, source=source, region=region) for r in payload["Records"] if isinstance(r, dict)]
    return json.dumps({"Records": records})
