"""Per-environment settings of the Upvault infrastructure: one typed object, validated at synth.

``dev``, ``staging`` and ``prod`` differ only through :class:`EnvironmentConfig`. The CDK app
picks one with ``-c env=<name>`` and applies overrides from context (see
:func:`config_from_context`). This module imports nothing from aws-cdk on purpose: the local
MinIO bootstrap imports it too (``environment_config("dev").bucket_rules()``) so the local
bucket gets exactly the lifecycle and CORS rules AWS gets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from upvault.bucket_rules import BucketRules, bucket_rules

if TYPE_CHECKING:  # only the CDK app asks for a removal policy; the local stack runs without CDK
    from aws_cdk import RemovalPolicy

EnvironmentName = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[EnvironmentName, ...] = ("dev", "staging", "prod")

#: CloudWatch Logs only accepts these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
#: Names reserved for documentation and tests (RFC 2606, RFC 6761): no real browser origin is on them.
RESERVED_DOMAINS = ("example", "example.com", "example.net", "example.org", "test", "invalid")
#: Staged objects outlive the longest wait of their notification by this much: S3 runs
#: lifecycle rules once a day (rounding up to the next midnight UTC) and a redrive takes time.
STAGING_MARGIN_DAYS = 2
#: Environments others rely on: they must not deploy with placeholders or alarms to no one.
SHARED_ENVIRONMENTS: tuple[EnvironmentName, ...] = ("staging", "prod")
_CONNECTION_ARN = re.compile(r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/.+$")


@dataclass(frozen=True)
class FunctionSizing:
    """Memory, timeout and reserved concurrency of one Lambda function."""

    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int | None


class ConfigError(ValueError):
    """The infrastructure configuration is invalid; the message names each bad setting."""


class EnvironmentConfig(BaseModel):
    """Everything that differs between dev, staging and prod.

    Defaults are production-minded; the per-environment defaults in :data:`_DEFAULTS` relax
    what only makes sense in production (retention of data on stack deletion, MFA).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: EnvironmentName
    #: Deployment target; ``None`` keeps the stacks environment-agnostic (no lookups needed).
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    # Storage
    #: Browser origins of the app, for the bucket's and the API's CORS (no placeholders outside dev).
    cors_origins: tuple[str, ...] = Field(min_length=1)
    noncurrent_retention_days: int = Field(default=365, ge=1)
    intelligent_tiering_days: int | None = Field(default=None, ge=0)
    #: Keep the bucket, its logs and the key when the stack is deleted (never auto-delete data).
    retain_data: bool = True
    #: EventBridge notifications cost money per event and nothing here consumes them.
    event_bridge: bool = False
    access_log_retention_days: int = Field(default=365, ge=1)

    # API
    #: Cold start imports FastAPI, pydantic and boto3: CPU scales with memory, and 1 GB roughly
    #: halves the init time of 512 MB for a few ms of billed time per request.
    api_memory_mb: int = Field(default=1024, ge=128, le=10240)
    #: Requests are a few S3 calls (restore copies an object); 29 s stays under API Gateway's
    #: 30 s integration limit so a slow call ends in our own problem response.
    api_timeout_seconds: int = Field(default=29, ge=3, le=29)
    api_reserved_concurrency: int | None = Field(default=None, ge=1)
    throttle_rate: int = Field(default=100, ge=1)
    throttle_burst: int = Field(default=200, ge=1)
    #: Lower limits for the public routes (health, OpenAPI, docs): anonymous callers must not
    #: use up the stage's throttle and lock signed-in users out with 429.
    public_throttle_rate: int = Field(default=10, ge=1)
    public_throttle_burst: int = Field(default=20, ge=1)
    #: External identity provider; when both are unset the stack creates a Cognito user pool.
    auth_issuer: str | None = Field(default=None, pattern=r"^https://\S+$")
    auth_audience: tuple[str, ...] = ()
    cognito_mfa_required: bool = True

    # Processing
    #: Validation reads only the first bytes (magic numbers); the rest is S3-side copies.
    processor_memory_mb: int = Field(default=512, ge=128, le=10240)
    #: A server-side copy of a multi-GB object takes tens of seconds; 2 min leaves margin.
    processor_timeout_seconds: int = Field(default=120, ge=10, le=900)
    processor_reserved_concurrency: int | None = Field(default=None, ge=1)
    #: Most concurrent processor invocations the SQS event source starts (Lambda allows 2-1000):
    #: a burst of uploads waits in the queue instead of taking the account's concurrency from
    #: the API. See docs/infrastructure.md ("Concurrency") for the numbers behind the defaults.
    processor_max_concurrency: int = Field(default=20, ge=2, le=1000)
    batch_size: int = Field(default=10, ge=1, le=10)
    max_batching_window_seconds: int = Field(default=1, ge=0, le=300)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    #: How long a notification may wait in the queue, then in the dead-letter queue (SQS: 1-14 days).
    queue_retention_days: int = Field(default=4, ge=1, le=14)
    dead_letter_retention_days: int = Field(default=14, ge=1, le=14)
    #: How long staged objects (current and noncurrent versions) are kept; unset, it is derived
    #: from the two retentions above (:attr:`staging_retention`), so no message outlives its object.
    staging_retention_days: int | None = Field(default=None, ge=1)

    # Observability
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_retention_days: int = 90
    #: Who hears the alarms: an email subscription, and/or an existing SNS topic (e.g. the
    #: on-call tool's) every alarm also notifies. Staging and prod need at least one.
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    alarm_topic_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
    oldest_message_alarm_seconds: int = Field(default=900, ge=60)
    api_5xx_rate_threshold: float = Field(default=0.01, gt=0, lt=1)

    #: CloudFormation refuses to delete the stack until someone turns this off (prod).
    termination_protection: bool = False

    # Pipeline
    connection_arn: str | None = None
    repository: str = Field(default="upvault/upvault", pattern=r"^[\w.-]+/[\w.-]+$")
    branch: str = "main"

    @field_validator("cors_origins", "auth_audience", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """Context values from the command line arrive as ``a,b``; cdk.json gives real lists."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            # A wildcard would let any site drive uploads with a user's presigned URLs.
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("log_retention_days", "access_log_retention_days")
    @classmethod
    def _retention_is_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {LOG_RETENTION_DAYS}")
        return value

    @field_validator("connection_arn")
    @classmethod
    def _connection_arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not _CONNECTION_ARN.match(value):
            raise ValueError("must be a CodeStar/CodeConnections connection ARN")
        return value

    @model_validator(mode="after")
    def _auth_is_complete(self) -> EnvironmentConfig:
        if bool(self.auth_issuer) != bool(self.auth_audience):
            raise ValueError("auth_issuer and auth_audience must be set together (or neither, for Cognito)")
        if self.throttle_burst < self.throttle_rate:
            raise ValueError("throttle_burst must be at least throttle_rate")
        if self.public_throttle_burst < self.public_throttle_rate:
            raise ValueError("public_throttle_burst must be at least public_throttle_rate")
        if self.public_throttle_rate > self.throttle_rate or self.public_throttle_burst > self.throttle_burst:
            raise ValueError("public_throttle_rate/burst must not exceed throttle_rate/burst")
        reserved = self.processor_reserved_concurrency
        if reserved is not None and self.processor_max_concurrency > reserved:
            raise ValueError(
                f"processor_max_concurrency ({self.processor_max_concurrency}) must not exceed "
                f"processor_reserved_concurrency ({reserved}): the excess invocations would only be throttled"
            )
        return self

    @model_validator(mode="after")
    def _staged_objects_outlive_their_messages(self) -> EnvironmentConfig:
        if self.dead_letter_retention_days < self.queue_retention_days:
            # SQS keeps a dead letter's original enqueue time: a shorter DLQ retention drops it on arrival.
            raise ValueError("dead_letter_retention_days must be at least queue_retention_days")
        days = self.staging_retention_days
        if days is not None and days < self.longest_message_wait_days + STAGING_MARGIN_DAYS:
            raise ValueError(
                f"staging_retention_days ({days}) must be at least queue_retention_days + "
                f"dead_letter_retention_days + {STAGING_MARGIN_DAYS} "
                f"({self.longest_message_wait_days + STAGING_MARGIN_DAYS}): an upload whose notification "
                "waits that long (an outage, a late redrive) would be gone before it is validated"
            )
        return self

    @property
    def longest_message_wait_days(self) -> int:
        """The longest a notification can wait: the whole queue retention, then the whole DLQ retention
        (a redrive from the DLQ starts the queue retention again)."""
        return self.queue_retention_days + self.dead_letter_retention_days

    @property
    def staging_retention(self) -> int:
        """Days staged objects are kept: the configured value, else the longest wait plus the margin."""
        return self.staging_retention_days or self.longest_message_wait_days + STAGING_MARGIN_DAYS

    def deployment_problems(self) -> list[str]:
        """What keeps this config from a shared environment (staging, prod); each names its setting.

        Dev may keep local origins and alarms nobody receives; an environment others rely on may not.
        """
        if self.name not in SHARED_ENVIRONMENTS:
            return []
        problems = [
            f"cors_origins: {origin} is on a reserved example domain, so every browser call from the real "
            "app would fail CORS; set the app's origins"
            for origin in self.cors_origins
            if _is_reserved(origin)
        ]
        if not (self.alarm_email or self.alarm_topic_arn):
            problems.append(
                "alarm_email or alarm_topic_arn: no one would receive this environment's alarms; "
                "set an email address or an existing SNS topic ARN"
            )
        return problems

    def require_deployable(self) -> None:
        """Raise :class:`ConfigError` naming every setting :meth:`deployment_problems` finds."""
        problems = self.deployment_problems()
        if problems:
            raise ConfigError(
                f"{self.name} cannot be deployed: " + "; ".join(problems) + f" (in cdk.json under upvault:{self.name}, "
                "see docs/infrastructure.md, 'Before your first deploy')"
            )

    @property
    def uses_cognito(self) -> bool:
        """Whether the stack creates its own Cognito user pool (no external issuer given)."""
        return self.auth_issuer is None

    def sizing(self, function: Literal["api", "processor"]) -> FunctionSizing:
        """The sizing of the API or the processor function (``functions/<function>/``)."""
        if function == "api":
            return FunctionSizing(self.api_memory_mb, self.api_timeout_seconds, self.api_reserved_concurrency)
        return FunctionSizing(
            self.processor_memory_mb, self.processor_timeout_seconds, self.processor_reserved_concurrency
        )

    @property
    def removal_policy(self) -> RemovalPolicy:
        """What deleting the stack does to stateful resources: RETAIN when ``retain_data``, else DESTROY."""
        # Imported here so that importing this module never loads aws-cdk (see the module docstring).
        from aws_cdk import RemovalPolicy

        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        """Six times the processor timeout plus the batching window, as AWS advises for SQS sources."""
        return 6 * self.processor_timeout_seconds + self.max_batching_window_seconds

    def bucket_rules(self) -> BucketRules:
        """The bucket's lifecycle, CORS and notification rules for this environment."""
        return bucket_rules(
            cors_origins=self.cors_origins,
            noncurrent_retention_days=self.noncurrent_retention_days,
            staging_expiry_days=self.staging_retention,
            intelligent_tiering_days=self.intelligent_tiering_days,
        )


def _is_reserved(origin: str) -> bool:
    """Whether an origin's host is on a domain reserved for examples (``app.upvault.example``)."""
    host = origin.split("://", 1)[-1].split(":", 1)[0].lower()
    return any(host == domain or host.endswith(f".{domain}") for domain in RESERVED_DOMAINS)


_LOCAL_ORIGINS = (
    "http://localhost:8000",
    "http://127.0.0.1:8000",
    "http://localhost:5173",
    "http://localhost:3000",
)

_DEFAULTS: dict[EnvironmentName, dict[str, Any]] = {
    "dev": {
        "cors_origins": _LOCAL_ORIGINS,
        # dev stacks are torn down often; nothing in them is anyone's data.
        "retain_data": False,
        "noncurrent_retention_days": 7,
        "cognito_mfa_required": False,
        "log_level": "DEBUG",
        "log_retention_days": 14,
        "access_log_retention_days": 30,
        "throttle_rate": 20,
        "throttle_burst": 40,
        "public_throttle_rate": 5,
        "public_throttle_burst": 10,
        "processor_max_concurrency": 5,
    },
    "staging": {
        "cors_origins": ("https://staging.upvault.example",),
        "noncurrent_retention_days": 30,
        "log_retention_days": 30,
    },
    "prod": {
        "cors_origins": ("https://app.upvault.example",),
        "intelligent_tiering_days": 30,
        "log_retention_days": 365,
        "throttle_rate": 500,
        "throttle_burst": 1000,
        "public_throttle_rate": 20,
        "public_throttle_burst": 40,
        "processor_max_concurrency": 50,
        "termination_protection": True,
    },
}

_FIELDS = frozenset(EnvironmentConfig.model_fields) - {"name"}


def environment_config(name: str, overrides: Mapping[str, Any] | None = None) -> EnvironmentConfig:
    """Return the validated settings of environment ``name`` (dev, staging or prod).

    ``overrides`` replace defaults field by field; an unknown field or a bad value raises
    :class:`ConfigError` naming it, so a typo in context fails the synth instead of being ignored.
    """
    if name not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment {name!r}: choose one of {', '.join(ENVIRONMENTS)}")
    values = {**_DEFAULTS[name], **(overrides or {}), "name": name}
    try:
        return EnvironmentConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid {name} configuration: {problems}") from None


def config_from_context(get: Callable[[str], Any], name: str | None = None) -> EnvironmentConfig:
    """Build the config from CDK context through ``get`` (``node.try_get_context``).

    Precedence, lowest first: the defaults above, the JSON object under ``upvault:<env>``
    (cdk.json), then single keys named like the fields (``-c alarm_email=ops@example.com``).
    """
    env = name or get("env") or "dev"
    overrides: dict[str, Any] = {}
    block = get(f"upvault:{env}")
    if isinstance(block, str):
        block = json.loads(block)
    if block:
        if not isinstance(block, Mapping):
            raise ConfigError(f"context upvault:{env} must be a JSON object")
        overrides.update(block)
    for field in _FIELDS:
        value = get(field)
        if value is not None:
            overrides[field] = value
    return environment_config(str(env), overrides)
