"""Lambda entry point of the API: ``functions.api.handler.handler``.

Settings are validated once per cold start; clients are created without any network call.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer
from mangum import Mangum

from functions.api.app import create_app, logger
from functions.api.routes import metrics
from upvault.settings import load_settings

tracer = Tracer(service="upvault")
#: Bodies API Gateway passes as text; problem+json must be among them, not base64.
TEXT_MIME_TYPES = ["application/json", "application/problem+json", "text/"]
settings = load_settings()
app = create_app(settings)

handler = tracer.capture_lambda_handler(
    metrics.log_metrics(logger.inject_lambda_context(Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES), clear_state=True))
)
