"""Python client for Upvault: upload, list, download, delete and restore files through its API.

Bytes go straight to storage with the presigned URLs the API hands out, with checksums storage
verifies; large files go in parallel parts and resume after an interruption::

    from upvault_client import Client

    with Client("https://files.example.com", token=token) as upvault:
        info = upvault.upload("statement.pdf", metadata={"user": "42"})  # waits until validated
        for file in upvault.list(category="documents"):
            print(file.file_id, file.status, file.name)
        upvault.download(info.file_id, "copy.pdf")

It needs neither FastAPI nor boto3: httpx for HTTP, awscrt for CRC64NVME, pydantic for models.
"""

from upvault_client._version import __version__
from upvault_client.client import AsyncClient, Client
from upvault_client.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationFailed,
    BadRequest,
    Cancelled,
    Conflict,
    FileRejected,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    ProcessingTimeout,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    StorageError,
    TooLarge,
    TypeNotAllowed,
    UpvaultError,
)
from upvault_client.models import DownloadLink, FileInfo, FileSummary, Problem, Progress

__all__ = [
    "ApiError",
    "ApiUnreachable",
    "AsyncClient",
    "AuthenticationFailed",
    "BadRequest",
    "Cancelled",
    "Client",
    "Conflict",
    "DownloadLink",
    "FileInfo",
    "FileRejected",
    "FileSummary",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "Problem",
    "ProcessingTimeout",
    "Progress",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "StorageError",
    "TooLarge",
    "TypeNotAllowed",
    "UpvaultError",
    "__version__",
]
