"""The one place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from functions.api import surface
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
    (errors.StorageUnavailable, 503, "Storage unavailable"),
]


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
            return problem(400, "Malformed request", "request body is not valid JSON", "malformed-json", request)
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
    """Register the handlers on an app."""
    app.add_exception_handler(errors.UpvaultError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
