"""Fixtures for the integration tier: a real MinIO server over HTTP, and S3 clients for it.

MinIO is a hard requirement here: when its binary is missing the session fails with the
command that installs it (``make tools``); it never skips, so CI cannot go green without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.devstack import LocalStack
from local.minio import MinioServer
from tests.integration.live import start_stack
from tests.live_minio import make_s3_client, minio_binary, new_minio
from tests.support import mark_tier

#: The key id of MinIO's built-in KMS in tests; ``aws:kms`` default encryption must name it.
KMS_KEY_NAME = "upvault-test"


#: No single test here needs more; a hung server fails the test instead of stalling CI.
TEST_TIMEOUT = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this tier ``integration`` (``-m "not integration"`` deselects them)."""
    mark_tier(items, __file__, "integration", TEST_TIMEOUT)


@pytest.fixture(scope="session")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A MinIO server for the whole session: temp data dir, free port, KMS key, random root.

    Tests that stop it must start it again (``minio.restart()``); it keeps port and data.
    """
    with new_minio(tmp_path_factory.mktemp("minio"), user="root", kms_key_name=KMS_KEY_NAME) as server:
        yield server


@pytest.fixture(scope="session")
def minio_s3(minio: MinioServer) -> Any:
    """A boto3 S3 client (SigV4, path style, checksums only when required) for :func:`minio`."""
    return make_s3_client(minio)


@pytest.fixture
def bucket(minio: MinioServer, minio_s3: Any) -> str:
    """A new empty bucket, so tests never see each other's objects or settings."""
    # A test that stopped the session server and failed before restarting it must not take
    # every later test down with it.
    minio.start()
    name = f"test-{uuid.uuid4().hex[:20]}"
    minio_s3.create_bucket(Bucket=name)
    return name


# -- the local stack (API + event path + storage), in process on free ports ---------------------


@pytest.fixture(scope="session")
def minio_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack on MinIO (the one ``make dev`` runs), for the whole session."""
    minio_binary()
    stack = start_stack(tmp_path_factory.mktemp("stack-minio"), "minio")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def moto_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The local stack on moto's server with the SQS poller, in process.

    Module scope: moto's server shares its backends with ``mock_aws`` in this process, and its
    poller must not keep polling while the unit tier (same pytest run) mocks AWS.
    """
    stack = start_stack(tmp_path_factory.mktemp("stack-moto"), "moto")
    yield stack
    stack.stop()


@pytest.fixture(params=["moto", "minio"])
def live(request: pytest.FixtureRequest) -> LocalStack:
    """Each flow test runs on both backends: one suite, no "am I local" branch anywhere."""
    stack: LocalStack = request.getfixturevalue(f"{request.param}_stack")
    if stack.minio is not None:
        stack.minio.start()  # a test that stopped it and failed must not break the next one
    return stack
