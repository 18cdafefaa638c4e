"""Secrets of the local stack, generated once into the state dir and reused by later runs.

MinIO's root credentials, its KMS key and the webhook token are random per checkout (never
defaults in code), kept in ``<state_dir>/secrets.json`` (mode 0600) so the data dir MinIO
encrypted with that key stays readable across ``make dev`` runs.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from local.minio import generate_kms_secret_key, validate_kms_secret_key

#: The name of MinIO's built-in KMS key locally; ``aws:kms`` default encryption names it.
KMS_KEY_NAME = "upvault-dev"
#: Where in the state dir the secrets live; it exists once the stack has run there.
SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class LocalSecrets:
    """MinIO root credentials, ``MINIO_KMS_SECRET_KEY`` and the webhook's bearer token."""

    root_user: str
    root_password: str
    kms_secret_key: str
    webhook_token: str

    @property
    def kms_key_name(self) -> str:
        """The key id ``aws:kms`` default encryption must name."""
        return validate_kms_secret_key(self.kms_secret_key)


def generate_secrets() -> LocalSecrets:
    """Fresh random secrets."""
    return LocalSecrets(
        root_user="upvault-" + secrets.token_hex(6),
        root_password=secrets.token_urlsafe(30),
        kms_secret_key=generate_kms_secret_key(KMS_KEY_NAME),
        webhook_token=secrets.token_urlsafe(32),
    )


def load_secrets(state_dir: Path) -> LocalSecrets:
    """Read ``<state_dir>/secrets.json``, creating it (0600) on first use."""
    path = Path(state_dir) / SECRETS_FILE
    if path.exists():
        return LocalSecrets(**json.loads(path.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = generate_secrets()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(fresh), handle, indent=2)
    return fresh
