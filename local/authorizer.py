"""ASGI middleware doing locally what API Gateway's JWT authorizer does on AWS.

It verifies the bearer token of every protected route and puts the claims where Mangum
exposes API Gateway's (``scope["aws.event"]["requestContext"]["authorizer"]["jwt"]``), so the
app reads identity through one code path everywhere. Rejections are the app's own problem+json
401s (:func:`functions.api.problems.problem`), so both answer alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from functions.api import surface
from functions.api.problems import problem
from local.tokens import TokenVerifier
from upvault.errors import InvalidIdentity

#: Routes deployed without the authorizer (see the API construct in infra/).
PUBLIC_PATHS = frozenset(surface.PUBLIC_PATHS)


class LocalJwtAuthorizer:
    """Verify ``Authorization: Bearer`` like the HTTP API JWT authorizer."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_context: dict[str, Any] = {"requestId": str(uuid.uuid4())}
        if scope["path"] not in PUBLIC_PATHS:
            try:
                claims = self.verifier.verify(_bearer(scope))
            except InvalidIdentity as exc:
                await problem(401, "Unauthorized", exc.detail, exc.code, Request(scope))(scope, receive, send)
                return
            request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        scope["aws.event"] = {"requestContext": request_context}
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
    raise InvalidIdentity("missing bearer token")
