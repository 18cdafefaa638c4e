"""The one place that makes Upvault Lambda functions with our defaults.

Every function is Python 3.13 on arm64 (cheaper per GB-second than x86 and our wheels exist
for it), traced with X-Ray, logs JSON to its own log group with a retention, loads
third-party packages from the shared dependencies layer and carries the Powertools settings.
Only what really differs (handler package, memory, timeout, environment, concurrency) is an
argument.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import dependencies_layer_code, function_code
from infra.config import EnvironmentConfig
from upvault.settings import ENV_PREFIX

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


def upvault_function(
    scope: Construct,
    construct_id: str,
    *,
    package: str,
    description: str,
    config: EnvironmentConfig,
    memory_mb: int,
    timeout_seconds: int,
    environment: Mapping[str, str],
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """Create the Lambda function for ``functions/<package>/`` with Upvault's defaults."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention(config.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
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
    return lambda_.Function(
        scope,
        construct_id,
        role=role,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler_path(package),
        code=function_code(package),
        layers=[dependencies_layer(scope)],
        memory_size=memory_mb,
        timeout=Duration.seconds(timeout_seconds),
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=_LAMBDA_LOG_LEVEL[config.log_level],
        system_log_level_v2=lambda_.SystemLogLevel.WARN,
        environment={
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            **{f"{ENV_PREFIX}{name.upper()}": "" for name in LOCAL_RUN_SETTINGS},
            **environment,
        },
    )
