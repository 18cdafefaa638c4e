"""Lambda entry point of the API: ``functions.api.handler.handler``.

Settings are validated once per cold start; clients are created without any network call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from functions.api.app import create_app
from functions.observability import logger, metrics, tracer
from upvault.settings import load_settings

#: Bodies API Gateway passes as text; problem+json must be among them, not base64.
TEXT_MIME_TYPES = ["application/json", "application/problem+json", "text/"]


def make_handler(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap an app as a Lambda handler with Powertools logging, metrics and tracing."""
    adapter = Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES)
    wrapped: Callable[[dict[str, Any], Any], dict[str, Any]] = tracer.capture_lambda_handler(
        metrics.log_metrics(logger.inject_lambda_context(adapter, clear_state=True))
    )
    return wrapped


settings = load_settings()
app = create_app(settings)
handler = make_handler(app)
