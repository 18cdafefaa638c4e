"""What the local stack puts in front of the app, as API Gateway does on AWS."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from local.dev_issuer import DevIssuer
from local.devstack import Storage, build_api, service_environment
from local.settings import DevSettings
from upvault.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    issuer = DevIssuer(tmp_path)
    issuer.ensure_keys()
    return Settings(
        bucket="upvault-test",
        auth_issuer="urn:upvault:dev-issuer",
        auth_audience="upvault-local",
        auth_jwks_url=issuer.jwks_url,
    )


def test_cors_preflight_needs_no_token_and_only_allows_dev_origins(tmp_path: Path) -> None:
    # Given the local API
    client = TestClient(build_api(_settings(tmp_path)))
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    # When a page on a dev origin and one elsewhere send preflights (no token, as browsers do)
    allowed = client.options("/v1/uploads", headers={**headers, "Origin": "http://localhost:5173"})
    foreign = client.options("/v1/uploads", headers={**headers, "Origin": "https://evil.example"})
    # Then the dev origin is allowed the API's methods and headers, the other one is not
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    # and an actual cross-origin call still needs its token
    assert client.get("/v1/files", headers={"Origin": "http://localhost:5173"}).status_code == 401


def test_local_stack_can_use_a_real_issuer(tmp_path: Path) -> None:
    # Given the deployed Cognito pool's settings in the environment of `make dev`
    dev = DevSettings(
        state_dir=tmp_path,
        auth_issuer="https://cognito-idp.eu-central-1.amazonaws.com/pool",
        auth_audience="client-id",
        auth_jwks_url="https://cognito-idp.eu-central-1.amazonaws.com/pool/.well-known/jwks.json",
    )
    storage = Storage("moto", "http://127.0.0.1:1", "k", "s")
    # When the handlers' environment is built, Then it verifies that issuer's tokens, not the dev issuer's
    env = service_environment(dev, storage, DevIssuer(tmp_path))
    assert env["UPVAULT_AUTH_ISSUER"] == "https://cognito-idp.eu-central-1.amazonaws.com/pool"
    assert env["UPVAULT_AUTH_AUDIENCE"] == "client-id"
    assert env["UPVAULT_AUTH_JWKS_URL"].endswith("/pool/.well-known/jwks.json")
    # and without them it uses the built-in dev issuer
    assert (
        service_environment(DevSettings(state_dir=tmp_path), storage, DevIssuer(tmp_path))["UPVAULT_AUTH_ISSUER"]
        == "urn:upvault:dev-issuer"
    )
