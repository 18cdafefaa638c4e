"""Fixtures for the browser tier: a whole Upvault stack on three origins, and headless Chromium.

Per test module, on 127.0.0.1 and free ports:

- ``web``: a static server for ``web/`` (the page's origin), after ``scripts/tools/web.sh``
  built the browser package (``web/dist``: the client module, its hashing Worker, the Uppy
  example bundles, from the pinned npm lockfile);
- ``minio``: a real MinIO whose global CORS allows exactly that origin (MinIO has no per-bucket
  CORS; see docs/minio.md), with a versioned bucket;
- ``api``: the Lambda API app behind the local JWT authorizer, with Starlette's CORS middleware
  *outside* the authorizer, as API Gateway answers preflights without a token (the local
  stack's own :func:`local.devstack.build_api`, allowing the page's origin);
- a processor thread that hands every staged key to :class:`upvault.processing.Processor`,
  standing in for the S3 event → SQS → Lambda path (that path has its own integration tests);
- ``browser``: Debian's Chromium driven by Python Playwright (never a downloaded browser).

Three origins make CORS real: every API call and every presigned request is cross-origin.

The fixtures are module-scoped, not session-scoped: ``make test`` runs every tier in one pytest
process, and Playwright's sync driver keeps an asyncio loop installed while it runs, which
breaks later tests that run their own loop. Module scope stops it (and the servers) as soon as
the browser tests are done.
Chromium or MinIO missing is a failure that says to run ``make tools``, never a skip.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from local.dev_issuer import DevIssuer
from local.devstack import build_api
from local.minio import MinioServer
from local.ports import LOOPBACK, free_port
from tests.live_minio import make_s3_client, minio_settings, new_minio
from tests.support import mark_tier
from upvault.keys import STAGING_PREFIX
from upvault.processing import Processor
from upvault.settings import MIB, Settings
from upvault.storage import ObjectStore, make_clients

log = logging.getLogger("e2e")

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "web"
#: Screenshots and other files a person may want to look at after a run (gitignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Small multipart settings so an ~11 MiB file in the page is three parts.
PART_SIZE = 5 * MIB
#: No test needs more; a hung browser or server fails the test instead of stalling CI.
TEST_TIMEOUT = 90


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this tier ``e2e`` with a timeout."""
    mark_tier(items, __file__, "e2e", TEST_TIMEOUT)


# -- the page's origin ------------------------------------------------------------------------
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: " + format, *args)

    def end_headers(self) -> None:
        # A fresh page on every reload: the tests reload mid-upload and must get the same code.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def build_web_package() -> None:
    """Build ``web/dist`` (idempotent, seconds when cached); a failure fails the tier."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/tools/web.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"building the browser package failed (run make tools):\n{result.stderr[-4000:]}", pytrace=False)


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    """Origin of a static server for ``web/`` (demo.html, uppy.html, dist/)."""
    build_web_package()
    handler = functools.partial(_QuietHandler, directory=str(WEB_DIR))
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-web", daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- storage ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_port() -> int:
    """The API's port, chosen first: the demo page is served at the API's origin too."""
    return free_port()


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory, web: str, api_port: int) -> Iterator[MinioServer]:
    """A real MinIO whose CORS allows the page's origins only (the static server's, the API's)."""
    origins = f"{web},http://{LOOPBACK}:{api_port}"
    with new_minio(
        tmp_path_factory.mktemp("minio"), user="e2e", env={"MINIO_API_CORS_ALLOW_ORIGIN": origins}
    ) as server:
        yield server


@dataclass(frozen=True)
class Stack:
    """The running service, as the tests see it."""

    api_url: str
    web_origin: str
    storage_url: str
    settings: Settings
    issuer: DevIssuer
    s3: Any

    def token(self, user: str) -> str:
        """A token the API accepts, for ``user``."""
        return self.issuer.mint(user, ttl=3600)


@pytest.fixture(scope="module")
def settings(minio: MinioServer) -> Settings:
    """Service settings: the module's MinIO, and 5 MiB multipart parts."""
    return minio_settings(minio, "upvault-e2e", multipart_threshold=PART_SIZE, part_size=PART_SIZE)


@pytest.fixture(scope="module")
def s3(minio: MinioServer, settings: Settings) -> Any:
    """An admin S3 client; creates the versioned bucket."""
    client = make_s3_client(minio)
    client.create_bucket(Bucket=settings.bucket)
    client.put_bucket_versioning(Bucket=settings.bucket, VersioningConfiguration={"Status": "Enabled"})
    return client


# -- the event path, in process ---------------------------------------------------------------
class StagingPoller:
    """Process every staged object, as the S3 event → SQS → processor Lambda path would.

    The processor is idempotent and ignores multipart placeholders, so seeing a key twice is
    harmless; a failure is logged and retried on the next round, like a redelivered message.
    """

    def __init__(self, settings: Settings, s3: Any, interval: float = 0.2) -> None:
        self.processor = Processor(ObjectStore(settings, make_clients(settings)))
        self.bucket = settings.bucket
        self.s3 = s3
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-processor", daemon=True)

    def start(self) -> StagingPoller:
        """Start polling in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=STAGING_PREFIX)
                for item in listed.get("Contents", []):
                    self.processor.process(item["Key"])
            except Exception:  # the loop must survive one bad round, as SQS redelivers
                log.exception("processing staged objects failed; retrying")


# -- the API ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, s3: Any, minio: MinioServer, web: str, api_port: int
) -> Iterator[Stack]:
    """API (uvicorn thread, serving the demo at its origin as make dev does) and processor for
    the module; both stopped at its end."""
    issuer = DevIssuer(tmp_path_factory.mktemp("issuer"))
    issuer.ensure_keys()
    port = api_port
    app = build_api(settings, issuer.verifier(), [web], web_dir=WEB_DIR)
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="e2e-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the API did not start on {LOOPBACK}:{port}", pytrace=False)
        time.sleep(0.02)
    poller = StagingPoller(settings, s3).start()
    try:
        yield Stack(
            api_url=f"http://{LOOPBACK}:{port}",
            web_origin=web,
            storage_url=minio.endpoint_url,
            settings=settings,
            issuer=issuer,
            s3=s3,
        )
    finally:
        poller.stop()
        server.should_exit = True
        thread.join(10)


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Python Playwright's driver (it never downloads a browser here)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium; missing, it fails with the command that installs it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run make tools (scripts/tools/chromium.sh installs Debian's chromium package)",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (own localStorage), downloads allowed."""
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def user() -> str:
    """A new user per test, so each test sees only its own files."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def page(context: BrowserContext, stack: Stack) -> Page:
    """A page on the web origin; browser console errors end up in the test's log."""
    page = context.new_page()
    page.on("console", lambda message: log.info("browser console %s: %s", message.type, message.text))
    page.on("pageerror", lambda error: log.error("browser page error: %s", error))
    return page
