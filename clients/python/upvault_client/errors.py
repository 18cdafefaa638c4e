"""Typed errors. API errors carry the RFC 9457 problem the API answered with."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar

import httpx
from pydantic import ValidationError

from upvault_client.models import FileInfo, Problem

if TYPE_CHECKING:
    from collections.abc import Mapping


class UpvaultError(Exception):
    """Base class of every error the client raises."""


class ApiUnreachable(UpvaultError):
    """The API could not be reached (server down, DNS, refused or timed-out connection)."""


class ApiError(UpvaultError):
    """The API answered with an error status; :attr:`problem` is its RFC 9457 body."""

    #: The status this class stands for (``0`` for the catch-all).
    status_code: ClassVar[int] = 0

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(_describe(problem))

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.problem.status

    @staticmethod
    def from_response(response: httpx.Response) -> ApiError:
        """The most specific error for an error response (problem+json or not)."""
        problem = _problem_of(response)
        cls = _BY_STATUS.get(response.status_code)
        if cls is None:
            cls = ServerError if response.status_code >= 500 else ApiError
        return cls(problem)


class BadRequest(ApiError):
    """400: malformed request or a part list that does not match what storage holds."""

    status_code = 400


class AuthenticationFailed(ApiError):
    """401: no token, or one the API does not accept (expired, wrong issuer or audience)."""

    status_code = 401


class Forbidden(ApiError):
    """403."""

    status_code = 403


class NotFound(ApiError):
    """404: no such file or upload for this user (another user's id looks the same)."""

    status_code = 404


class Conflict(ApiError):
    """409: the file or upload is not in a state that allows this (e.g. not ready yet)."""

    status_code = 409


class TooLarge(ApiError):
    """413: over the category's size limit (``problem.extras["max_size"]``)."""

    status_code = 413


class TypeNotAllowed(ApiError):
    """415: content type not allowed for the category (``problem.extras["allowed_types"]``)."""

    status_code = 415


class InvalidInput(ApiError):
    """422: invalid fields; ``problem.errors`` lists each field and what is wrong with it."""

    status_code = 422

    def fields(self) -> list[str]:
        """The names of the offending fields."""
        return [error.get("field", "") for error in self.problem.errors or []]


class RateLimited(ApiError):
    """429: throttled."""

    status_code = 429


class ServerError(ApiError):
    """5xx other than 503."""


class ServiceUnavailable(ServerError):
    """503: storage behind the API is unreachable."""

    status_code = 503


_BY_STATUS: Mapping[int, type[ApiError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        AuthenticationFailed,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        TypeNotAllowed,
        InvalidInput,
        RateLimited,
        ServiceUnavailable,
    )
}


class StorageError(UpvaultError):
    """A presigned request to storage failed (after retries where retrying made sense).

    ``url`` has no query string: the signature in it is a short-lived credential.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        url: str = "",
        transient: bool = True,
        expired: bool = False,
    ) -> None:
        self.status = status
        #: S3's error code (``XAmzContentChecksumMismatch``, ``BadDigest``, ``AccessDenied``, ...).
        self.code = code
        self.url = url
        #: Worth another attempt (connection failures, 5xx, throttling).
        self.transient = transient
        #: The presigned URL expired (a fresh one will do).
        self.expired = expired
        super().__init__(message)


class FileRejected(UpvaultError):
    """Validation refused the uploaded file; :attr:`reason` says why."""

    def __init__(self, file: FileInfo) -> None:
        self.file = file
        self.reason = file.reason or "rejected"
        super().__init__(f"{file.name} ({file.file_id}) was rejected: {self.reason}")


class ProcessingTimeout(UpvaultError):
    """The file was still pending when the wait ran out."""

    def __init__(self, file: FileInfo, timeout: float) -> None:
        self.file = file
        super().__init__(f"{file.file_id} still {file.status} after {timeout:g} s")


class Cancelled(UpvaultError):
    """The transfer was cancelled (``Client.cancel()``, Ctrl-C, or a sibling part failed for good).

    A multipart upload of a file on disk stays resumable: upload the same file again.
    """


class IntegrityError(UpvaultError):
    """Downloaded bytes differ from what storage verified at upload (size or checksum)."""


def _problem_of(response: httpx.Response) -> Problem:
    """The problem body, or one made from the status when the body is not a problem.

    On AWS, API Gateway's JWT authorizer answers 401 with ``{"message": "Unauthorized"}``.
    """
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        try:
            return Problem.model_validate({"status": response.status_code, **body})
        except ValidationError:
            pass
        detail = str(body.get("message", ""))
    else:
        detail = response.text[:200]
    return Problem(status=response.status_code, title=response.reason_phrase, detail=detail)


def _describe(problem: Problem) -> str:
    text = f"{problem.status} {problem.title}".strip()
    if problem.detail:
        text += f": {problem.detail}"
    for error in problem.errors or []:
        text += f"; {error.get('field', '?')}: {error.get('message', '')}"
    return text
