"""The one place that makes Upvault Lambda functions with our defaults.

Every function is Python 3.13 on arm64 (cheaper per GB-second than x86 and our wheels exist
for it), traced with X-Ray, logs JSON to its own log group with a retention, loads
third-party packages from the shared dependencies layer and carries the Powertools settings.
Only what really differs (handler package, memory, timeout, settings, storage access,
concurrency) is an argument.

A function's environment is written by :func:`function_environment` alone: Powertools'
variables and ``UPVAULT_<FIELD>`` for fields of :class:`upvault.settings.Settings`, the only
variables the code reads. Anything else fails the synth, so a variable no code reads cannot
creep back in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import dependencies_layer_code, function_code
from infra.config import ConfigError, EnvironmentConfig
from infra.nag import acknowledge
from infra.storage import Storage, StorageAccess
from upvault.settings import ENV_PREFIX, Settings

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
SERVICE_NAME = "upvault"
METRICS_NAMESPACE = "Upvault"
#: Settings only a local run sets (an S3-compatible endpoint and its keys). Every function
#: declares them empty: `sam local invoke --env-vars` can only set variables the template
#: declares, and on AWS an empty value is unset (``Settings`` ignores empty variables), so the
#: functions use S3 and their role's credentials. See docs/sam-local.md.
LOCAL_RUN_SETTINGS = ("endpoint_url", "public_endpoint_url", "access_key_id", "secret_access_key")
_LAMBDA_LOG_LEVEL = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


def handler_path(package: str) -> str:
    """Lambda handler string of ``functions/<package>/handler.py``'s module-level ``handler``."""
    return f"functions.{package}.handler.handler"


def dependencies_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The stack's single dependencies layer, created on first use and shared by every function."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("DependenciesLayer")
    if isinstance(existing, lambda_.LayerVersion):
        return existing
    return lambda_.LayerVersion(
        stack,
        "DependenciesLayer",
        code=dependencies_layer_code(),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Upvault third-party dependencies (requirements.txt) for Python 3.13 arm64",
        # Old layer versions stay so a rollback of the functions still finds its layer.
        removal_policy=RemovalPolicy.RETAIN,
    )


_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(days: int) -> logs.RetentionDays:
    """Map a validated number of days to CDK's enum (the config only allows CloudWatch's values)."""
    return logs.RetentionDays[_RETENTION[days]]


def function_environment(config: EnvironmentConfig, settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of an Upvault function: Powertools' settings, then ``UPVAULT_<FIELD>`` per setting.

    ``settings`` maps :class:`~upvault.settings.Settings` field names (``bucket``) to values;
    a name that is not a field raises :class:`ConfigError`, which fails the synth.
    """
    unknown = sorted(set(settings) - set(Settings.model_fields))
    if unknown:
        names = ", ".join(f"{ENV_PREFIX}{name.upper()}" for name in unknown)
        raise ConfigError(f"{names}: not read by upvault.settings.Settings, so no function may carry it")
    return {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": config.log_level,
        **{f"{ENV_PREFIX}{name.upper()}": "" for name in LOCAL_RUN_SETTINGS},
        **{f"{ENV_PREFIX}{name.upper()}": value for name, value in settings.items()},
    }


#: Shared by every log group of the service (function logs, API access logs).
LOG_ENCRYPTION_REASON = (
    "CloudWatch Logs encrypts all log data at rest with service-managed keys; the logs hold request "
    "metadata and object keys, never file contents. A customer-managed key is a per-deployment choice."
)
_RUNTIME_REASON = (
    "Python 3.13 is the runtime the issue fixes and the one the dependencies layer's wheels (cp313, arm64) "
    "are built and tested for; moving to a newer runtime is a deliberate upgrade of both together."
)


def upvault_function(
    scope: Construct,
    construct_id: str,
    *,
    package: Literal["api", "processor"],
    description: str,
    config: EnvironmentConfig,
    storage: Storage,
    access: StorageAccess,
    settings: Mapping[str, str] | None = None,
) -> lambda_.Function:
    """Create the Lambda function for ``functions/<package>/`` with Upvault's defaults.

    Memory, timeout and reserved concurrency come from the config (:meth:`EnvironmentConfig.sizing`).
    The function gets ``access`` to the uploads bucket and is told where it is (``bucket``,
    ``region``); ``settings`` adds other :class:`~upvault.settings.Settings` fields by name.
    """
    sizing = config.sizing(package)
    environment = function_environment(
        config,
        {
            **dict.fromkeys(LOCAL_RUN_SETTINGS, ""),
            "bucket": storage.bucket.bucket_name,
            "region": Stack.of(scope).region,
            **(settings or {}),
        },
    )
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention(config.log_retention_days),
        removal_policy=config.removal_policy,
    )
    # Our own role instead of AWSLambdaBasicExecutionRole: that managed policy may write to
    # every log group in the account, this one only to the function's own group.
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Upvault {config.name} {package} function",
    )
    log_group.grant_write(role)
    storage.grant(role, access)
    function = lambda_.Function(
        scope,
        construct_id,
        role=role,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler_path(package),
        code=function_code(package),
        layers=[dependencies_layer(scope)],
        memory_size=sizing.memory_mb,
        timeout=Duration.seconds(sizing.timeout_seconds),
        reserved_concurrent_executions=sizing.reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=_LAMBDA_LOG_LEVEL[config.log_level],
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        environment=environment,
    )
    acknowledge(
        role,
        [
            (
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
                "permissions, AWS requires Resource '*'.",
            ),
            (
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "CDK writes the role's exact grants as its own inline policy: unlike a managed policy, it "
                "cannot be attached to any other principal.",
            ),
        ],
    )
    acknowledge(log_group, [("NIST.800.53.R5-CloudWatchLogGroupEncrypted", LOG_ENCRYPTION_REASON)])
    acknowledge(
        function,
        [
            ("AwsSolutions-L1", _RUNTIME_REASON),
            ("Serverless-LambdaLatestVersion", _RUNTIME_REASON),
            (
                "NIST.800.53.R5-LambdaConcurrency",
                "Reserved concurrency is a per-environment setting (api_/processor_reserved_concurrency): "
                "reserving by default takes headroom new accounts do not have. The processor's event source "
                "is capped by processor_max_concurrency.",
            ),
            (
                "NIST.800.53.R5-LambdaInsideVPC",
                "The functions reach only S3 and SQS, over TLS with IAM-scoped roles; a VPC would add NAT or "
                "endpoints and cold-start latency without narrowing what they can reach.",
            ),
        ],
    )
    return function
