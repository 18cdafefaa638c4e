"""Lambda entry point of the API: ``functions.api.handler.handler``.

Importing this module reads no configuration: :func:`cold_start` reads and validates the
settings and builds the app on the first invocation, once per execution environment, and
creates clients without any network call. Tests and the local stack call the factories
(:func:`functions.api.app.create_app`, :func:`make_handler`) with their own settings instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
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


@cache
def cold_start() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The deployed API: settings from the environment, validated once, wrapped as a handler."""
    return make_handler(create_app(load_settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one API Gateway event (the app is built on the first call and reused)."""
    return cold_start()(event, context)
