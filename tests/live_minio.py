"""A real MinIO for the tiers that need one (integration, e2e), and clients for it.

MinIO is a hard requirement there: a missing binary fails the test session with the command
that installs it (``make tools``), never a skip, so CI cannot go green without it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.minio import MinioServer, generate_kms_secret_key
from local.ports import LOOPBACK
from tests.support import required_tool
from upvault.settings import Settings
from upvault.storage import make_clients

REGION = "us-east-1"


def minio_binary() -> Path:
    """The MinIO binary, or a failed test session that says how to install it (never a skip)."""
    return required_tool("minio")


def new_minio(
    root: Path,
    *,
    user: str,
    kms_key_name: str | None = None,
    env: Mapping[str, str] | None = None,
    host: str = LOOPBACK,
) -> MinioServer:
    """A MinIO (not started) with its data dir and log under ``root``, random root credentials
    named after ``user``, a free port on ``host``, and a KMS key named ``kms_key_name`` if given."""
    return MinioServer(
        root / "data",
        root_user=f"{user}-{secrets.token_hex(4)}",
        root_password=secrets.token_urlsafe(24),
        host=host,
        kms_secret_key=generate_kms_secret_key(kms_key_name) if kms_key_name else None,
        env=env,
        log_file=root / "minio.log",
        binary=minio_binary(),
    )


def minio_settings(server: MinioServer, bucket: str, **overrides: Any) -> Settings:
    """The service's settings for ``bucket`` on ``server``, with its root credentials."""
    return Settings(
        bucket=bucket,
        region=REGION,
        endpoint_url=server.endpoint_url,
        access_key_id=server.root_user,
        secret_access_key=server.root_password,
        **overrides,
    )


def make_s3_client(server: MinioServer) -> Any:
    """A boto3 S3 client for ``server`` with its root credentials, configured as the service's
    (SigV4, path style, checksums only when required), with patient timeouts for big bodies.

    ``Settings`` needs a bucket; the client is not bound to it, tests name theirs per call.
    """
    settings = minio_settings(
        server, "any-bucket", storage_connect_timeout=5, storage_read_timeout=30, storage_max_attempts=2
    )
    return make_clients(settings).api
