"""What ``--from`` and ``--to`` name, and how each side finds its credentials.

A location is a local folder (``file:///abs/path`` or a plain path) or a bucket of an
S3-compatible server (``s3://bucket/prefix``). Each side has its own endpoint, region, profile
and credentials, so two servers with different keys work in one run:

1. ``UPVAULT_MIGRATE_FROM_ACCESS_KEY_ID`` / ``UPVAULT_MIGRATE_FROM_SECRET_ACCESS_KEY`` (and
   ``..._SESSION_TOKEN``) for the source, ``UPVAULT_MIGRATE_TO_*`` for the destination;
2. else the named ``--from-profile`` / ``--to-profile`` of the AWS config files;
3. else boto3's default chain (``AWS_*`` variables, default profile, instance role).

Secrets never go on the command line, where ``ps`` and shell history would keep them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from migration.errors import MigrationError

#: S3's bucket naming rules (MinIO follows them).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ENV_PREFIX = "UPVAULT_MIGRATE_"


@dataclass(frozen=True)
class Location:
    """A parsed ``--from``/``--to`` value."""

    kind: Literal["file", "s3"]
    #: The folder of a ``file`` location.
    path: Path | None = None
    bucket: str = ""
    #: Key prefix inside the bucket, ``""`` or ending in ``/``.
    prefix: str = ""

    def __str__(self) -> str:
        if self.kind == "file":
            return f"file://{self.path}"
        return f"s3://{self.bucket}/{self.prefix}"


def parse_location(text: str) -> Location:
    """Parse ``s3://bucket/prefix``, ``file:///path`` or a plain folder path.

    Raises:
        MigrationError: anything else, with the forms that are accepted.
    """
    if not text.strip():
        raise MigrationError("an empty location: use s3://bucket/prefix, file:///path or a folder path")
    parts = urlsplit(text)
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not _BUCKET.match(bucket):
            raise MigrationError(f"{text!r}: {bucket!r} is not a valid bucket name (s3://bucket/prefix)")
        if parts.query or parts.fragment:
            raise MigrationError(f"{text!r}: an s3:// location takes no query or fragment")
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Location("s3", bucket=bucket, prefix=prefix)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise MigrationError(f"{text!r}: a file URL needs an absolute path, file:///path")
        return Location("file", path=Path(unquote(parts.path)))
    # A Windows drive letter parses as a one-letter scheme; anything else with "://" is a URL
    # we do not speak (http://, gs://, ...).
    if "://" in text or (parts.scheme and len(parts.scheme) > 1 and not Path(text).exists()):
        raise MigrationError(
            f"{text!r}: unsupported location; use s3://bucket/prefix (with --from-endpoint/--to-endpoint "
            "for MinIO), file:///path or a folder path"
        )
    return Location("file", path=Path(text).expanduser().resolve())


class SideCredentials(BaseSettings):
    """Access keys of one side, from ``UPVAULT_MIGRATE_FROM_*`` or ``UPVAULT_MIGRATE_TO_*``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


def side_credentials(side: Literal["from", "to"]) -> SideCredentials:
    """Read one side's access keys from its environment variables (none set is fine)."""
    return SideCredentials(_env_prefix=f"{ENV_PREFIX}{side.upper()}_")


@dataclass(frozen=True)
class SideOptions:
    """How to reach one side: endpoint (MinIO), region, profile, and its own access keys."""

    name: Literal["from", "to"]
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    credentials: SideCredentials | None = None

    @property
    def env_hint(self) -> str:
        """The variables that carry this side's keys, for error messages."""
        prefix = f"{ENV_PREFIX}{self.name.upper()}_"
        return f"{prefix}ACCESS_KEY_ID and {prefix}SECRET_ACCESS_KEY, or --{self.name}-profile"
