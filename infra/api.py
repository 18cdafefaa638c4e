"""API: the HTTP API with its JWT authorizer, the API function and its least-privilege grants.

Every route needs a valid JWT except the public ones (``GET /v1/health``, ``/v1/openapi.json``,
``/v1/docs``), which have their own, lower throttling. The
token comes from a Cognito user pool this construct creates, or from an external issuer and
audience given in the environment config. API Gateway verifies it; the function only reads
the verified claims from ``requestContext.authorizer.jwt.claims`` (payload format 2.0).
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.api import surface
from infra.config import EnvironmentConfig
from infra.functions import LOG_ENCRYPTION_REASON, log_retention, upvault_function
from infra.identity import Identity
from infra.nag import acknowledge
from infra.signing import SigningRole
from infra.storage import AREAS, Storage, StorageAccess
from upvault.keys import FILES_PREFIX, STAGING_PREFIX
from upvault.settings import ENV_PREFIX

#: Routes anyone may call: load balancers and client generators must reach them without a token.
PROTECTED_ROUTE = f"{surface.API_PREFIX}/{{proxy+}}"

#: What the API function may do in the bucket (see the issue's permission table).
API_ACCESS = StorageAccess(
    objects=(
        # Its own multipart create/complete and placeholders are s3:PutObject; Abort/ListParts
        # have their own (presigned requests act as the signing role, infra/signing.py).
        # An abort removes exactly its placeholder's version (never a file completed meanwhile).
        (
            ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObjectVersion"),
            (STAGING_PREFIX,),
        ),
        # HEAD in every area; DELETE /v1/files/{id} in any state (pending,
        # ready, rejected) and an aborted upload's placeholder; a delete only adds a marker.
        (("s3:GetObject", "s3:DeleteObject"), AREAS),
        # Restore copies the last version back as a new one (a multipart copy aborts on failure).
        (("s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"), (FILES_PREFIX,)),
    ),
    listing=("s3:ListBucket", "s3:ListBucketVersions"),
    bucket=("s3:ListBucketMultipartUploads",),
    # Its own writes need a data key (GenerateDataKey), reads, multipart uploads and copies
    # Decrypt. S3 never calls kms:Encrypt for SSE-KMS objects.
    key=("kms:Decrypt", "kms:GenerateDataKey"),
)

# One JSON object per request; the field names follow API Gateway's documented context keys.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "sub": "$context.authorizer.claims.sub",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """JSON access logs to a CloudWatch log group (jsii needs a class for this interface)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class Api(Construct):
    """HTTP API + JWT authorizer + the FastAPI/Mangum function."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self.identity: Identity | None = None
        if config.auth_issuer:
            issuer, audience = config.auth_issuer, list(config.auth_audience)
        else:
            self.identity = Identity(self, "Identity", config=config)
            issuer, audience = self.identity.issuer, self.identity.audience

        self.function = upvault_function(
            self,
            "Function",
            package="api",
            description="Upvault API: presigned upload/download URLs (FastAPI on Mangum)",
            config=config,
            storage=storage,
            # No issuer or audience: API Gateway verifies the token, the function only reads claims.
            access=API_ACCESS,
        )
        # Presigned URLs are signed per user as this role (made once the function's role exists:
        # it is the only principal the signing role trusts).
        assert self.function.role is not None  # upvault_function always gives it its own role
        self.signing = SigningRole(self, "Signing", storage=storage, signer=self.function.role)
        self.function.add_environment(f"{ENV_PREFIX}SIGNING_ROLE_ARN", self.signing.role.role_arn)
        synchronous = (
            "Never invoked asynchronously: API Gateway calls the API function synchronously and "
            "returns its answer (or a 5xx) to the client, which retries."
        )
        acknowledge(self.function, [("Serverless-LambdaDLQ", synchronous), ("NIST.800.53.R5-LambdaDLQ", synchronous)])

        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description=f"Upvault {config.name} API",
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=list(config.cors_origins),
                allow_methods=[apigwv2.CorsHttpMethod[m] for m in (*surface.CORS_METHODS, "OPTIONS")],
                allow_headers=list(surface.CORS_HEADERS),
                max_age=Duration.seconds(surface.CORS_MAX_AGE_SECONDS),
            ),
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=config.removal_policy,
        )
        acknowledge(self.access_logs, [("NIST.800.53.R5-CloudWatchLogGroupEncrypted", LOG_ENCRYPTION_REASON)])
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=config.throttle_rate, burst_limit=config.throttle_burst),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )

        integration = integrations.HttpLambdaIntegration(
            "Handler",
            self.function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        self.http_api.add_routes(
            path=PROTECTED_ROUTE,
            methods=[apigwv2.HttpMethod.ANY],
            integration=integration,
            authorizer=authorizers.HttpJwtAuthorizer("Jwt", issuer, jwt_audience=audience),
        )
        self.public_routes: list[apigwv2.HttpRoute] = []
        for path in surface.PUBLIC_PATHS:
            self.public_routes += self.http_api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.GET],
                integration=integration,
                authorizer=apigwv2.HttpNoneAuthorizer(),
            )
        self._throttle_public_routes(config)
        for route in self.public_routes:
            acknowledge(
                route,
                [
                    (
                        "AwsSolutions-APIG4",
                        "Health check and OpenAPI document are public by design (load balancers and client "
                        "generators); they expose no user data. Every other route needs a JWT.",
                    )
                ],
            )

    def _throttle_public_routes(self, config: EnvironmentConfig) -> None:
        """Give the public routes their own, lower limits than the stage's (HTTP API route settings).

        Anyone can call them; without their own limits anonymous traffic could use up the
        stage's throttle and lock signed-in users out with 429.
        """
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        limits = {
            "ThrottlingRateLimit": config.public_throttle_rate,
            "ThrottlingBurstLimit": config.public_throttle_burst,
        }
        cfn_stage.add_property_override("RouteSettings", {f"GET {path}": limits for path in surface.PUBLIC_PATHS})
        # CloudFormation refuses route settings for a route key that does not exist yet.
        self.stage.node.add_dependency(*self.public_routes)

    @property
    def url(self) -> str:
        """The API's base URL (the ``$default`` stage)."""
        return self.stage.url
