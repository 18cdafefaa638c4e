"""``make dev``: the whole service on one machine, running the very same handlers.

Storage is a real MinIO server (built by ``make tools``), bootstrapped to the deployed bucket's
shape; MinIO's bucket notifications reach the **same processor handler** through the event
bridge, as SQS batches. The API is the same FastAPI app as on Lambda, served by uvicorn behind
a local JWT authorizer. When MinIO is not installed, ``UPVAULT_BACKEND=auto`` falls back to
moto's S3+SQS server in process (loudly); ``minio`` and ``moto`` never fall back.

:class:`LocalStack` is what ``upvault dev`` runs and what the integration tests start in
process (on free ports, in a temp state dir).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from botocore.config import Config

from functions.api import surface
from local.bootstrap import bootstrap_bucket, minio_environment
from local.dev_issuer import AUDIENCE, ISSUER, DevIssuer
from local.event_bridge import DeadLetterStore, EventBridge, Handler
from local.minio import MinioError, MinioServer
from local.ports import free_port, is_listening
from local.settings import DevSettings
from local.sqs_poller import SqsPoller
from local.state import load_secrets
from local.tools import ToolNotInstalledError, tool_path
from upvault.keys import STAGING_PREFIX
from upvault.settings import Settings, load_settings

# Not under "upvault": Powertools' Logger(service="upvault") filters records of loggers whose
# name contains its service name out of the root handlers.
log = logging.getLogger("local-stack")

#: Credentials of the local fake store only; they never reach code paths that talk to AWS.
MOTO_CREDENTIALS = ("upvault-local", "upvault-local-secret")
#: The handlers' environment of the running stack, for ``upvault dlq redrive``.
SERVICE_ENV_FILE = "service-env.json"
DEAD_LETTERS_DIR = "dead-letters"


class StackError(RuntimeError):
    """The local stack cannot start; the message says what to do."""


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
    auth = (ISSUER, AUDIENCE, issuer.jwks_url)
    if dev.auth_issuer and dev.auth_audience and dev.auth_jwks_url:  # e.g. the deployed Cognito pool
        auth = (dev.auth_issuer, dev.auth_audience, dev.auth_jwks_url)
    env = {
        "UPVAULT_BUCKET": dev.dev_bucket,
        "UPVAULT_REGION": dev.dev_region,
        "UPVAULT_ENDPOINT_URL": storage.endpoint_url,
        "UPVAULT_ACCESS_KEY_ID": storage.access_key_id,
        "UPVAULT_SECRET_ACCESS_KEY": storage.secret_access_key,
        "UPVAULT_AUTH_ISSUER": auth[0],
        "UPVAULT_AUTH_AUDIENCE": auth[1],
        "UPVAULT_AUTH_JWKS_URL": auth[2],
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


def service_settings(env: Mapping[str, str]) -> Settings:
    """:class:`Settings` from the ``UPVAULT_*`` entries of ``env`` (they win over the process's)."""
    values = {
        name.removeprefix("UPVAULT_").lower(): value for name, value in env.items() if name.startswith("UPVAULT_")
    }
    return load_settings(**values)


def processor_handler(settings: Settings) -> Handler:
    """The processor Lambda's handler (``functions.processor.handler.make_handler``) for ``settings``."""
    from functions.processor.handler import make_handler
    from upvault.processing import Processor
    from upvault.storage import ObjectStore, make_clients

    return make_handler(Processor(ObjectStore(settings, make_clients(settings))))


def build_api(settings: Settings) -> Any:
    """The Lambda API app behind what API Gateway does in front of it on AWS.

    The local authorizer verifies tokens like the HTTP API's JWT authorizer; CORS sits outside
    it, as on the HTTP API, whose CORS answers preflights before any authorizer runs. The
    allowed origins are the dev environment's, the same the bucket (and MinIO) allow.
    """
    from starlette.middleware.cors import CORSMiddleware

    from functions.api.app import create_app
    from infra.config import environment_config
    from local.authorizer import LocalJwtAuthorizer
    from local.tokens import TokenVerifier

    if not (settings.auth_issuer and settings.auth_audience and settings.auth_jwks_url):
        raise StackError("the local stack needs UPVAULT_AUTH_ISSUER, _AUDIENCE and _JWKS_URL")
    verifier = TokenVerifier(
        issuer=settings.auth_issuer, audience=settings.auth_audience, jwks_url=settings.auth_jwks_url
    )
    return CORSMiddleware(
        LocalJwtAuthorizer(create_app(settings), verifier),
        allow_origins=list(environment_config("dev").cors_origins),
        allow_methods=list(surface.CORS_METHODS),
        allow_headers=list(surface.CORS_HEADERS),
        max_age=surface.CORS_MAX_AGE_SECONDS,
    )


def admin_s3(endpoint_url: str, access_key_id: str, secret_access_key: str, region: str) -> Any:
    """An S3 client for setting the bucket up (SigV4, path style, checksums when required)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )


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
        kwargs = {
            "endpoint_url": endpoint,
            "region_name": dev.dev_region,
            "aws_access_key_id": MOTO_CREDENTIALS[0],
            "aws_secret_access_key": MOTO_CREDENTIALS[1],
        }
        s3 = boto3.client("s3", **kwargs)
        sqs = boto3.client("sqs", **kwargs)
        s3.create_bucket(Bucket=dev.dev_bucket)
        s3.put_bucket_versioning(Bucket=dev.dev_bucket, VersioningConfiguration={"Status": "Enabled"})
        dlq_url = sqs.create_queue(QueueName="upvault-events-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="upvault-events",
            Attributes={
                "VisibilityTimeout": "5",
                "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=dev.dev_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": STAGING_PREFIX}]}},
                    }
                ],
            },
        )
        public = str(dev.public_endpoint_url).rstrip("/") if dev.public_endpoint_url else None
        yield Storage("moto", endpoint, *MOTO_CREDENTIALS, public_endpoint_url=public), sqs, queue_url, queue_arn
    finally:
        server.stop()


def choose_backend(dev: DevSettings) -> str:
    """``minio`` or ``moto``; ``auto`` falls back to moto with a loud warning when MinIO is missing."""
    if dev.backend == "moto":
        return "moto"
    if dev.minio_url:
        return "minio"
    try:
        tool_path("minio")
    except ToolNotInstalledError as exc:
        if dev.backend == "minio":
            raise StackError(str(exc)) from None
        print(
            "\n" + "!" * 78 + "\n!! WARNING: MinIO is not installed, so the local stack runs on moto's in-memory\n"
            "!! S3: files are lost on exit and presigned URLs are NOT verified.\n"
            f"!! {exc}\n" + "!" * 78 + "\n",
            file=sys.stderr,
            flush=True,
        )
        return "moto"
    return "minio"


class LocalStack:
    """Storage, bootstrap, event path and API on this machine; :meth:`stop` ends all of it.

    Args:
        dev: The local stack's knobs (ports, state dir, backend).
        service: Extra ``UPVAULT_*`` settings for the handlers (tests: short URL expiry, small
            multipart threshold); ``make dev`` takes them from the environment.
        minio_env: Extra ``MINIO_*`` settings for the server.
        event_attempts, event_backoff: Processor retries before an event is dead-lettered.
        access_log: uvicorn's per-request log lines.
        export_env: Put the handlers' ``UPVAULT_*`` variables into this process's environment,
            as Lambda does (``upvault dev``); tests running two stacks in one process don't.
    """

    def __init__(
        self,
        dev: DevSettings,
        *,
        service: Mapping[str, str] | None = None,
        minio_env: Mapping[str, str] | None = None,
        event_attempts: int = 3,
        event_backoff: float = 0.2,
        access_log: bool = True,
        export_env: bool = False,
    ) -> None:
        self.dev = dev
        self.state_dir = Path(dev.state_dir).resolve()
        self.service_overrides = dict(service or {})
        self.minio_env = dict(minio_env or {})
        self.event_attempts = event_attempts
        self.event_backoff = event_backoff
        self.access_log = access_log
        self.export_env = export_env
        self.issuer = DevIssuer(self.state_dir)
        self.dead_letters = DeadLetterStore(self.state_dir / DEAD_LETTERS_DIR)
        self.backend = ""
        self.storage: Storage | None = None
        self.env: dict[str, str] = {}
        self.settings: Settings | None = None
        self.handler: Handler | None = None
        self.minio: MinioServer | None = None
        self.bridge: EventBridge | None = None
        self.poller: SqsPoller | None = None
        self.api_port = dev.api_port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stack = ExitStack()

    @property
    def api_url(self) -> str:
        """Base URL of the API (``/v1/...`` below it)."""
        return f"http://127.0.0.1:{self.api_port}"

    def token(self, user: str, ttl: int = 3600) -> str:
        """A dev token the stack's authorizer accepts."""
        return self.issuer.mint(user, ttl=ttl)

    def start(self) -> LocalStack:
        """Start everything; on any failure, stop what was started and raise."""
        if is_listening(self.api_port):
            raise StackError(f"port {self.api_port} is busy: set UPVAULT_API_PORT to a free port")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.issuer.ensure_keys()
        try:
            self.backend = choose_backend(self.dev)
            if self.backend == "minio":
                self._start_minio()
            else:
                self._start_moto()
            self._start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self, storage: Storage) -> Settings:
        self.storage = storage
        self.env = {**service_environment(self.dev, storage, self.issuer), **self.service_overrides}
        if self.export_env:
            # The handler modules read their settings from the environment at import, as on Lambda.
            os.environ.update(self.env)
        self.settings = service_settings(self.env)
        self.handler = processor_handler(self.settings)
        path = self.state_dir / SERVICE_ENV_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(self.env, handle, indent=2)
        return self.settings

    def _start_minio(self) -> None:
        from infra.config import environment_config

        rules = environment_config("dev").bucket_rules()
        secrets = load_secrets(self.state_dir)
        external = str(self.dev.minio_url).rstrip("/") if self.dev.minio_url else None
        user = (self.dev.minio_root_user if external else None) or secrets.root_user
        password = (self.dev.minio_root_password if external else None) or secrets.root_password
        kms_key = (self.dev.minio_kms_key_name if external else None) or secrets.kms_key_name
        token = (self.dev.webhook_token if external else None) or secrets.webhook_token
        endpoint = external or f"http://127.0.0.1:{self.dev.minio_port}"
        public = str(self.dev.public_endpoint_url).rstrip("/") if self.dev.public_endpoint_url else None
        settings = self._configure(Storage("minio", endpoint, user, password, public_endpoint_url=public))
        assert self.handler is not None
        self.bridge = EventBridge(
            self.handler,
            token=token,
            dead_letters=self.dead_letters,
            host=self.dev.bridge_host,
            port=self.dev.bridge_port,
            region=settings.region,
            attempts=self.event_attempts,
            backoff=self.event_backoff,
        ).start()
        self._stack.callback(self.bridge.stop)
        if not external:
            minio_dir = self.state_dir / "minio"
            env = minio_environment(
                rules, webhook_endpoint=self.bridge.url, webhook_token=token, queue_dir=minio_dir / "events-queue"
            )
            self.minio = MinioServer(
                minio_dir / "data",
                root_user=user,
                root_password=password,
                port=self.dev.minio_port,
                kms_secret_key=secrets.kms_secret_key,
                env={**env, **self.minio_env},
                log_file=minio_dir / "minio.log",
            )
            log.info("starting MinIO on %s (data in %s)", endpoint, minio_dir / "data")
            self.minio.start()
            self._stack.callback(self.minio.stop)
        s3 = admin_s3(endpoint, user, password, settings.region)
        bootstrap_bucket(s3, settings.bucket, rules, kms_key_id=kms_key)
        log.info("bucket %s bootstrapped (versioning, aws:kms, lifecycle, notifications on staging/)", settings.bucket)

    def _start_moto(self) -> None:
        storage, sqs, queue_url, queue_arn = self._stack.enter_context(moto_storage(self.dev))
        self._configure(storage)
        assert self.handler is not None
        self.poller = SqsPoller(sqs, queue_url, queue_arn, self.handler, source=storage.name)
        self.poller.start()
        self._stack.callback(self.poller.stop)

    def _start_api(self) -> None:
        assert self.settings is not None
        app = build_api(self.settings)
        config = uvicorn.Config(
            app,
            host=self.dev.api_host,
            port=self.api_port,
            log_level="info",
            access_log=self.access_log,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)
        self._thread.start()
        self._stack.callback(self._stop_api)
        while not self._server.started and self._thread.is_alive():
            time.sleep(0.02)
        if not self._thread.is_alive():
            raise StackError(f"the API could not start on 127.0.0.1:{self.api_port}")

    def _stop_api(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    @property
    def alive(self) -> bool:
        """Whether the API thread still serves."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the API, the event path and storage (MinIO's data dir stays)."""
        self._stack.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def banner(self) -> str:
        """What ``make dev`` prints once everything is up."""
        assert self.storage is not None
        storage = self.storage
        lines = [
            "",
            "Upvault local stack is up",
            f"  API        {self.api_url}/v1   (OpenAPI: {self.api_url}/v1/openapi.json, docs: {self.api_url}/v1/docs)",
            f"  storage    {storage.name} at {storage.endpoint_url} (bucket {self.dev.dev_bucket})",
        ]
        if storage.public_endpoint_url:
            lines.append(f"  presigned  URLs signed for {storage.public_endpoint_url}")
        if self.minio:
            lines.append(f"  MinIO log  {self.minio.log_file}")
        if self.bridge:
            lines.append(f"  events     MinIO → {self.bridge.url} → processor handler")
            lines.append("  dead letters: .venv/bin/upvault dlq list | dlq redrive")
        lines += [
            f"  state dir  {self.state_dir}",
            "  token for user 'alice' (more: .venv/bin/upvault dev-token --user NAME):",
            f"  export TOKEN={self.token('alice', ttl=12 * 3600)}",
            "Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)


def run(dev: DevSettings | None = None) -> None:
    """``upvault dev``: start everything, print the banner, stop all of it on Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines drown ours
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    dev = dev or DevSettings()
    for name, value in {
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "upvault",
    }.items():
        os.environ.setdefault(name, value)
    stack = LocalStack(dev, export_env=True)
    # `docker stop` and process managers send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while stack.alive:
            time.sleep(0.5)
        raise StackError("the API server stopped unexpectedly")
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except (StackError, MinioError) as exc:
        raise SystemExit(f"upvault dev: {exc}") from None
    finally:
        stack.stop()
        print("stopped.", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
