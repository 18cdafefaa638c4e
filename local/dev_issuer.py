"""A built-in token issuer for local development.

It keeps an RSA key pair and a JWKS file in the state dir, so ``upvault dev-token`` (any
process) and the running stack agree without a network call. The stack verifies these tokens
exactly like API Gateway's JWT authorizer verifies Cognito's.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.tokens import TokenVerifier

ISSUER = "urn:upvault:dev-issuer"
AUDIENCE = "upvault-local"
DEFAULT_TTL = 12 * 3600


class DevIssuer:
    """Key pair, JWKS and token minting under ``<state_dir>/dev-issuer/``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "dev-issuer"
        self.private_key_path = self.dir / "private.pem"
        self.jwks_path = self.dir / "jwks.json"

    @property
    def jwks_url(self) -> str:
        """``file://`` URL of the JWKS (PyJWT's JWKS client reads it like an HTTPS one)."""
        return self.jwks_path.resolve().as_uri()

    def verifier(self) -> TokenVerifier:
        """The verifier the local authorizer uses for this issuer's tokens."""
        return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=self.jwks_url)

    def ensure_keys(self) -> None:
        """Create the key pair and JWKS once; later runs reuse them so old tokens stay valid."""
        if self.private_key_path.exists() and self.jwks_path.exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.private_key_path.write_bytes(pem)
        self.private_key_path.chmod(0o600)
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        public.update({"kid": uuid.uuid4().hex, "use": "sig", "alg": "RS256"})
        self.jwks_path.write_text(json.dumps({"keys": [public]}, indent=2))

    def mint(self, user: str, ttl: int = DEFAULT_TTL, **claims: object) -> str:
        """A signed RS256 token for ``user`` (its ``sub``), valid for ``ttl`` seconds."""
        self.ensure_keys()
        kid = json.loads(self.jwks_path.read_text())["keys"][0]["kid"]
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "token_use": "id",
            **claims,
        }
        return jwt.encode(payload, self.private_key_path.read_bytes(), algorithm="RS256", headers={"kid": kid})
