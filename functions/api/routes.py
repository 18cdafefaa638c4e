"""HTTP routes: parse the request, call the core, shape the response. No rules live here."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from functions.api import s3_xml
from functions.api.problems import documented
from functions.api.schemas import (
    UPLOAD_ID,
    CompleteRequest,
    DownloadOut,
    FileListOut,
    FileOut,
    FileSummaryOut,
    HealthOut,
    LimitsOut,
    MultipartPlanOut,
    PartsRequest,
    PartUrlOut,
    PresignedOut,
    S3RequestIn,
    S3RequestOut,
    UploadCreate,
    UploadCreated,
    UploadPartsOut,
)
from functions.observability import metrics
from upvault.errors import (
    BadPartList,
    ChecksumMismatch,
    Conflict,
    FileNotFound,
    InvalidInput,
    TooLarge,
    TypeNotAllowed,
    UploadNotFound,
)
from upvault.files import FileService
from upvault.identity import user_of
from upvault.limits import public_limits
from upvault.models import Category, Checksums, PartToSign, S3Request, Status, UploadRequest
from upvault.uploads import UploadService


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a response model once.

    Returning the model would make FastAPI validate it again against ``response_model``
    (the model *is* that type already); on the hot path that is a measurable share of latency.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


async def current_user(request: Request) -> str:
    """The caller's key segment, from the claims API Gateway's JWT authorizer verified.

    Locally the dev stack's authorizer puts the same claims in the same place.
    """
    event = request.scope.get("aws.event") or {}
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
    return user_of(claims)


async def uploads(request: Request) -> UploadService:
    """The upload service built at cold start."""
    service: UploadService = request.app.state.uploads
    return service


async def files(request: Request) -> FileService:
    """The file service built at cold start."""
    service: FileService = request.app.state.files
    return service


User = Annotated[str, Depends(current_user)]
#: The wire name of a file id while its bytes are on their way (always equal to ``file_id``).
UploadId = Annotated[str, Path(description=UPLOAD_ID)]
Uploads = Annotated[UploadService, Depends(uploads)]
Files = Annotated[FileService, Depends(files)]

# Routes that call storage are plain `def`: FastAPI runs them in its thread pool, so a slow or
# hung store never blocks other requests (health checks included) on a long-running server;
# the hop costs microseconds next to a storage round trip. Dependencies and the single-PUT
# path of POST /v1/uploads do no I/O and stay `async def`: that hot path is pure signing,
# and the thread hop would be a large share of its latency (see docs/benchmarks.md).
router = APIRouter(prefix="/v1")


@router.get("/health", response_model=HealthOut, responses=documented(public=True), tags=["health"])
def health(request: Request) -> HealthOut:
    """200 when storage answers, 503 problem when it does not (fails within about a second)."""
    request.app.state.health()
    return HealthOut()


#: Limits change only with a deployment: browsers and CDNs may keep them a few minutes.
LIMITS_CACHE_CONTROL = "public, max-age=300"


@router.get("/limits", response_model=LimitsOut, responses=documented(public=True, storage=False), tags=["uploads"])
async def limits(service: Uploads) -> Response:
    """Public: threshold, default part size, S3's part rules and each category's types,
    extensions and maximum size, so a UI can validate and cut files before uploading."""
    response = _json(LimitsOut.of(public_limits(service.settings)))
    response.headers["Cache-Control"] = LIMITS_CACHE_CONTROL
    return response


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadCreated,
    responses=documented(TooLarge, TypeNotAllowed, InvalidInput, BadPartList, body=True),
    tags=["uploads"],
)
async def create_upload(body: UploadCreate, user: User, service: Uploads) -> Response:
    """Declare a file; get a presigned PUT, or a multipart plan (above the threshold, or as
    the client chose with ``multipart`` and ``part_size``)."""
    request = UploadRequest(
        filename=body.filename,
        content_type=body.content_type,
        size=body.size,
        category=body.category,
        checksums=Checksums(md5=body.checksums.md5, sha256=body.checksums.sha256, crc64nvme=body.checksums.crc64nvme),
        metadata=body.metadata,
        multipart=body.multipart,
        part_size=body.part_size,
        presign=body.presign,
        first_parts=tuple(
            PartToSign(part.part_number, Checksums(md5=part.md5, crc64nvme=part.crc64nvme)) for part in body.parts
        ),
    )
    if service.is_multipart(body.size, body.multipart):
        # Starting a multipart upload calls storage: keep it off the event loop.
        ticket = await run_in_threadpool(service.start_upload, user, request)
    else:
        ticket = service.start_upload(user, request)
    metrics.add_metric(name="UploadsStarted", unit=MetricUnit.Count, value=1)
    plan = None
    if ticket.multipart:
        plan = MultipartPlanOut(
            part_size=ticket.multipart.part_size,
            part_count=ticket.multipart.part_count,
            parts_url=f"/v1/uploads/{ticket.file_id}/parts",
            parts=[PartUrlOut.of(part) for part in ticket.first_parts],
            create=PresignedOut.of(ticket.create) if ticket.create else None,
        )
    created = UploadCreated(
        file_id=ticket.file_id,
        upload_id=ticket.file_id,
        key=ticket.key,
        expires_at=ticket.expires_at,
        upload=PresignedOut.of(ticket.single) if ticket.single else None,
        multipart=plan,
    )
    return _json(created, status.HTTP_201_CREATED)


@router.get(
    "/uploads/{upload_id}/parts",
    response_model=UploadPartsOut,
    responses=documented(UploadNotFound, Conflict),
    tags=["uploads"],
)
def list_parts(upload_id: UploadId, user: User, service: Uploads) -> UploadPartsOut:
    """Parts already stored and the numbers of the missing ones (start or resume).

    No URL is signed here: storage needs each part's CRC64NVME bound to its URL, so the
    client signs the missing parts with ``POST .../parts`` and their checksums.
    """
    return UploadPartsOut.of(service.progress(user, upload_id))


@router.post(
    "/uploads/{upload_id}/parts",
    response_model=UploadPartsOut,
    responses=documented(UploadNotFound, Conflict, BadPartList, body=True),
    tags=["uploads"],
)
def sign_parts(upload_id: UploadId, body: PartsRequest, user: User, service: Uploads) -> UploadPartsOut:
    """Sign URLs for the given parts, binding each part's CRC64NVME and MD5 when given.

    No storage listing (``parts`` is empty): a fresh upload costs no storage call, one whose
    ``key`` is passed back costs one HEAD.
    """
    parts = [PartToSign(part.part_number, Checksums(md5=part.md5, crc64nvme=part.crc64nvme)) for part in body.parts]
    return UploadPartsOut.of(service.sign_parts(user, upload_id, parts, key=body.key))


@router.post(
    "/uploads/s3-requests",
    response_model=S3RequestOut,
    responses=documented(UploadNotFound, Conflict, BadPartList, body=True),
    tags=["uploads"],
)
def presign_s3_request(body: S3RequestIn, user: User, service: Uploads) -> S3RequestOut:
    """Presign one raw S3 request (create, upload part, list parts, complete, abort) of the
    caller's own multipart upload declared with ``presign: "s3"`` (Uppy 6's ``signRequest``)."""
    request = S3Request(body.method, body.key, body.storage_upload_id, body.part_number, body.crc64nvme)
    signed = service.presign_s3_request(user, request)
    return S3RequestOut(method=signed.method, url=signed.url, key=body.key, headers=dict(signed.headers))


@router.post(
    "/uploads/{upload_id}/complete",
    response_model=FileOut,
    responses=documented(UploadNotFound, Conflict, BadPartList, ChecksumMismatch, body=True),
    tags=["uploads"],
)
def complete_upload(
    upload_id: UploadId, body: CompleteRequest, user: User, service: Uploads, file_service: Files
) -> FileOut:
    """Assemble the uploaded parts, with the whole file's CRC64NVME; the file is then pending validation."""
    service.complete(user, upload_id, [(part.part_number, part.etag) for part in body.parts], crc64nvme=body.crc64nvme)
    return FileOut.of(file_service.get(user, upload_id))


