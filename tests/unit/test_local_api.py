"""What the local stack puts in front of the app, as API Gateway does on AWS."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from local.dev_issuer import DevIssuer
from local.devstack import StackError, build_api, local_origins, stack_processor, token_verifier
from local.ports import free_port
from local.settings import DevSettings
from local.state import load_secrets
from upvault.settings import Settings


def test_cors_preflight_needs_no_token_and_only_allows_dev_origins(tmp_path: Path) -> None:
    # Given the local API
    issuer = DevIssuer(tmp_path)
    issuer.ensure_keys()
    client = TestClient(build_api(Settings(bucket="upvault-test"), issuer.verifier()))
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
    # When the local authorizer's verifier is chosen, Then it verifies that issuer's tokens, not the dev issuer's
    verifier = token_verifier(dev, DevIssuer(tmp_path))
    assert verifier.issuer == "https://cognito-idp.eu-central-1.amazonaws.com/pool"
    assert verifier.audience == "client-id"
    assert verifier.jwks_url.endswith("/pool/.well-known/jwks.json")
    # and without them it uses the built-in dev issuer
    assert token_verifier(DevSettings(state_dir=tmp_path), DevIssuer(tmp_path)).issuer == "urn:upvault:dev-issuer"


def test_redrive_says_what_to_start_when_no_stack_is_up(tmp_path: Path) -> None:
    # Given a state dir no stack has ever run in
    # When `upvault dlq redrive` builds its processor, Then it says to start the stack
    with pytest.raises(StackError, match="start it once"):
        stack_processor(DevSettings(state_dir=tmp_path))
    # Given a stack that ran there but whose storage is down now
    load_secrets(tmp_path)
    # Then it names the storage it could not reach, before any event is touched
    with pytest.raises(StackError, match=r"storage at http://127\.0\.0\.1:\d+ is not reachable"):
        stack_processor(DevSettings(state_dir=tmp_path, minio_port=free_port()))


def local_client(tmp_path: Path, *, web_dir: Path | None = None, origins: tuple[str, ...] | None = None) -> TestClient:
    """The local API (dev issuer in ``tmp_path``), optionally serving a demo dir, allowing ``origins``."""
    issuer = DevIssuer(tmp_path)
    issuer.ensure_keys()
    return TestClient(build_api(Settings(bucket="upvault-test"), issuer.verifier(), origins, web_dir=web_dir))


def test_the_demo_is_served_at_the_api_origin_next_to_the_api(tmp_path: Path) -> None:
    # Given the local API with a built browser package beside it
    web = tmp_path / "web"
    (web / "dist").mkdir(parents=True)
    (web / "demo.html").write_text("<!doctype html><title>Upvault demo</title>")
    (web / "demo.js").write_text("// demo")
    (web / "dist" / "upvault.js").write_text("export {};")
    (web / "secret.txt").write_text("not served")
    client = local_client(tmp_path, web_dir=web)

    # When a browser opens the API's origin
    page = client.get("/")

    # Then it gets the demo page, its script and the package, and the API is still the API
    assert page.status_code == 200
    assert "Upvault demo" in page.text
    assert client.get("/demo.js").status_code == 200
    assert client.get("/dist/upvault.js").text == "export {};"
    assert client.get("/v1/limits").json()["max_parts"] == 10_000
    assert client.get("/v1/files").status_code == 401
    # And nothing else of web/ is served
    assert client.get("/secret.txt").status_code == 404
    assert client.get("/dist/../secret.txt").status_code == 404


def test_an_unbuilt_demo_says_how_to_build_it(tmp_path: Path) -> None:
    # Given web/ without dist/ (npm could not run)
    web = tmp_path / "web"
    web.mkdir()
    (web / "demo.html").write_text("<!doctype html>")
    client = local_client(tmp_path, web_dir=web)

    # When the page is opened, Then the answer says what to run
    response = client.get("/")
    assert response.status_code == 503
    assert "scripts/tools/web.sh" in response.text


def test_upvault_cors_origins_adds_origins_and_the_api_origin_is_always_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given UPVAULT_CORS_ORIGINS in the environment of `make dev`
    monkeypatch.setenv("UPVAULT_CORS_ORIGINS", "https://app.test:8443, http://10.0.0.5:3000")
    dev = DevSettings(state_dir=tmp_path)

    # When the local stack computes what it allows
    origins = local_origins(dev, 8000)

    # Then the API's own origin (the demo's), the dev environment's and the listed ones are allowed
    assert origins[:2] == ("http://127.0.0.1:8000", "http://localhost:8000")
    assert "http://localhost:5173" in origins
    assert {"https://app.test:8443", "http://10.0.0.5:3000"} <= set(origins)
    # And the API answers preflights from them
    client = local_client(tmp_path, origins=origins)
    headers = {"Access-Control-Request-Method": "POST", "Origin": "https://app.test:8443"}
    assert (
        client.options("/v1/uploads", headers=headers).headers["access-control-allow-origin"] == "https://app.test:8443"
    )


@pytest.mark.parametrize("value", ["https://app.test/path", "app.test", "https://app.test:8443/", "*"])
def test_upvault_cors_origins_refuses_what_is_not_an_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Given a value that is not an origin, When the local stack reads it, Then it fails naming the variable
    monkeypatch.setenv("UPVAULT_CORS_ORIGINS", value)
    with pytest.raises(ValueError, match="cors_origins"):
        DevSettings(state_dir=tmp_path)
