"""Knobs of the local stack only (the service itself is configured by ``upvault.settings``).

Each ``UPVAULT_*`` variable has exactly one reader: :class:`DevSettings` reads the local
stack's own (ports, state dir, backend, token issuer), :class:`upvault.settings.Settings` the
service's (``UPVAULT_PUT_URL_EXPIRY``, ``UPVAULT_PUBLIC_ENDPOINT_URL``, ...). A unit test
checks that the two never share a field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: What a browser sends as ``Origin``: scheme, host and an optional port, nothing else.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:]+\](:\d{1,5})?$")


class DevSettings(BaseSettings):
    """``UPVAULT_API_PORT``, ``UPVAULT_STATE_DIR``, ``UPVAULT_MINIO_PORT``, ``UPVAULT_BACKEND``, ...

    The service's own settings (``UPVAULT_PUT_URL_EXPIRY``, ``UPVAULT_PUBLIC_ENDPOINT_URL``, ...)
    are read by :class:`upvault.settings.Settings` as everywhere; the local stack only fills in
    bucket, region, endpoint and credentials (``local.devstack.service_settings``).
    """

    model_config = SettingsConfigDict(env_prefix="UPVAULT_", extra="ignore")

    api_port: int = Field(default=8000, ge=1, le=65535)
    state_dir: Path = Path(".upvault")
    minio_port: int = Field(default=9000, ge=1, le=65535)
    #: ``auto`` uses MinIO when it is installed and falls back to moto with a warning;
    #: ``minio`` and ``moto`` never fall back.
    backend: Literal["auto", "minio", "moto"] = "auto"
    #: An already running MinIO (docker-compose): the stack then starts none itself and
    #: uses ``UPVAULT_MINIO_ROOT_USER``/``_PASSWORD`` and ``UPVAULT_MINIO_KMS_KEY_NAME``.
    minio_url: AnyHttpUrl | None = None
    minio_root_user: str | None = None
    minio_root_password: str | None = None
    minio_kms_key_name: str | None = None
    #: Where the event bridge listens (0: a free port). In a container, bind ``0.0.0.0``.
    bridge_host: str = "127.0.0.1"
    bridge_port: int = Field(default=0, ge=0, le=65535)
    #: Where the API listens; ``0.0.0.0`` only inside a container.
    api_host: str = "127.0.0.1"
    #: Bearer token MinIO sends to the bridge when MinIO is external (else generated).
    webhook_token: str | None = None
    dev_bucket: str = "upvault-dev"
    dev_region: str = "us-east-1"
    #: A real issuer (e.g. the deployed Cognito user pool) instead of the built-in dev issuer:
    #: set all three and the local authorizer verifies its tokens exactly as API Gateway does.
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    #: Extra origins (comma list) the local API and MinIO allow, besides the API's own (where
    #: the demo page is served) and the dev environment's (``infra/config.py``).
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        for origin in value:
            if not _ORIGIN.match(str(origin)):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return tuple(str(origin) for origin in value)
