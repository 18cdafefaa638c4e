"""The one typed settings object of Upvault.

Every Lambda, the local stack and the CLI build the service's configuration from ``UPVAULT_*``
environment variables through :class:`Settings`, once per process (cold start), when they call
:func:`load_settings`, never at import. It holds only what the Lambdas read: nothing else
reads these variables. Invalid values fail fast with a message naming the variable.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any

from pydantic import AnyHttpUrl, BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from upvault.models import Category
from upvault.signing import RENEW_MARGIN_SECONDS, SESSION_SECONDS

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: S3 refuses presigned URLs that live longer than seven days.
MAX_PRESIGN_EXPIRY = 7 * 24 * 3600
#: S3 limits for multipart uploads.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
#: A single PUT cannot exceed 5 GiB on S3.
MAX_SINGLE_PUT = 5 * GIB
#: The processor's storage read timeout (AWS and the local stack alike): server-side copies of
#: multi-GiB objects take far longer than the API's few seconds, more so on a loaded machine.
PROCESSOR_STORAGE_READ_TIMEOUT = 60

ENV_PREFIX = "UPVAULT_"


class CategoryPolicy(BaseModel):
    """Allowed content types and the size limit of one category."""

    model_config = {"frozen": True}

    allowed_types: frozenset[str]
    max_size: int


DEFAULT_TYPES: dict[Category, tuple[str, ...]] = {
    Category.DOCUMENTS: (
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
        "text/csv",
        "image/png",
        "image/jpeg",
    ),
    Category.AUDIO: (
        "audio/mpeg",
        "audio/wav",
        "audio/ogg",
        "audio/webm",
        "audio/mp4",
        "audio/flac",
    ),
    Category.IMAGES: (
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/tiff",
    ),
}

#: The allow-list of file name extensions per content type. A type without an entry cannot be
#: allowed in a category: every name it could carry would be refused.
EXTENSIONS: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"pdf"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": frozenset({"xlsx"}),
    "text/plain": frozenset({"txt", "text", "log", "md"}),
    "text/csv": frozenset({"csv"}),
    "image/png": frozenset({"png"}),
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe"}),
    "image/webp": frozenset({"webp"}),
    "image/gif": frozenset({"gif"}),
    "image/heic": frozenset({"heic", "heif"}),
    "image/tiff": frozenset({"tif", "tiff"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/wav": frozenset({"wav"}),
    "audio/ogg": frozenset({"ogg", "oga", "opus"}),
    "audio/webm": frozenset({"webm", "weba"}),
    "audio/mp4": frozenset({"m4a", "mp4"}),
    "audio/flac": frozenset({"flac"}),
}

TypeList = Annotated[tuple[str, ...], NoDecode]


def _split_types(value: Any) -> Any:
    """Accept ``a/b,c/d`` from the environment as well as a real sequence."""
    if isinstance(value, str):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Upvault runtime configuration, read from ``UPVAULT_*`` environment variables."""

    # An empty variable is an unset one: the Lambda template declares the local-only variables
    # (endpoint, keys) empty so `sam local --env-vars` can fill them, and on AWS they must mean
    # "not set" (S3 and the role's credentials), never an invalid URL or an empty key.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True)

    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    #: Storage endpoint the service itself talks to; unset on AWS.
    endpoint_url: AnyHttpUrl | None = None
    #: Endpoint presigned URLs are signed for (the host the browser reaches); defaults to
    #: ``endpoint_url``. Differs when storage runs in a container (``minio:9000`` inside,
    #: ``localhost:9000`` outside): the Host header is part of the signature.
    public_endpoint_url: AnyHttpUrl | None = None
    # Worst case per call with the defaults: 3 attempts x (2 s + 5 s) ≈ 21 s, inside API
    # Gateway's 29 s integration timeout, so a hung store ends in our own 503 problem. The
    # processor (multi-GiB server-side copies) gets a longer read timeout from its environment.
    storage_connect_timeout: float = Field(default=2.0, gt=0, le=30)
    storage_read_timeout: float = Field(default=5.0, gt=0, le=300)
    storage_max_attempts: int = Field(default=3, ge=1, le=10)
    #: Access keys only for S3-compatible servers; on AWS the role's credentials are used.
    access_key_id: str | None = None
    secret_access_key: str | None = None

    #: The role presigned URLs are signed as, through STS ``AssumeRole`` with a per-user session
    #: policy (:mod:`upvault.signing`): a URL can then only touch its own user's keys. Unset, URLs
    #: are signed with the service's own credentials, which can read every user's objects (the
    #: weaker model: see README "Security"). MinIO accepts any role ARN and scopes the caller.
    signing_role_arn: str | None = Field(
        default=None, pattern=r"^arn:[a-z0-9-]+:iam::[0-9]{0,12}:role/[A-Za-z0-9_+=,.@/-]+$"
    )

    put_url_expiry: int = Field(default=900, ge=1)
    get_url_expiry: int = Field(default=300, ge=1)

    multipart_threshold: int = Field(default=100 * MIB, ge=MIN_PART_SIZE)
    part_size: int = Field(default=16 * MIB, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    max_object_size: int = Field(default=5 * GIB, ge=1)

    documents_max_size: int = Field(default=50 * MIB, ge=1)
    audio_max_size: int = Field(default=500 * MIB, ge=1)
    images_max_size: int = Field(default=25 * MIB, ge=1)
    documents_types: TypeList = DEFAULT_TYPES[Category.DOCUMENTS]
    audio_types: TypeList = DEFAULT_TYPES[Category.AUDIO]
    images_types: TypeList = DEFAULT_TYPES[Category.IMAGES]

    #: User metadata limits (S3 allows 2 KiB of user metadata in total; we keep room for ours).
    max_metadata_entries: int = Field(default=10, ge=0, le=20)
    max_metadata_bytes: int = Field(default=1024, ge=0, le=1536)

    _split = field_validator("documents_types", "audio_types", "images_types", mode="before")(_split_types)

    @field_validator("put_url_expiry", "get_url_expiry")
    @classmethod
    def _expiry_within_sigv4_limit(cls, value: int) -> int:
        if value > MAX_PRESIGN_EXPIRY:
            raise ValueError(f"must be at most {MAX_PRESIGN_EXPIRY} seconds (7 days), SigV4's limit")
        return value

    @model_validator(mode="after")
    def _urls_outlive_no_session(self) -> Settings:
        # A URL signed with temporary credentials stops working when their session ends.
        longest = max(self.put_url_expiry, self.get_url_expiry)
        if self.signing_role_arn and longest + RENEW_MARGIN_SECONDS > SESSION_SECONDS:
            raise ValueError(
                f"{ENV_PREFIX}PUT_URL_EXPIRY and {ENV_PREFIX}GET_URL_EXPIRY must be at most "
                f"{SESSION_SECONDS - RENEW_MARGIN_SECONDS} seconds with {ENV_PREFIX}SIGNING_ROLE_ARN: "
                f"URLs are signed with sessions of at most {SESSION_SECONDS} seconds"
            )
        return self

    @model_validator(mode="after")
    def _limits_are_consistent(self) -> Settings:
        for category in Category:
            size = getattr(self, f"{category.value}_max_size")
            if size > self.max_object_size:
                raise ValueError(
                    f"{ENV_PREFIX}{category.value.upper()}_MAX_SIZE ({size}) exceeds "
                    f"{ENV_PREFIX}MAX_OBJECT_SIZE ({self.max_object_size})"
                )
            types = getattr(self, f"{category.value}_types")
            if not types:
                raise ValueError(f"{ENV_PREFIX}{category.value.upper()}_TYPES must list at least one type")
            unknown = sorted(set(types) - set(EXTENSIONS))
            if unknown:
                raise ValueError(
                    f"{ENV_PREFIX}{category.value.upper()}_TYPES: {', '.join(unknown)} has no allowed file name "
                    "extensions (upvault.settings.EXTENSIONS): files of that type could never be named"
                )
        return self

    @cached_property
    def policies(self) -> dict[Category, CategoryPolicy]:
        """Allowed types and size limit per category."""
        return {
            category: CategoryPolicy(
                allowed_types=frozenset(getattr(self, f"{category.value}_types")),
                max_size=getattr(self, f"{category.value}_max_size"),
            )
            for category in Category
        }

    @property
    def signing_endpoint_url(self) -> str | None:
        """The endpoint presigned URLs are made for."""
        url = self.public_endpoint_url or self.endpoint_url
        return str(url).rstrip("/") if url else None


class SettingsError(Exception):
    """Configuration is invalid; the message names each offending environment variable."""


def load_settings(**overrides: Any) -> Settings:
    """Build and validate :class:`Settings` once, turning errors into one readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = "_".join(str(part) for part in error["loc"]).upper()
            name = f"{ENV_PREFIX}{loc}" if loc else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid Upvault configuration: " + "; ".join(problems)) from None
