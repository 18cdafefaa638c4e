"""``sam local invoke``: each function in a container, as a user runs it, against a real MinIO.

The events are the committed fixtures (``events/``, made by ``sam local generate-event``) and,
for the processor, the SQS event built from MinIO's own notification of the uploaded object.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.sam.support import Sam, Storage
from tests.support import SAMPLES, load_event, upload_declaration


def test_api_health_answers_with_storage_reachable(sam: Sam, functions: dict[str, str]) -> None:
    # Given the health check event (no token: a public route)
    event = load_event("api-health.json")
    # When SAM runs the API function on it in a container
    result = sam.invoke(functions["api"], event)
    # Then it answers 200: settings loaded from the template's variables, MinIO reached
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["status"] == "ok"


def test_upload_through_the_api_then_the_processor_promotes_it(
    sam: Sam, functions: dict[str, str], storage: Storage
) -> None:
    # Given the declaration event, with the JWT claims API Gateway's authorizer forwards,
    # for the sample PDF (its real size and SHA-256)
    event = load_event("api-create-upload.json")
    data = SAMPLES["application/pdf"]
    declared = json.loads(base64.b64decode(event["body"]))
    assert declared == upload_declaration(
        data, filename="statement.pdf", content_type="application/pdf", category="documents"
    )

    # When SAM runs the API function on it
    result = sam.invoke(functions["api"], event)
    # Then it answers 201 with a URL presigned for MinIO, under the caller's staging prefix
    assert result["statusCode"] == 201, result
    created: dict[str, Any] = json.loads(result["body"])
    upload = created["upload"]
    assert upload["url"].startswith(f"{storage.server.endpoint_url}/{storage.bucket}/staging/sam-local-user/documents/")
    # signed with the user's scoped STS session (events/sam-env.json sets the signing role)
    assert "X-Amz-Security-Token=" in upload["url"]

    # When a plain HTTP client PUTs the bytes there with the returned headers
    put = httpx.put(upload["url"], content=data, headers=upload["headers"], timeout=30)
    # Then storage takes them
    assert put.status_code == 200, put.text
    (staged,) = [o["Key"] for o in storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix="staging/")["Contents"]]

    # When SAM runs the processor on the SQS event carrying MinIO's notification of that object
    outcome = sam.invoke(functions["processor"], storage.notifications.for_key(staged.split("/")[-2]))
    # Then no record failed and the file is ready: under files/, byte for byte, staging empty
    assert outcome == {"batchItemFailures": []}
    (ready,) = [o["Key"] for o in storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix="files/")["Contents"]]
    assert ready.endswith(f"/{created['file_id']}/statement.pdf")
    assert storage.s3.get_object(Bucket=storage.bucket, Key=ready)["Body"].read() == data
    assert storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix="staging/").get("KeyCount", 0) == 0
