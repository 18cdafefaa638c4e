"""FastAPI application factory: one app, the same on Lambda and on a developer's machine."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request, Response

from functions.api import problems
from functions.api.routes import router
from upvault.files import FileService
from upvault.settings import Settings
from upvault.storage import ObjectStore, S3Clients, make_clients
from upvault.uploads import UploadService

logger = Logger(service="upvault")

DESCRIPTION = """Presigned uploads and downloads for user files (documents, audio, images).

Bytes go straight between the client and storage; this API only decides *where* and signs
*how*. Every error is an RFC 9457 `application/problem+json` body."""


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
    app.state.settings = settings
    app.state.store = store
    app.state.uploads = UploadService(settings, store)
    app.state.files = FileService(settings, store)
    problems.install(app)
    app.include_router(router)

    @app.middleware("http")
    async def correlation_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # API Gateway's request id when on Lambda, a fresh one locally: every log line carries it.
        event = request.scope.get("aws.event") or {}
        request_id = event.get("requestContext", {}).get("requestId") or str(uuid.uuid4())
        logger.set_correlation_id(request_id)
        response = await call_next(request)
        response.headers["x-request-id"] = request_id
        return response

    return app
