"""FastAPI application factory: one app, the same on Lambda and on a developer's machine."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api import problems
from functions.api.health import CachedHealth
from functions.api.routes import router
from functions.observability import logger
from upvault.files import FileService
from upvault.settings import Settings
from upvault.storage import ObjectStore, S3Clients, make_clients
from upvault.uploads import UploadService

DESCRIPTION = """Presigned uploads and downloads for user files (documents, audio, images).

Bytes go straight between the client and storage; this API only decides *where* and signs
*how*. Every error is an RFC 9457 `application/problem+json` body."""


class CorrelationId:
    """Tag every log line and response with the request id (API Gateway's on Lambda).

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` adds a task and a memory
    stream per request, a large share of this API's warm latency.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        event = scope.get("aws.event") or {}
        request_id = event.get("requestContext", {}).get("requestId") or str(uuid.uuid4())
        logger.set_correlation_id(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings, clients: S3Clients | None = None) -> FastAPI:
    """Build the API for one deployment. No network call happens here."""
    app = FastAPI(
        title="Upvault",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    store = ObjectStore(settings, clients or make_clients(settings))
    app.state.store = store
    app.state.health = CachedHealth(store.ping)
    app.state.uploads = UploadService(settings, store)
    app.state.files = FileService(store)
    problems.install(app)
    app.include_router(router)
    app.add_middleware(CorrelationId)

    return app
