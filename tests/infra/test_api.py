"""API: JWT authorizer on every route but health/openapi, throttling, access logs, CORS, the function."""

from __future__ import annotations

import json
from typing import Any

from infra.config import environment_config
from tests.infra.conftest import EXTERNAL_AUDIENCE, EXTERNAL_ISSUER, session_config
from tests.infra.support import Template, env_of, logical_id, only, props, ref_name, resources

PUBLIC = {"GET /v1/health", "GET /v1/openapi.json", "GET /v1/docs", "GET /v1/limits"}


def _routes(template: Template) -> dict[str, dict[str, Any]]:
    return {
        res["Properties"]["RouteKey"]: res["Properties"]
        for res in resources(template, "AWS::ApiGatewayV2::Route").values()
    }


def test_every_route_but_health_and_openapi_requires_a_jwt(dev: Template, staging: Template) -> None:
    for template in (dev, staging):
        # Given the routes of the HTTP API
        routes = _routes(template)
        (authorizer_id, authorizer) = only(template, "AWS::ApiGatewayV2::Authorizer")
        # Then the catch-all /v1 route is protected by the JWT authorizer
        assert set(routes) == PUBLIC | {"ANY /v1/{proxy+}"}
        for key, route in routes.items():
            if key in PUBLIC:
                # And only health, the OpenAPI document (and its docs page) and the limits are public
                assert route["AuthorizationType"] == "NONE", key
                assert "AuthorizerId" not in route
            else:
                assert route["AuthorizationType"] == "JWT", key
                assert ref_name(route["AuthorizerId"]) == f"<{authorizer_id}>"
        assert authorizer["Properties"]["AuthorizerType"] == "JWT"
        assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]


