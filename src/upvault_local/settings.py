"""Knobs of the local stack only (the service itself is configured by ``upvault.settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DevSettings(BaseSettings):
    """``UPVAULT_API_PORT``, ``UPVAULT_STATE_DIR``, ``UPVAULT_MINIO_PORT``, ``UPVAULT_BACKEND``."""

    model_config = SettingsConfigDict(env_prefix="UPVAULT_", extra="ignore")

    api_port: int = Field(default=8000, ge=1, le=65535)
    state_dir: Path = Path(".upvault")
    minio_port: int = Field(default=9000, ge=1, le=65535)
    #: ``auto`` uses MinIO when it is installed and falls back to moto with a warning.
    backend: Literal["auto", "minio", "moto"] = "auto"
    dev_bucket: str = "upvault-dev"
    dev_region: str = "us-east-1"
    #: Origins the local bucket allows for browser uploads.
    dev_origins: str = "http://127.0.0.1:5173,http://localhost:5173"
