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

import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import uvicorn

from functions.api import surface
from local.bootstrap import bootstrap_bucket, minio_environment
from local.dev_issuer import DevIssuer
from local.event_bridge import DeadLetterStore, EventBridge, Handler
from local.minio import MinioError, MinioServer
from local.ports import free_port, is_listening
from local.settings import DevSettings
from local.sqs_poller import SqsPoller
from local.state import SECRETS_FILE, LocalSecrets, load_secrets
from local.tokens import TokenVerifier
from local.tools import ToolNotInstalledError, tool_path
from upvault.keys import STAGING_PREFIX
from upvault.settings import Settings, load_settings
from upvault.storage import make_clients

# Not under "upvault": Powertools' Logger (service "upvault") hides the records of every
# logger whose name contains its service name from the root handlers (functions/observability.py).
log = logging.getLogger("local-stack")

#: Credentials of the local fake store only; they never reach code paths that talk to AWS.
MOTO_CREDENTIALS = ("upvault-local", "upvault-local-secret")
#: The signing role on MinIO: its STS takes any role ARN and narrows the caller's (here the root
#: user's) rights by the per-user session policy, which is what scopes each presigned URL.
MINIO_SIGNING_ROLE = "arn:minio:iam:::role/upvault-signing"
DEAD_LETTERS_DIR = "dead-letters"


class StackError(RuntimeError):
    """The local stack cannot start; the message says what to do."""


@dataclass(frozen=True)
class Storage:
    """Where the local stack's bucket lives, and the credentials the handlers use there."""

    name: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    #: Presigned URLs are signed as this role, per user (``UPVAULT_SIGNING_ROLE_ARN``).
    signing_role_arn: str | None = None


def service_settings(dev: DevSettings, storage: Storage, overrides: Mapping[str, Any] | None = None) -> Settings:
    """The handlers' :class:`Settings`: the one builder for the stack and ``upvault dlq redrive``.

    The local stack fills in the bucket, region, endpoint and credentials; every other service
    setting is read from ``UPVAULT_*`` by :class:`Settings` itself, as on Lambda, and
    ``overrides`` (field names: tests use a short expiry, small parts) win over both.
    """
    return load_settings(
        **{
            "bucket": dev.dev_bucket,
            "region": dev.dev_region,
            "endpoint_url": storage.endpoint_url,
            "access_key_id": storage.access_key_id,
            "secret_access_key": storage.secret_access_key,
            **({"signing_role_arn": storage.signing_role_arn} if storage.signing_role_arn else {}),
            **(overrides or {}),
        }
    )


def minio_storage(dev: DevSettings, secrets: LocalSecrets) -> Storage:
    """MinIO's endpoint and root credentials: the stack's own, or an external one (``UPVAULT_MINIO_URL``)."""
    if dev.minio_url:
        return Storage(
            "minio",
            str(dev.minio_url).rstrip("/"),
            dev.minio_root_user or secrets.root_user,
            dev.minio_root_password or secrets.root_password,
            MINIO_SIGNING_ROLE,
        )
    return Storage(
        "minio", f"http://127.0.0.1:{dev.minio_port}", secrets.root_user, secrets.root_password, MINIO_SIGNING_ROLE
    )


def processor_handler(settings: Settings) -> Handler:
    """The processor Lambda's handler (``functions.processor.handler.make_handler``) for ``settings``."""
    from functions.processor.handler import make_handler
    from upvault.processing import Processor
    from upvault.settings import PROCESSOR_STORAGE_READ_TIMEOUT
    from upvault.storage import ObjectStore

    # As on AWS (infra/processing.py): the API's short read timeout would fail the server-side
    # copy of a large upload on a loaded machine, and its event would end dead-lettered.
    timeout = max(settings.storage_read_timeout, PROCESSOR_STORAGE_READ_TIMEOUT)
    settings = settings.model_copy(update={"storage_read_timeout": timeout})
    return make_handler(Processor(ObjectStore(settings, make_clients(settings))))