@router.post(
    "/uploads/{upload_id}/s3-complete",
    responses={
        200: {"content": {"application/xml": {}}, "description": "S3's CompleteMultipartUploadResult"},
        **documented(UploadNotFound, Conflict, BadPartList, ChecksumMismatch, query=True),
    },
    tags=["uploads"],
)
async def complete_upload_s3(
    upload_id: str,
    request: Request,
    user: User,
    service: Uploads,
    crc64nvme: Annotated[
        str | None, Query(max_length=64, description="base64 CRC-64/NVME of the whole file (as for /complete)")
    ] = None,
) -> Response:
    """Complete with S3's CompleteMultipartUpload XML body (what Uppy 6 sends), answering in
    S3's format: the API adds each part's checksum storage needs, as for ``/complete``; the
    whole file's CRC64NVME comes in the query (Uppy sends the URL the adapter gives it)."""
    parts = s3_xml.parse_complete(await request.body())
    key = await run_in_threadpool(lambda: service.complete(user, upload_id, parts, crc64nvme=crc64nvme))
    body = s3_xml.render_result(location=f"/v1/files/{upload_id}", bucket=service.settings.bucket, key=key)
    return Response(body, media_type="application/xml")


@router.delete(
    "/uploads/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(UploadNotFound, Conflict),
    tags=["uploads"],
)
def abort_upload(upload_id: UploadId, user: User, service: Uploads) -> Response:
    """Abort a running multipart upload."""
    service.abort(user, upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/files", response_model=FileListOut, responses=documented(InvalidInput, query=True), tags=["files"])
def list_files(
    user: User,
    service: Files,
    category: Category | None = None,
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FileListOut:
    """The caller's files (pending, ready and rejected unless filtered), newest first, one page at a time.

    One storage LIST per status and 1,000 files, never a request per file: items carry what a
    LIST tells; details (original name, type, checksum, rejection reason) are per file. Pass
    ``cursor`` back for the files uploaded before the page's last one.
    """
    page = service.list(user, category=category, status=status_filter, cursor=cursor, limit=limit)
    return FileListOut(items=[FileSummaryOut.of(item) for item in page.items], cursor=page.cursor)


@router.get("/files/{file_id}", response_model=FileOut, responses=documented(FileNotFound), tags=["files"])
def get_file(file_id: str, user: User, service: Files) -> FileOut:
    """One file's details and status (pending, ready, or rejected with the reason)."""
    return FileOut.of(service.get(user, file_id))


@router.get(
    "/files/{file_id}/download",
    response_model=DownloadOut,
    responses=documented(FileNotFound, Conflict),
    tags=["files"],
)
def download_file(file_id: str, user: User, service: Files) -> DownloadOut:
    """A short-lived URL that downloads the file under its original name."""
    presigned = service.download(user, file_id)
    return DownloadOut(url=presigned.url, expires_at=presigned.expires_at)


@router.delete(
    "/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(FileNotFound), tags=["files"]
)
def delete_file(file_id: str, user: User, service: Files) -> Response:
    """Delete a file; previous versions stay recoverable with ``restore``."""
    service.delete(user, file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/files/{file_id}/restore", response_model=FileOut, responses=documented(FileNotFound, Conflict), tags=["files"]
)
def restore_file(file_id: str, user: User, service: Files) -> FileOut:
    """Bring back the last deleted version of a file."""
    return FileOut.of(service.restore(user, file_id))
