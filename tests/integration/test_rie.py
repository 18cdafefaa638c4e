"""Each Lambda function under the Runtime Interface Emulator, exactly as Lambda runs it.

``aws-lambda-rie python -m awslambdaric <handler>`` with the handler string the CDK stack
deploys (``infra.functions.handler_path``), settings from the environment at cold start, and
the events ``sam local generate-event`` produced (``events/``). The API does a real presign
against MinIO; the bytes then go to MinIO with plain httpx; the processor gets the SQS event
carrying the S3 notification and moves the object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.functions import handler_path
from local.minio import MinioServer
from local.ports import free_port, is_listening
from tests.support import SAMPLES, apigw_event, md5_b64, required_tool, s3_notification, sha256_b64, sqs_event

ROOT = Path(__file__).resolve().parents[2]
INVOKE = "/2015-03-31/functions/function/invocations"


def rie_binary() -> Path:
    """The emulator ``make tools`` builds; a clear failure when it is missing (never a skip)."""
    return required_tool("rie")


class Emulated:
    """One function running under RIE on a free loopback port."""

    def __init__(self, handler: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [
                str(rie_binary()),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{free_port()}",
                sys.executable,
                "-m",
                "awslambdaric",
                handler,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not is_listening(self.port):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "RIE did not listen"
            time.sleep(0.05)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST an event to the emulator's invoke endpoint; the function's result."""
        response = httpx.post(f"http://127.0.0.1:{self.port}{INVOKE}", json=event, timeout=60)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        """Stop the emulator and the runtime it started."""
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self._log.close()


@pytest.fixture
def lambda_env(minio: MinioServer, minio_s3: Any, bucket: str) -> dict[str, str]:
    """The function's configuration, as the stack would set it, pointing at the test MinIO."""
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPVAULT_", "AWS_"))}
    env.update(
        UPVAULT_BUCKET=bucket,
        UPVAULT_REGION="us-east-1",
        UPVAULT_ENDPOINT_URL=minio.endpoint_url,
        UPVAULT_ACCESS_KEY_ID=minio.root_user,
        UPVAULT_SECRET_ACCESS_KEY=minio.root_password,
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="upvault",
        POWERTOOLS_METRICS_NAMESPACE="Upvault",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    )
    return env


@pytest.fixture
def api(lambda_env: dict[str, str], tmp_path: Path) -> Iterator[Emulated]:
    """The API function under RIE."""
    function = Emulated(handler_path("api"), lambda_env, tmp_path / "api.log")
    yield function
    function.stop()


@pytest.fixture
def processor(lambda_env: dict[str, str], tmp_path: Path) -> Iterator[Emulated]:
    """The processor function under RIE."""
    function = Emulated(handler_path("processor"), lambda_env, tmp_path / "processor.log")
    yield function
    function.stop()


def test_handler_strings_are_the_stacks(api: Emulated) -> None:
    # Given the handler strings the CDK stack gives Lambda
    # Then they name the module-level handlers the emulator just loaded
    assert handler_path("api") == "functions.api.handler.handler"
    assert handler_path("processor") == "functions.processor.handler.handler"


def test_api_and_processor_under_rie_presign_upload_and_promote(
    api: Emulated,
    processor: Emulated,
    minio: MinioServer,
    minio_s3: Any,
    bucket: str,
) -> None:
    # Given an API Gateway v2 event (from sam's fixture) declaring a PDF, with JWT claims
    data = SAMPLES["application/pdf"]
    event = apigw_event(
        "POST",
        "/v1/uploads",
        claims={"sub": "rie-user", "iss": "https://issuer.example"},
        body={
            "filename": "report.pdf",
            "content_type": "application/pdf",
            "size": len(data),
            "category": "documents",
            "checksums": {"sha256": sha256_b64(data), "md5": md5_b64(data)},
        },
    )
    # When the API function handles it under the emulator
    result = api.invoke(event)
    # Then it answers 201 with a URL presigned against MinIO
    assert result["statusCode"] == 201, result
    created = json.loads(result["body"])
    upload = created["upload"]
    assert upload["url"].startswith(f"{minio.endpoint_url}/{bucket}/staging/rie-user/documents/")
    # And MinIO accepts exactly those bytes at that URL
    put = httpx.put(upload["url"], content=data, headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text
    (staged,) = [o["Key"] for o in minio_s3.list_objects_v2(Bucket=bucket, Prefix="staging/")["Contents"]]
    # When the processor function gets the SQS event carrying the S3 notification
    outcome = processor.invoke(sqs_event(s3_notification(staged, size=len(data), bucket=bucket)))
    # Then no record failed, and the file moved from staging to files
    assert outcome == {"batchItemFailures": []}
    assert minio_s3.list_objects_v2(Bucket=bucket, Prefix="staging/").get("KeyCount", 0) == 0
    (ready,) = [o["Key"] for o in minio_s3.list_objects_v2(Bucket=bucket, Prefix="files/")["Contents"]]
    assert ready.endswith(f"/{created['file_id']}/report.pdf")
    assert minio_s3.get_object(Bucket=bucket, Key=ready)["Body"].read() == data


def test_processor_under_rie_reports_a_malformed_message_as_a_partial_failure(processor: Emulated) -> None:
    # Given an SQS batch with one good (unknown key: ignored) and one malformed message
    event = sqs_event(s3_notification("staging/nobody/documents/01M889VFNKRG0TFTBWVX4HJ68D/x.pdf"), "not json")
    # When the processor function handles it under the emulator
    outcome = processor.invoke(event)
    # Then only the malformed message is reported back for retry
    assert outcome == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
