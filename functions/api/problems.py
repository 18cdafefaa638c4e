"""The one place that turns errors into RFC 9457 ``application/problem+json`` responses.

:data:`STATUS` is the one table of domain error → status; the routes' documented problem
responses are generated from it by :func:`documented`, so the OpenAPI cannot drift from what
the handlers below answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from functions.api import surface
from functions.api.schemas import Problem
from functions.observability import logger
from upvault import errors

PROBLEM_TYPE = surface.PROBLEM_TYPE
MEDIA_TYPE = "application/problem+json"

#: Status and title of each domain error (most specific class first).
STATUS: list[tuple[type[errors.UpvaultError], int, str]] = [
    (errors.InvalidIdentity, 401, "Unauthorized"),
    (errors.FileNotFound, 404, "Not found"),
    (errors.Conflict, 409, "Conflict"),
    (errors.TooLarge, 413, "Content too large"),
    (errors.TypeNotAllowed, 415, "Unsupported media type"),
    (errors.InvalidInput, 422, "Validation failed"),
    (errors.BadPartList, 400, "Bad part list"),
    (errors.ChecksumMismatch, 400, "Checksum mismatch"),
    (errors.StorageUnavailable, 503, "Storage unavailable"),
]

#: Malformed JSON in a request body (the body never reached a model).
MALFORMED_JSON = 400


def status_of(error: type[errors.UpvaultError]) -> int:
    """The HTTP status :data:`STATUS` gives a domain error class."""
    for cls, status, _ in STATUS:
        if issubclass(error, cls):
            return status
    raise LookupError(f"{error.__name__} has no status in problems.STATUS")


def documented(
    *raised: type[errors.UpvaultError],
    public: bool = False,
    storage: bool = True,
    body: bool = False,
    query: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """The problem responses a route documents, from the errors it can answer with.

    Args:
        raised: Domain errors the route's use case raises for client input or state.
        public: The route needs no token (otherwise 401).
        storage: The route calls storage (503 when storage is unreachable).
        body: The route takes a JSON body (400 when malformed, 422 when invalid).
        query: The route takes query parameters (422 when invalid).
    """
    statuses = {status_of(error) for error in raised}
    if not public:
        statuses.add(status_of(errors.InvalidIdentity))
    if storage:
        statuses.add(status_of(errors.StorageUnavailable))
    if body:
        statuses |= {MALFORMED_JSON, status_of(errors.InvalidInput)}
    if query:
        statuses.add(status_of(errors.InvalidInput))
    return {
        status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": _title(status)}
        for status in sorted(statuses)
    }


def _title(status: int) -> str:
    titles = [title for _, code, title in STATUS if code == status]
    if status == MALFORMED_JSON:
        titles.insert(0, "Malformed request")
    return " or ".join(titles)


def problem(
    status: int, title: str, detail: str, code: str, request: Request | None = None, **extra: Any
) -> JSONResponse:
    """Build a problem response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({key: value for key, value in extra.items() if value is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.UpvaultError)
    for cls, status, title in STATUS:
        if isinstance(exc, cls):
            extra = dict(exc.extra)
            if isinstance(exc, errors.InvalidInput):
                extra["errors"] = exc.errors
            return problem(status, title, exc.detail, exc.code, request, **extra)
    raise exc  # an UpvaultError without a mapping is a bug: let the 500 handler log it


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    field_errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        field_errors.append({"field": ".".join(location) or "body", "message": str(error.get("msg"))})
        if error.get("type") == "json_invalid":
            return problem(
                MALFORMED_JSON, "Malformed request", "request body is not valid JSON", "malformed-json", request
            )
    return problem(
        422, "Validation failed", "request has invalid fields", "validation-error", request, errors=field_errors
    )


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "Error"),
        str(exc.detail),
        "not-found" if exc.status_code == 404 else "http-error",
        request,
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not client input: log it with its traceback, never send the traceback.
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "Internal error", "an unexpected error occurred", "internal-error", request)


def install(app: FastAPI) -> None:
    """Register the handlers on an app, and make its OpenAPI describe problems as they are sent."""
    app.add_exception_handler(errors.UpvaultError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _as_sent(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _as_sent(schema: dict[str, Any]) -> dict[str, Any]:
    """Problems are ``application/problem+json`` bodies of :class:`Problem`, and nothing else.

    FastAPI documents every additional response as ``application/json`` too, and adds its own
    422 (``HTTPValidationError``) to every route with a parameter, even one that cannot fail
    validation (a path segment that is any string); neither is what this API sends.
    """
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
        responses = operation.get("responses", {})
        for status, response in list(responses.items()):
            if not status.isdigit() or int(status) < 400:
                continue
            if MEDIA_TYPE not in response.get("content", {}):
                del responses[status]  # FastAPI's default 422, not one the route documents
                continue
            response["content"] = {MEDIA_TYPE: problem}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
