"""Where the client finds its API and token: arguments, then ``UPVAULT_API_URL`` and
``UPVAULT_TOKEN``, then the file ``upvault login`` writes in the user's config directory.

These are the client's own variables: the service's settings (``upvault.settings.Settings``)
ignore them, and this object ignores the service's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, JsonConfigSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

APP_NAME = "upvault"


def config_file() -> Path:
    """``config.json`` in the user's config directory (``~/.config/upvault`` on Linux)."""
    return platformdirs.user_config_path(APP_NAME) / "config.json"


def state_dir() -> Path:
    """The user's state directory for Upvault (the resume journal lives below it)."""
    return platformdirs.user_state_path(APP_NAME)


class ClientSettings(BaseSettings):
    """API URL and token of the client and the CLI."""

    model_config = SettingsConfigDict(env_prefix="UPVAULT_", extra="ignore")

    api_url: str | None = None
    token: SecretStr | None = None

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments win over the environment, which wins over the config file."""
        return init_settings, env_settings, JsonConfigSettingsSource(settings_cls, json_file=config_file())


def save_config(api_url: str, token: str) -> Path:
    """Write the config file, readable by the user only (it holds a token)."""
    path = config_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    body: dict[str, Any] = {"api_url": api_url, "token": token}
    with os.fdopen(descriptor, "w") as handle:
        json.dump(body, handle, indent=2)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_TRUNC
    return path