def stack_processor(dev: DevSettings) -> Handler:
    """The processor handler of the MinIO stack ``dev`` describes, built as that stack builds it.

    For ``upvault dlq redrive`` in another terminal: the same ``UPVAULT_*`` environment gives
    the same storage and the same :class:`Settings` (:func:`service_settings`).
    """
    state_dir = Path(dev.state_dir).resolve()
    if not (state_dir / SECRETS_FILE).exists():
        raise StackError(f"no local stack has run with state dir {state_dir}: start it once (`make dev`)")
    storage = minio_storage(dev, load_secrets(state_dir))
    endpoint = urlsplit(storage.endpoint_url)
    if not is_listening(endpoint.port or 80, endpoint.hostname or "127.0.0.1"):
        raise StackError(
            f"storage at {storage.endpoint_url} is not reachable: start the local stack (`make dev`) "
            "with the same UPVAULT_* environment as this command"
        )
    return processor_handler(service_settings(dev, storage))


def token_verifier(dev: DevSettings, issuer: DevIssuer) -> TokenVerifier:
    """Whose tokens the local authorizer accepts: a real issuer's when all three
    ``UPVAULT_AUTH_*`` are set (e.g. the deployed Cognito pool), else the built-in dev issuer's."""
    if dev.auth_issuer and dev.auth_audience and dev.auth_jwks_url:
        return TokenVerifier(issuer=dev.auth_issuer, audience=dev.auth_audience, jwks_url=dev.auth_jwks_url)
    return issuer.verifier()


#: The browser package and demo page (``web/``), served at the API's origin by ``make dev``.
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
#: The files of ``web/`` the local API serves; ``dist/`` is built by ``scripts/tools/web.sh``.
DEMO_FILES = ("demo.html", "demo.js", "uppy.html")


def local_origins(dev: DevSettings, api_port: int) -> tuple[str, ...]:
    """Origins the local API and MinIO allow: the API's own (the demo page is served there),
    the dev environment's (``infra/config.py``) and ``UPVAULT_CORS_ORIGINS``."""
    from infra.config import environment_config

    own = (f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}")
    return tuple(dict.fromkeys((*own, *environment_config("dev").cors_origins, *dev.cors_origins)))


def build_api(
    settings: Settings, verifier: TokenVerifier, origins: Sequence[str] | None = None, web_dir: Path | None = None
) -> Any:
    """The Lambda API app behind what API Gateway does in front of it on AWS.

    The local authorizer verifies tokens like the HTTP API's JWT authorizer; CORS sits outside
    it, as on the HTTP API, whose CORS answers preflights before any authorizer runs. The
    allowed origins are the dev environment's (the same the bucket, and MinIO, allow) unless
    ``origins`` says otherwise. With ``web_dir`` the demo page is served at ``/`` (everything
    outside ``/v1``), on the API's own origin.
    """
    from starlette.middleware.cors import CORSMiddleware

    from functions.api.app import create_app
    from infra.config import environment_config
    from local.authorizer import LocalJwtAuthorizer

    api = CORSMiddleware(
        LocalJwtAuthorizer(create_app(settings), verifier),
        allow_origins=list(environment_config("dev").cors_origins if origins is None else origins),
        allow_methods=list(surface.CORS_METHODS),
        allow_headers=list(surface.CORS_HEADERS),
        max_age=surface.CORS_MAX_AGE_SECONDS,
    )
    return api if web_dir is None else with_demo(api, web_dir)


