"""``make dev``: the whole service on one machine, running the very same handlers.

Storage is MinIO when installed (see the MinIO backend) or moto's S3+SQS server in process
as a fallback. The API is the same FastAPI app as on Lambda, behind a local JWT authorizer;
uploads reach the same processor handler through S3 notifications delivered as SQS batches.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import uvicorn

from upvault.keys import STAGING_PREFIX
from upvault_local.dev_issuer import AUDIENCE, ISSUER, DevIssuer
from upvault_local.ports import free_port, is_listening
from upvault_local.settings import DevSettings
from upvault_local.sqs_poller import SqsPoller

log = logging.getLogger("upvault.local")

#: Credentials of the local fake store only; they never reach code paths that talk to AWS.
MOTO_CREDENTIALS = ("upvault-local", "upvault-local-secret")


@dataclass(frozen=True)
class Storage:
    """Where the local stack's bucket lives."""

    name: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    public_endpoint_url: str | None = None


def service_environment(dev: DevSettings, storage: Storage, issuer: DevIssuer) -> dict[str, str]:
    """The ``UPVAULT_*`` variables the handlers read, exactly as Lambda would get them."""
    env = {
        "UPVAULT_BUCKET": dev.dev_bucket,
        "UPVAULT_REGION": dev.dev_region,
        "UPVAULT_ENDPOINT_URL": storage.endpoint_url,
        "UPVAULT_ACCESS_KEY_ID": storage.access_key_id,
        "UPVAULT_SECRET_ACCESS_KEY": storage.secret_access_key,
        "UPVAULT_AUTH_ISSUER": ISSUER,
        "UPVAULT_AUTH_AUDIENCE": AUDIENCE,
        "UPVAULT_AUTH_JWKS_URL": issuer.jwks_url,
        "POWERTOOLS_SERVICE_NAME": "upvault",
        "POWERTOOLS_METRICS_NAMESPACE": "Upvault",
        # Metrics and traces have nowhere to go locally: make them no-ops.
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": dev.dev_region,
    }
    if storage.public_endpoint_url:
        env["UPVAULT_PUBLIC_ENDPOINT_URL"] = storage.public_endpoint_url
    return env


@contextmanager
def moto_storage(dev: DevSettings) -> Iterator[tuple[Storage, Any, str, str]]:
    """moto's S3 and SQS in this process: bucket, queue with a DLQ, S3 → SQS notification.

    Yields the storage, an SQS client, the queue URL and its ARN.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        kwargs = {"endpoint_url": endpoint, "region_name": dev.dev_region,
                  "aws_access_key_id": MOTO_CREDENTIALS[0], "aws_secret_access_key": MOTO_CREDENTIALS[1]}
        s3 = boto3.client("s3", **kwargs)
        sqs = boto3.client("sqs", **kwargs)
        s3.create_bucket(Bucket=dev.dev_bucket)
        s3.put_bucket_versioning(Bucket=dev.dev_bucket, VersioningConfiguration={"Status": "Enabled"})
        dlq_url = sqs.create_queue(QueueName="upvault-events-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(QueueName="upvault-events", Attributes={
            "VisibilityTimeout": "5",
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
        })["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=dev.dev_bucket, NotificationConfiguration={
            "QueueConfigurations": [{
                "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": STAGING_PREFIX}]}},
            }],
        })
        yield Storage("moto", endpoint, *MOTO_CREDENTIALS), sqs, queue_url, queue_arn
    finally:
        server.stop()


def build_api(env: dict[str, str]) -> Any:
    """The Lambda API app wrapped in the local authorizer, configured from ``env``."""
    os.environ.update(env)
    from functions.api.app import create_app
    from upvault.settings import load_settings
    from upvault.tokens import TokenVerifier
    from upvault_local.authorizer import LocalJwtAuthorizer

    settings = load_settings()
    if not (settings.auth_issuer and settings.auth_audience and settings.auth_jwks_url):
        raise SystemExit("the local stack needs UPVAULT_AUTH_ISSUER, _AUDIENCE and _JWKS_URL")
    verifier = TokenVerifier(issuer=settings.auth_issuer, audience=settings.auth_audience,
                             jwks_url=settings.auth_jwks_url)
    return LocalJwtAuthorizer(create_app(settings), verifier)


def processor_handler(env: dict[str, str]) -> Any:
    """The processor Lambda's handler, imported after its environment is set."""
    os.environ.update(env)
    from functions.processor.handler import handler

    return handler


def serve(app: Any, port: int, banner: str) -> None:
    """Run uvicorn in the foreground until Ctrl-C; print ``banner`` once it accepts requests."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info",
                                           access_log=True))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if not thread.is_alive():
        raise SystemExit(f"the API could not start on 127.0.0.1:{port}")
    print(banner, flush=True)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        server.should_exit = True
        thread.join(10)


def run(dev: DevSettings | None = None) -> None:
    """Start storage, the event path and the API; stop all of it on Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines drown ours
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    dev = dev or DevSettings()
    if is_listening(dev.api_port):
        raise SystemExit(f"port {dev.api_port} is busy: set UPVAULT_API_PORT to a free port")
    issuer = DevIssuer(dev.state_dir)
    issuer.ensure_keys()
    with ExitStack() as stack:
        storage, sqs, queue_url, queue_arn = stack.enter_context(_storage(dev))
        env = service_environment(dev, storage, issuer)
        poller = SqsPoller(sqs, queue_url, queue_arn, processor_handler(env), source=storage.name)
        poller.start()
        stack.callback(poller.stop)
        api_url = f"http://127.0.0.1:{dev.api_port}"
        token = issuer.mint("alice")
        banner = "\n".join([
            "",
            "Upvault local stack is up",
            f"  API        {api_url}/v1   (OpenAPI: {api_url}/v1/openapi.json)",
            f"  storage    {storage.name} at {storage.endpoint_url} (bucket {dev.dev_bucket})",
            f"  state dir  {dev.state_dir.resolve()}",
            "  token for user 'alice' (more: .venv/bin/upvault dev-token --user NAME):",
            f"  export TOKEN={token}",
            "Ctrl-C stops everything.",
            "",
        ])
        serve(build_api(env), dev.api_port, banner)


@contextmanager
def _storage(dev: DevSettings) -> Iterator[tuple[Storage, Any, str, str]]:
    if dev.backend == "minio":
        raise SystemExit("the MinIO backend is not available yet; use UPVAULT_BACKEND=moto")
    if dev.backend == "auto":
        print("!! WARNING: running on moto's in-memory S3 (files are lost on exit, presigned URLs are "
              "not verified). Install MinIO with `make tools` for a real store.", file=sys.stderr)
    with moto_storage(dev) as found:
        yield found
