"""Fixtures for the SAM tier: our functions run by SAM CLI in containers, against a real MinIO.

For the tier (package scope: ``make test`` runs every tier in one pytest process, and the
daemon and MinIO stop as soon as this one is done): a Docker daemon (the running one, or
``dockerd`` started here and stopped at the end), the stand-in Lambda image (built once per recipe), the dev stack as ``python app.py``
synthesizes it, a SAM-ready variant of its template, and a MinIO on the Docker bridge address
(the only host address SAM's containers reach) with the dev bucket's shape and the webhook
that feeds the event path.

``UPVAULT_SAM_ARCH`` picks the architecture: ``x86_64`` (default, ``make test-sam``) runs the
template with an x86_64 build of the same layer, natively; ``arm64`` (``make sam-arm64``) runs
the template and layer we ship, under qemu user emulation, with raised timeouts.

A missing Docker, SAM CLI or root (to start dockerd or debootstrap the image) fails the tier
with what to install and how to skip it (``make test SKIP_SAM=1``); it never skips by itself.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.bootstrap import bootstrap_bucket, minio_environment
from local.event_bridge import DeadLetterStore, EventBridge
from tests.live_minio import make_s3_client, new_minio
from tests.sam.support import (
    PACKAGES,
    DockerDaemon,
    Notifications,
    Sam,
    SamTierError,
    Storage,
    ensure_image,
    function_id,
    recorded_tool,
    sam_template,
    synthesize,
)
from tests.support import EVENTS, layer_variant, mark_tier

ARCH = os.environ.get("UPVAULT_SAM_ARCH", "x86_64")
#: Per test, fixtures included: a cold run builds the image and synthesizes in the first
#: test. Under qemu one invoke takes a minute or more.
TEST_TIMEOUT = {"x86_64": 900, "arm64": 3600}[ARCH]
#: One ``sam local invoke`` (SAM's image build, container start, cold start, the call).
INVOKE_TIMEOUT = {"x86_64": 180, "arm64": 900}[ARCH]
#: How long SAM waits for the emulator in a new container to listen.
CONNECT_TIMEOUT = {"x86_64": 60, "arm64": 300}[ARCH]
#: Our functions' timeout in the arm64 template: emulated cold starts outlast the real ones.
EMULATED_FUNCTION_TIMEOUT = 600
KMS_KEY_NAME = "upvault-sam"
#: Variables events/sam-env.json must hold that each run sets to its own MinIO.
STORAGE_VARIABLES = (
    "UPVAULT_ENDPOINT_URL",
    "UPVAULT_PUBLIC_ENDPOINT_URL",
    "UPVAULT_ACCESS_KEY_ID",
    "UPVAULT_SECRET_ACCESS_KEY",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this tier ``sam`` with its timeout."""
    mark_tier(items, __file__, "sam", TEST_TIMEOUT)


def _needed(what: str, exc: Exception) -> None:
    pytest.fail(f"the SAM tier needs {what}: {exc}", pytrace=False)


@pytest.fixture(scope="package")
def sam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs, events and synthesized templates of the tier's run."""
    return tmp_path_factory.mktemp("sam")


@pytest.fixture(scope="package")
def docker(sam_dir: Path) -> Iterator[DockerDaemon]:
    """A Docker daemon for the tier; one started here is stopped at the end.

    What SAM leaves behind (stopped containers, the untagged image it rebuilds per invoke,
    build cache) is pruned at the end either way.
    """
    daemon = DockerDaemon(sam_dir / "dockerd.log")
    try:
        daemon.ensure()
    except SamTierError as exc:
        _needed("a Docker daemon", exc)
    yield daemon
    try:
        daemon.prune()
    finally:
        daemon.stop()


@pytest.fixture(scope="package")
def image(docker: DockerDaemon, sam_dir: Path) -> str:
    """The stand-in Lambda Python 3.13 image for :data:`ARCH`, built once per recipe."""
    try:
        return ensure_image(ARCH, sam_dir / "image-build.log")
    except SamTierError as exc:
        _needed("the stand-in Lambda image", exc)
        raise


@pytest.fixture(scope="package")
def sam_binary() -> Path:
    """SAM CLI, pinned, from the tools cache (scripts/tools/sam.sh)."""
    try:
        binary = Path(recorded_tool("sam"))
    except SamTierError as exc:
        _needed("SAM CLI", exc)
        raise
    if not binary.is_file():
        _needed("SAM CLI", SamTierError(f"{binary} is missing: run `make tools`"))
    return binary


