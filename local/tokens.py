"""JWT verification exactly as API Gateway's HTTP API JWT authorizer does it.

On AWS the authorizer verifies tokens and the handler only reads the claims it passes on.
Locally, :class:`TokenVerifier` performs the same checks (RS256 signature via the issuer's
JWKS, ``iss``, ``aud`` or Cognito's ``client_id``, ``exp``/``nbf``/``iat``) and the local stack
puts the claims where the authorizer would, so the handlers have a single code path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jwt

from upvault.errors import InvalidIdentity

#: Clock skew tolerated on ``exp``/``nbf``/``iat``.
LEEWAY_SECONDS = 30


class TokenVerifier:
    """Verify bearer tokens against one issuer's JWKS (fetched lazily, cached)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        # http(s): the issuer's endpoint (Cognito, the local issuer...); file: a JWKS on disk.
        self._keys: _FileKeys | jwt.PyJWKClient
        if jwks_url.startswith("file://"):
            self._keys = _FileKeys(Path(unquote(urlparse(jwks_url).path)))
        else:
            self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims or raise :class:`InvalidIdentity` (the API answers 401)."""
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise InvalidIdentity("token issuer keys are unavailable") from exc
        except jwt.PyJWTError as exc:
            raise InvalidIdentity(f"invalid token: {exc}") from exc
        if not self._audience_matches(claims):
            raise InvalidIdentity("invalid token: audience does not match")
        return claims

    def _audience_matches(self, claims: dict[str, Any]) -> bool:
        # API Gateway accepts the audience in `aud` (ID tokens) or `client_id` (Cognito access tokens).
        audience = claims.get("aud")
        if audience is not None and not isinstance(audience, str | list):
            raise InvalidIdentity("invalid token: aud must be a string or a list of strings")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        return self.audience in audiences or claims.get("client_id") == self.audience


class _FileKeys:
    """A JWKS file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._set: jwt.PyJWKSet | None = None

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        try:
            mtime = self.path.stat().st_mtime
            if self._set is None or mtime != self._mtime:
                self._set, self._mtime = jwt.PyJWKSet.from_json(self.path.read_text()), mtime
        except OSError as exc:
            raise jwt.PyJWKClientConnectionError(f"cannot read JWKS {self.path}: {exc}") from exc
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._set.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no key with kid {kid!r} in the JWKS")