def test_default_identity_is_the_stacks_own_cognito_pool(dev: Template) -> None:
    # Given dev, configured without an external issuer
    jwt = props(dev, "AWS::ApiGatewayV2::Authorizer")["JwtConfiguration"]
    pool = logical_id(dev, "AWS::Cognito::UserPool", "UserPool")
    client = logical_id(dev, "AWS::Cognito::UserPoolClient", "WebClient")
    # Then the authorizer trusts the pool's issuer and the app client as audience
    assert ref_name(jwt["Issuer"]) == f"<{pool}.ProviderURL>"
    assert [ref_name(a) for a in jwt["Audience"]] == [f"<{client}>"]
    # And the pool is not open for self sign-up, has a strong password policy, and the client has no secret
    pool_props = props(dev, "AWS::Cognito::UserPool")
    assert pool_props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool_props["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert props(dev, "AWS::Cognito::UserPoolClient")["GenerateSecret"] is False


def test_app_client_allows_only_srp_sign_in_and_no_oauth(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        # Given the Cognito app client
        client = props(template, "AWS::Cognito::UserPoolClient")
        # Then it allows only what the app uses: SRP sign-in and token refresh
        assert client["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        # And no OAuth flow, scope or callback (CDK's default is code + implicit grant to https://example.com)
        assert client["AllowedOAuthFlowsUserPoolClient"] is False
        assert not {"AllowedOAuthFlows", "AllowedOAuthScopes", "CallbackURLs", "LogoutURLs"} & set(client)


def test_prod_requires_mfa(prod: Template) -> None:
    # Given prod's user pool
    # Then MFA (TOTP) is required
    pool = props(prod, "AWS::Cognito::UserPool")
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_external_issuer_from_context_replaces_cognito(staging: Template) -> None:
    # Given staging, configured with an external issuer and audience in context
    jwt = props(staging, "AWS::ApiGatewayV2::Authorizer")["JwtConfiguration"]
    # Then the authorizer trusts exactly that issuer and audience, and no user pool is created
    assert jwt == {"Issuer": EXTERNAL_ISSUER, "Audience": [EXTERNAL_AUDIENCE]}
    assert not resources(staging, "AWS::Cognito::UserPool")
    # And the function is not told them: it never reads them (API Gateway verifies the token)
    env = env_of(staging, "ApiFunction")
    assert not {"UPVAULT_AUTH_ISSUER", "UPVAULT_AUTH_AUDIENCE"} & set(env)


def test_stage_throttles_and_writes_json_access_logs_with_retention(dev: Template, prod: Template) -> None:
    for name, template in (("dev", dev), ("prod", prod)):
        config = environment_config(name)
        # Given the $default stage
        stage = props(template, "AWS::ApiGatewayV2::Stage")
        # Then it deploys automatically and throttles per the environment's settings
        assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"] == {
            "ThrottlingBurstLimit": config.throttle_burst,
            "ThrottlingRateLimit": config.throttle_rate,
        }
        # And access logs are one JSON object per request, with the request id, into a retained log group
        log_format = json.loads(stage["AccessLogSettings"]["Format"])
        assert log_format["requestId"] == "$context.requestId" and log_format["status"] == "$context.status"
        group = logical_id(template, "AWS::Logs::LogGroup", "ApiAccessLogs")
        assert ref_name(stage["AccessLogSettings"]["DestinationArn"]) == f"<{group}.Arn>"
        assert props(template, "AWS::Logs::LogGroup", "ApiAccessLogs")["RetentionInDays"] == config.log_retention_days


def test_public_routes_have_their_own_lower_throttle(dev: Template, prod: Template) -> None:
    for name, template in (("dev", dev), ("prod", prod)):
        config = environment_config(name)
        # Given the stage and the public routes
        (stage_id, stage) = only(template, "AWS::ApiGatewayV2::Stage")
        routes = {
            res["Properties"]["RouteKey"]: route_id
            for route_id, res in resources(template, "AWS::ApiGatewayV2::Route").items()
            if res["Properties"]["RouteKey"] in PUBLIC
        }
        # Then each public route is throttled on its own, below the stage's limits
        limits = {
            "ThrottlingRateLimit": config.public_throttle_rate,
            "ThrottlingBurstLimit": config.public_throttle_burst,
        }
        assert stage["Properties"]["RouteSettings"] == dict.fromkeys(PUBLIC, limits)
        assert config.public_throttle_rate < config.throttle_rate
        assert config.public_throttle_burst < config.throttle_burst
        # And the stage is created after those routes (route settings must name existing routes)
        assert set(routes.values()) <= set(stage["DependsOn"]), stage_id


def test_api_cors_matches_the_bucket(dev: Template, prod: Template) -> None:
    for name, template in (("dev", dev), ("prod", prod)):
        # Given the API's CORS configuration
        cors = props(template, "AWS::ApiGatewayV2::Api")["CorsConfiguration"]
        # Then browsers from exactly the bucket's origins may call it with a bearer token
        assert cors["AllowOrigins"] == list(session_config(name).cors_origins)
        assert "authorization" in cors["AllowHeaders"]
        assert cors["MaxAge"] > 0


def test_api_function_runtime_architecture_sizing_and_environment(dev: Template) -> None:
    # Given the API function
    fn = props(dev, "AWS::Lambda::Function", "ApiFunction")
    config = environment_config("dev")
    # Then it is the FastAPI/Mangum handler on Python 3.13 arm64, traced, with its sizing and log settings
    assert fn["Handler"] == "functions.api.handler.handler"
    assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert (fn["MemorySize"], fn["Timeout"]) == (config.api_memory_mb, config.api_timeout_seconds)
    assert fn["Timeout"] < 30, "must end before API Gateway's 30 s integration timeout"
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    assert props(dev, "AWS::Logs::LogGroup", "ApiFunctionLogs")["RetentionInDays"] == config.log_retention_days
    # And it is configured only through UPVAULT_* and Powertools variables, never a storage endpoint
    env = fn["Environment"]["Variables"]
    bucket = logical_id(dev, "AWS::S3::Bucket", "StorageUploads")
    assert ref_name(env["UPVAULT_BUCKET"]) == f"<{bucket}>"
    assert ref_name(env["UPVAULT_REGION"]) == "<AWS::Region>"
    assert not {"UPVAULT_AUTH_ISSUER", "UPVAULT_AUTH_AUDIENCE"} & set(env)
    assert env["POWERTOOLS_SERVICE_NAME"] == "upvault"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Upvault"
    assert env["POWERTOOLS_LOG_LEVEL"] == config.log_level
    # (the storage endpoint and keys are declared empty, "unset", so `sam local --env-vars` can set them)
    assert env["UPVAULT_ENDPOINT_URL"] == "" and env["UPVAULT_PUBLIC_ENDPOINT_URL"] == ""


def test_reserved_concurrency_is_configurable(dev: Template, prod: Template) -> None:
    # Given dev (nothing configured) and prod (reservations set in its cdk.json-style context block)
    # Then nothing is reserved by default: new accounts have no unreserved headroom to give away
    for function in ("ApiFunction", "ProcessingFunction"):
        assert "ReservedConcurrentExecutions" not in props(dev, "AWS::Lambda::Function", function)
    # And configured values reach each function
    assert props(prod, "AWS::Lambda::Function", "ApiFunction")["ReservedConcurrentExecutions"] == 50
    assert props(prod, "AWS::Lambda::Function", "ProcessingFunction")["ReservedConcurrentExecutions"] == 5
