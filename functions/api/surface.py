"""The HTTP API's outside: facts that API Gateway (``infra/``) and the local stack both apply.

Plain constants, no FastAPI and no CDK, so ``infra`` and ``local`` import the same values and
cannot drift apart (they once did: ``/v1/docs`` was public locally and not on AWS).
"""

from __future__ import annotations

API_PREFIX = "/v1"
#: Routes that need no token: health checks, the API's own description and its public limits.
PUBLIC_PATHS: tuple[str, ...] = (
    f"{API_PREFIX}/health",
    f"{API_PREFIX}/openapi.json",
    f"{API_PREFIX}/docs",
    f"{API_PREFIX}/limits",
)

#: CORS as the HTTP API answers preflights (before any authorizer runs).
CORS_METHODS: tuple[str, ...] = ("GET", "POST", "DELETE")
#: The API takes a bearer token and JSON; it reads no other request header.
CORS_HEADERS: tuple[str, ...] = ("authorization", "content-type")
CORS_MAX_AGE_SECONDS = 3600

#: Prefix of every RFC 9457 problem ``type`` this service answers with.
PROBLEM_TYPE = "urn:upvault:problem:"
