"""Local JWT verification behaves like API Gateway's JWT authorizer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from local.authorizer import LocalJwtAuthorizer
from local.dev_issuer import AUDIENCE, ISSUER, DevIssuer
from local.tokens import TokenVerifier
from upvault.errors import InvalidIdentity
from upvault.settings import Settings
from upvault.storage import S3Clients


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path)


@pytest.fixture
def verifier(issuer: DevIssuer) -> TokenVerifier:
    issuer.ensure_keys()
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=issuer.jwks_url)


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hs256_with_public_key(issuer: DevIssuer, now: int) -> str:
    # The classic algorithm-confusion attack: HMAC-sign with the issuer's *public* key.
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    kid = json.loads(issuer.jwks_path.read_text())["keys"][0]["kid"]
    signing_input = f"{part({'alg': 'HS256', 'kid': kid})}.{part({'sub': 'alice', 'iss': ISSUER, 'aud': AUDIENCE, 'exp': now + 60})}"
    signature = hmac.new(issuer.jwks_path.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def test_valid_token_gives_its_claims(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    assert verifier.verify(issuer.mint("alice"))["sub"] == "alice"


def test_cognito_access_token_audience_is_client_id(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    # Given a Cognito-style access token (no aud, client_id instead)
    token = issuer.mint("alice", aud=None, client_id=AUDIENCE)
    # Then it is accepted, as the HTTP API authorizer does
    assert verifier.verify(token)["sub"] == "alice"


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "no sub",
        "alg none",
        "other key",
        "garbage",
        "HS256 with public key",
    ],
)
def test_bad_tokens_are_rejected(issuer: DevIssuer, verifier: TokenVerifier, tmp_path: Path, case: str) -> None:
    now = int(time.time())
    tokens = {
        "expired": lambda: issuer.mint("alice", exp=now - 120),
        "not yet valid": lambda: issuer.mint("alice", nbf=now + 3600),
        "wrong audience": lambda: issuer.mint("alice", aud="someone-else"),
        "wrong issuer": lambda: issuer.mint("alice", iss="https://evil.example"),
        "no sub": lambda: issuer.mint("alice", sub=None),
        "alg none": lambda: _unsigned({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}),
        "other key": lambda: DevIssuer(tmp_path / "other").mint("alice"),
        "garbage": lambda: "not.a.token",
        "HS256 with public key": lambda: _hs256_with_public_key(issuer, now),
    }
    with pytest.raises(InvalidIdentity):
        verifier.verify(tokens[case]())


def test_local_authorizer_puts_claims_where_api_gateway_does(
    issuer: DevIssuer, verifier: TokenVerifier, settings: Settings, clients: S3Clients
) -> None:
    # Given the app behind the local authorizer
    client = TestClient(LocalJwtAuthorizer(create_app(settings, clients), verifier))
    # When called without, with a bad, and with a good token
    missing = client.get("/v1/files")
    bad = client.get("/v1/files", headers={"Authorization": "Bearer " + _unsigned({"sub": "alice"})})
    good = client.get("/v1/files", headers={"Authorization": f"Bearer {issuer.mint('alice')}"})
    health = client.get("/v1/health")
    # Then 401 problems, then 200 through the one code path that reads requestContext claims
    assert (missing.status_code, bad.status_code, good.status_code, health.status_code) == (401, 401, 200, 200)
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {
        "type": "urn:upvault:problem:unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": "missing bearer token",
        "instance": "/v1/files",
    }
    assert good.json() == {"items": [], "cursor": None}
    assert good.headers["x-request-id"]
