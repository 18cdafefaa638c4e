"""The docker-compose shape without Docker: MinIO started by someone else, the stack only uses it.

``UPVAULT_MINIO_URL`` points at a running MinIO (in compose: ``http://minio:9000``), the bridge
listens on a fixed port MinIO's webhook was told about, and credentials, KMS key name and the
webhook token come from the environment. Same bootstrap, same handlers, same flow.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from infra.config import environment_config
from local.bootstrap import minio_environment
from local.devstack import LocalStack
from local.minio import MinioServer, generate_kms_secret_key
from local.ports import free_port
from local.settings import DevSettings
from tests.integration.live import Client, unique_user
from tests.live_minio import minio_binary
from tests.support import SAMPLES


def test_stack_on_an_external_minio_processes_uploads(tmp_path: Path) -> None:
    # Given a MinIO configured like docker-compose.yml's: webhook to a fixed bridge port
    bridge_port, token = free_port(), secrets.token_urlsafe(16)
    user, password = "compose-root", secrets.token_urlsafe(16)
    env = minio_environment(
        environment_config("dev").bucket_rules(),
        webhook_endpoint=f"http://127.0.0.1:{bridge_port}/minio/events",
        webhook_token=token,
        queue_dir=tmp_path / "queue",
    )
    with MinioServer(
        tmp_path / "data",
        root_user=user,
        root_password=password,
        binary=minio_binary(),
        kms_secret_key=generate_kms_secret_key("upvault-dev"),
        env=env,
    ) as minio:
        # When the stack starts against it, told everything through its settings
        dev = DevSettings(
            state_dir=tmp_path / "state",
            api_port=free_port(),
            backend="minio",
            minio_url=minio.endpoint_url,
            minio_root_user=user,  # type: ignore[arg-type]
            minio_root_password=password,
            minio_kms_key_name="upvault-dev",
            bridge_port=bridge_port,
            webhook_token=token,
        )
        with LocalStack(dev, access_log=False) as stack:
            # Then it started no MinIO of its own, and an upload goes all the way to ready
            assert stack.minio is None
            client = Client(stack, unique_user())
            file_id = client.upload(SAMPLES["image/png"], "image/png", category="images")
            assert client.wait_final(file_id)["status"] == "ready"