@pytest.fixture(scope="package")
def template(sam_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The dev stack's template, synthesized by ``python app.py``, made ready for SAM here.

    x86_64: our functions and the dependencies layer switch to x86_64, the layer built from the
    same lockfile for x86_64 wheels. arm64: the template as shipped, with raised timeouts.
    """
    try:
        node_path = recorded_tool("node")
    except SamTierError as exc:
        _needed("Node and the CDK CLI", exc)
        raise
    source = synthesize(sam_dir / "cdk.out", node_path)
    if ARCH == "arm64":
        return sam_template(source, "Upvault-dev.sam-arm64.json", arch="arm64", timeout=EMULATED_FUNCTION_TIMEOUT)
    layer = layer_variant("manylinux2014_x86_64", "3.13")
    return sam_template(source, "Upvault-dev.sam-x86_64.json", arch="x86_64", layer=layer)


# -- storage and its event path -------------------------------------------------------------


def sam_env_example() -> dict[str, str]:
    """The ``Parameters`` of events/sam-env.json, the example docs/sam-local.md gives users."""
    parameters: dict[str, str] = json.loads((EVENTS / "sam-env.json").read_text())["Parameters"]
    return parameters


@pytest.fixture(scope="package")
def storage(docker: DockerDaemon, sam_dir: Path) -> Iterator[Storage]:
    """MinIO on the Docker bridge address, the dev bucket's shape, its webhook to the event bridge."""
    from infra.config import environment_config

    rules = environment_config("dev").bucket_rules()
    notifications = Notifications()
    token = secrets.token_urlsafe(24)
    bridge = EventBridge(notifications.handler, token=token, dead_letters=DeadLetterStore(sam_dir / "dead-letters"))
    bridge.start()
    server = new_minio(
        sam_dir / "minio",
        user="sam",
        kms_key_name=KMS_KEY_NAME,
        env=minio_environment(
            rules, webhook_endpoint=bridge.url, webhook_token=token, queue_dir=sam_dir / "minio" / "events-queue"
        ),
        host=docker.bridge_address(),
    )
    bucket = sam_env_example()["UPVAULT_BUCKET"]
    try:
        server.start()
        s3 = make_s3_client(server)
        bootstrap_bucket(s3, bucket, rules, kms_key_id=KMS_KEY_NAME)
        yield Storage(server, bucket, s3, notifications)
    finally:
        server.stop()
        bridge.stop()


@pytest.fixture(scope="package")
def env_vars(storage: Storage, sam_dir: Path) -> Path:
    """events/sam-env.json with the storage variables pointed at this run's MinIO.

    Everything else (bucket, region, issuer, Powertools) is the example's own value.
    """
    parameters = sam_env_example()
    missing = [name for name in STORAGE_VARIABLES if name not in parameters]
    assert not missing, f"events/sam-env.json lacks {missing}"
    parameters |= {
        "UPVAULT_ENDPOINT_URL": storage.server.endpoint_url,
        # The tests reach MinIO at the same address as the containers do.
        "UPVAULT_PUBLIC_ENDPOINT_URL": storage.server.endpoint_url,
        "UPVAULT_ACCESS_KEY_ID": storage.server.root_user,
        "UPVAULT_SECRET_ACCESS_KEY": storage.server.root_password,
    }
    path = sam_dir / "sam-env.json"
    path.write_text(json.dumps({"Parameters": parameters}, indent=2))
    return path


@pytest.fixture(scope="package")
def sam(sam_binary: Path, template: tuple[Path, dict[str, Any]], env_vars: Path, image: str, sam_dir: Path) -> Sam:
    """SAM CLI on the tier's template, variables and stand-in image."""
    return Sam(
        sam_binary,
        template[0],
        env_vars,
        image,
        sam_dir / "runs",
        timeout=INVOKE_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
    )


@pytest.fixture(scope="package")
def functions(template: tuple[Path, dict[str, Any]]) -> dict[str, str]:
    """Logical ids of our functions in the template (what ``sam local invoke`` takes)."""
    return {package: function_id(template[1], package) for package in PACKAGES}