def with_demo(api: Any, web_dir: Path) -> Any:
    """``api`` for ``/v1/...``; the demo page at ``/`` and the built package under ``/dist/``."""
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route, Router
    from starlette.staticfiles import StaticFiles

    def page(name: str) -> Any:
        async def serve(request: Any) -> Response:
            if not (web_dir / "dist" / "upvault.js").exists():
                return PlainTextResponse(
                    "the demo is not built: run scripts/tools/web.sh (make tools)", status_code=503
                )
            # A fresh page on every load: the package is rebuilt by make dev and make tools.
            return FileResponse(web_dir / name, headers={"Cache-Control": "no-store"})

        return serve

    routes: list[Any] = [Route("/", page("demo.html"))]
    routes += [Route(f"/{name}", page(name)) for name in DEMO_FILES]
    routes.append(Mount("/dist", app=StaticFiles(directory=web_dir / "dist", check_dir=False)))
    demo = Router(routes=routes)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        target = api if path.startswith(surface.API_PREFIX) or scope["type"] != "http" else demo
        await target(scope, receive, send)

    return app


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
        yield Storage("moto", endpoint, *MOTO_CREDENTIALS), sqs, queue_url, queue_arn
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
        dev: The local stack's knobs (ports, state dir, backend, token issuer).
        service: :class:`Settings` fields for the handlers that win over the ``UPVAULT_*``
            environment (tests: short URL expiry, small multipart threshold); ``make dev``
            takes them from the environment.
        minio_env: Extra ``MINIO_*`` settings for the server.
        event_attempts, event_backoff: Processor retries before an event is dead-lettered.
        access_log: uvicorn's per-request log lines.
    """

    def __init__(
        self,
        dev: DevSettings,
        *,
        service: Mapping[str, Any] | None = None,
        minio_env: Mapping[str, str] | None = None,
        event_attempts: int = 3,
        event_backoff: float = 0.2,
        access_log: bool = True,
    ) -> None:
        self.dev = dev
        self.state_dir = Path(dev.state_dir).resolve()
        self.service_overrides = dict(service or {})
        self.minio_env = dict(minio_env or {})
        self.event_attempts = event_attempts
        self.event_backoff = event_backoff
        self.access_log = access_log
        self.issuer = DevIssuer(self.state_dir)
        self.dead_letters = DeadLetterStore(self.state_dir / DEAD_LETTERS_DIR)
        self.backend = ""
        self.storage: Storage | None = None
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
        self.settings = service_settings(self.dev, storage, self.service_overrides)
        self.handler = processor_handler(self.settings)
        return self.settings

    def _start_minio(self) -> None:
        from infra.config import environment_config

        rules = environment_config("dev").bucket_rules()
        # MinIO's CORS is server-wide: the demo page's origin (the API's) and UPVAULT_CORS_ORIGINS too.
        rules = replace(rules, cors=replace(rules.cors, allowed_origins=local_origins(self.dev, self.api_port)))
        secrets = load_secrets(self.state_dir)
        external = self.dev.minio_url is not None
        kms_key = (self.dev.minio_kms_key_name if external else None) or secrets.kms_key_name
        token = (self.dev.webhook_token if external else None) or secrets.webhook_token
        storage = minio_storage(self.dev, secrets)
        settings = self._configure(storage)
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
                root_user=storage.access_key_id,
                root_password=storage.secret_access_key,
                port=self.dev.minio_port,
                kms_secret_key=secrets.kms_secret_key,
                env={**env, **self.minio_env},
                log_file=minio_dir / "minio.log",
            )
            log.info("starting MinIO on %s (data in %s)", storage.endpoint_url, minio_dir / "data")
            self.minio.start()
            self._stack.callback(self.minio.stop)
        # The handlers' credentials are MinIO's root user here: their client sets the bucket up.
        bootstrap_bucket(make_clients(settings).api, settings.bucket, rules, kms_key_id=kms_key)
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
        app = build_api(
            self.settings, token_verifier(self.dev, self.issuer), local_origins(self.dev, self.api_port), WEB_DIR
        )
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

    def demo_url(self, token: str) -> str:
        """The demo page at the API's origin, with ``token`` filled in (a fragment: never sent, never logged)."""
        return f"{self.api_url}/#token={token}"

    def banner(self) -> str:
        """What ``make dev`` prints once everything is up."""
        assert self.storage is not None and self.settings is not None
        token = self.token("alice", ttl=12 * 3600)
        storage = self.storage
        lines = [
            "",
            "Upvault local stack is up",
            f"  API        {self.api_url}/v1   (OpenAPI: {self.api_url}/v1/openapi.json, docs: {self.api_url}/v1/docs)",
            f"  storage    {storage.name} at {storage.endpoint_url} (bucket {self.dev.dev_bucket})",
        ]
        if self.settings.public_endpoint_url:
            lines.append(f"  presigned  URLs signed for {self.settings.signing_endpoint_url}")
        if self.minio:
            lines.append(f"  MinIO log  {self.minio.log_file}")
        if self.bridge:
            lines.append(f"  events     MinIO → {self.bridge.url} → processor handler")
            lines.append("  dead letters: .venv/bin/upvault dlq list | dlq redrive")
        lines += [
            f"  state dir  {self.state_dir}",
            "  token for user 'alice' (more: .venv/bin/upvault dev-token --user NAME):",
            f"  export TOKEN={token}",
            f"  demo       {self.demo_url(token)}",
            "Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)


def run(dev: DevSettings | None = None) -> None:
    """``upvault dev``: start everything, print the banner, stop all of it on Ctrl-C."""
    # Before any function module is imported: Powertools' Logger puts its de-duplication filter
    # on the root handlers that exist when it is created (see functions/observability.py).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines drown ours
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    dev = dev or DevSettings()
    stack = LocalStack(dev)
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
