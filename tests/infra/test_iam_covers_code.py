"""The synthesized policies cover every S3 call the functions' code really makes.

moto and MinIO run with root credentials, so a missing grant never fails locally: it would
first show on AWS as AccessDenied (an upload retried into the DLQ). This test records every
S3 operation and presigned URL the core issues while real API-side and processor-side flows
run on moto, maps each to the IAM action S3 authorizes it with, and checks it against the
policy of the function that makes it. A presigned request acts as the signing role with the
session policy of the user it was signed for: each is checked against both.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
import requests
from moto import mock_aws

from tests.infra.support import Template, allowed, logical_id
from tests.support import SAMPLES, crc64nvme_b64, sha256_b64
from upvault import storage as storage_module
from upvault.files import FileService
from upvault.keys import ObjectKey
from upvault.models import Category, Checksums, PartToSign, S3Request, Status, UploadRequest
from upvault.processing import Processor
from upvault.settings import MIB, Settings
from upvault.signing import session_policy
from upvault.storage import ObjectStore, make_clients
from upvault.uploads import UploadService

BUCKET = "upvault-iam"
Call = tuple[str, str, str | None]  # (IAM action, object key or "", s3:prefix for bucket-level calls)


def _key(params: dict[str, Any]) -> str:
    return str(params.get("Key", ""))


def _versioned(params: dict[str, Any], plain: str, versioned: str) -> str:
    return versioned if params.get("VersionId") else plain


def _source(params: dict[str, Any]) -> Call:
    source = params["CopySource"]
    if isinstance(source, str):  # "bucket/key?versionId=..." once botocore has serialised it
        path, _, query = source.partition("?")
        key, version = unquote(path.split("/", 1)[1]), "versionId=" in query
    else:
        key, version = source["Key"], bool(source.get("VersionId"))
    return ("s3:GetObjectVersion" if version else "s3:GetObject", key, None)


#: S3 operation → the IAM actions S3 authorizes it with (on which key, or which listing prefix).
ACTIONS = {
    "HeadObject": lambda p: [(_versioned(p, "s3:GetObject", "s3:GetObjectVersion"), _key(p), None)],
    "GetObject": lambda p: [(_versioned(p, "s3:GetObject", "s3:GetObjectVersion"), _key(p), None)],
    "PutObject": lambda p: [("s3:PutObject", _key(p), None)],
    "CopyObject": lambda p: [("s3:PutObject", _key(p), None), _source(p)],
    "UploadPartCopy": lambda p: [("s3:PutObject", _key(p), None), _source(p)],
    "CreateMultipartUpload": lambda p: [("s3:PutObject", _key(p), None)],
    "UploadPart": lambda p: [("s3:PutObject", _key(p), None)],
    "CompleteMultipartUpload": lambda p: [("s3:PutObject", _key(p), None)],
    "AbortMultipartUpload": lambda p: [("s3:AbortMultipartUpload", _key(p), None)],
    "ListParts": lambda p: [("s3:ListMultipartUploadParts", _key(p), None)],
    "DeleteObject": lambda p: [(_versioned(p, "s3:DeleteObject", "s3:DeleteObjectVersion"), _key(p), None)],
    "ListObjectsV2": lambda p: [("s3:ListBucket", "", p.get("Prefix", ""))],
    "ListObjectVersions": lambda p: [("s3:ListBucketVersions", "", p.get("Prefix", ""))],
    "ListMultipartUploads": lambda p: [("s3:ListBucketMultipartUploads", "", p.get("Prefix", ""))],
    "HeadBucket": lambda p: [("s3:ListBucket", "", None)],
}


def _presigned_action(method: str, params: dict[str, str]) -> str:
    """The IAM action S3 authorizes a presigned request with (its operation, by method and query)."""
    if "uploadId" in params and method == "GET":
        return "s3:ListMultipartUploadParts"
    if "uploadId" in params and method == "DELETE":
        return "s3:AbortMultipartUpload"
    # PUT object, upload part, create (POST ?uploads) and complete (POST ?uploadId) a multipart upload
    return {"GET": "s3:GetObject", "PUT": "s3:PutObject", "POST": "s3:PutObject"}[method]


class Recorder:
    """Collects the IAM actions of every S3 call, attributed to the function running now."""

    def __init__(self) -> None:
        self.role = "setup"
        self.calls: dict[str, set[Call]] = {"api": set(), "processor": set(), "signing": set()}

    def on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        # Presigning sends nothing (its URLs are recorded in on_presign, when they are made).
        if self.role == "setup" or (context or {}).get("is_presign_request"):
            return
        assert model.name in ACTIONS, f"unmapped S3 operation {model.name}: add it to ACTIONS"
        self.calls[self.role].update(ACTIONS[model.name](params))

    def on_presign(self, method: str, key: str, params: dict[str, str] | None) -> None:
        if self.role != "setup":
            # A presigned request is authorized as the signing role's own request.
            self.calls["signing"].add((_presigned_action(method, params or {}), key, None))

    @contextmanager
    def acting_as(self, role: str) -> Iterator[None]:
        self.role = role
        try:
            yield
        finally:
            self.role = "setup"


def _covered(call: Call, policy: dict[tuple[str, str], Any], bucket_arn: str) -> bool:
    action, key, prefix = call
    for (granted, resource), condition in policy.items():
        if granted != action:
            continue
        if key and resource.startswith(bucket_arn + "/") and fnmatch.fnmatchcase(key, resource[len(bucket_arn) + 1 :]):
            return True
        if not key and resource == bucket_arn:
            patterns = ((condition or {}).get("StringLikeIfExists") or {}).get("s3:prefix")
            if patterns is None or prefix is None or any(fnmatch.fnmatchcase(prefix, p) for p in patterns):
                return True
    return False


@pytest.fixture(scope="module")
def recorded() -> dict[str, set[Call]]:
    """Run every API and processor flow once on moto, recording S3 calls per function."""
    recorder = Recorder()
    signer_sign = storage_module._QuerySigner.sign

    def recording_sign(self: Any, method: str, key: str, **kwargs: Any) -> Any:
        recorder.on_presign(method, key, kwargs.get("params"))
        return signer_sign(self, method, key, **kwargs)

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage_module._QuerySigner, "sign", recording_sign)
        setup = boto3.client("s3", region_name="us-east-1")
        setup.create_bucket(Bucket=BUCKET)
        setup.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        settings = Settings(
            bucket=BUCKET,
            multipart_threshold=5 * MIB,
            part_size=5 * MIB,
            signing_role_arn="arn:aws:iam::123456789012:role/upvault-signing",
        )
        clients = make_clients(settings)
        for client in (clients.api, clients.health):
            client.meta.events.register("before-parameter-build.s3", recorder.on_call)
        store = ObjectStore(settings, clients)
        uploads, files, processor = (
            UploadService(settings, store),
            FileService(store),
            Processor(store),
        )
        _flows(recorder, uploads, files, processor, store)
    return recorder.calls


def _put(url: str, data: bytes, headers: dict[str, str]) -> str:
    response = requests.put(
        url, data=data, headers={k: v for k, v in headers.items() if k != "Content-Length"}, timeout=10
    )
    assert response.status_code == 200
    return str(response.headers["ETag"])


def _flows(
    recorder: Recorder, uploads: UploadService, files: FileService, processor: Processor, store: ObjectStore
) -> None:
    pdf, png = SAMPLES["application/pdf"], SAMPLES["image/png"]
    staged = []
    for data, content_type in ((pdf, "application/pdf"), (png, "application/pdf"), (pdf, "application/pdf")):
        with recorder.acting_as("api"):
            ticket = uploads.start_upload(
                "alice",
                UploadRequest("a.pdf", content_type, len(data), Category.DOCUMENTS, Checksums(sha256=sha256_b64(data))),
            )
        assert ticket.single is not None
        _put(ticket.single.url, data, ticket.single.headers)
        staged.append(ticket.file_id)
    big = SAMPLES["audio/mpeg"] + b"\0" * (11 * MIB)
    with recorder.acting_as("api"):
        crc = Checksums(crc64nvme=crc64nvme_b64(big))
        multipart = uploads.start_upload("alice", UploadRequest("a.mp3", "audio/mpeg", len(big), Category.AUDIO, crc))
        progress = uploads.progress("alice", multipart.file_id)
        chunks = {n: big[(n - 1) * 5 * MIB : n * 5 * MIB] for n in progress.missing_parts}
        parts = [PartToSign(n, Checksums(crc64nvme=crc64nvme_b64(chunk))) for n, chunk in chunks.items()]
        signed = uploads.sign_parts("alice", multipart.file_id, parts)
    etags = [(p.part_number, _put(p.request.url, chunks[p.part_number], p.request.headers)) for p in signed.missing]
    with recorder.acting_as("api"):
        uploads.complete("alice", multipart.file_id, etags)
        aborted = uploads.start_upload("alice", UploadRequest("b.mp3", "audio/mpeg", len(big), Category.AUDIO, crc))
        uploads.abort("alice", aborted.file_id)
        deleted = uploads.start_upload("alice", UploadRequest("c.mp3", "audio/mpeg", len(big), Category.AUDIO, crc))
        files.delete("alice", deleted.file_id)  # a pending multipart file: its upload is aborted
        files.list("alice", status=Status.PENDING)
        _uppy_requests(uploads, big, crc)
    with recorder.acting_as("processor"):
        for key in sorted(o.key for o in store.list_objects("staging/")):
            processor.process(key)
            processor.process(key)  # a duplicate event
    with recorder.acting_as("api"):
        ready, rejected, _ = staged
        files.list("alice")
        files.list("alice", category=Category.DOCUMENTS, status=Status.READY)
        files.get("alice", ready)
        files.download("alice", ready)
        files.delete("alice", ready)
        files.restore("alice", ready)
        files.get("alice", rejected)
        files.delete("alice", rejected)
        store.ping()


def _uppy_requests(uploads: UploadService, data: bytes, crc: Checksums) -> None:
    """Sign every raw S3 request of a multipart upload declared with ``presign: "s3"`` (Uppy 6)."""
    declared = uploads.start_upload(
        "alice", UploadRequest("d.mp3", "audio/mpeg", len(data), Category.AUDIO, crc, presign="s3")
    )
    key = declared.key
    part = crc64nvme_b64(data[: 5 * MIB])
    for request in (
        S3Request("POST", key),
        S3Request("PUT", key, "s3-upload-id", 1, part),
        S3Request("GET", key, "s3-upload-id"),
        S3Request("POST", key, "s3-upload-id"),
        S3Request("DELETE", key, "s3-upload-id"),
    ):
        uploads.presign_s3_request("alice", request)


@pytest.mark.parametrize("function", ["api", "processor"])
def test_every_s3_call_is_granted(function: str, recorded: dict[str, set[Call]], dev: Template) -> None:
    # Given the S3 calls the function's code made in real flows, and its synthesized policy
    policy = allowed(dev, "ApiFunctionRole" if function == "api" else "ProcessingFunctionRole")
    bucket_arn = f"<{logical_id(dev, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    calls = recorded[function]
    assert len(calls) > 5, calls
    # Then every one of them is allowed by that policy
    missing = sorted(call for call in calls if not _covered(call, policy, bucket_arn))
    assert missing == [], f"{function} needs grants for: {missing}"


def test_every_presigned_request_is_granted_to_the_signing_role_and_its_session(
    recorded: dict[str, set[Call]], dev: Template
) -> None:
    # Given the presigned requests of the real flows (single PUT, parts, Uppy's raw S3 requests,
    # downloads), the signing role's synthesized policy and each user's session policy
    calls = recorded["signing"]
    actions = {action for action, _, _ in calls}
    assert actions == {"s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"}
    role = allowed(dev, "ApiSigningRole")
    bucket_arn = f"<{logical_id(dev, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    # Then the role allows every one of them
    missing = sorted(call for call in calls if not _covered(call, role, bucket_arn))
    assert missing == [], f"the signing role needs grants for: {missing}"
    # and so does the session policy of the user each was signed for (and nobody else's)
    for action, key, _ in calls:
        user = ObjectKey.parse(key).user
        assert _in_session(action, key, user), (action, key)
        assert not _in_session(action, key, "mallory"), (action, key)


def _in_session(action: str, key: str, user: str) -> bool:
    statements = json.loads(session_policy(BUCKET, user, kms=True))["Statement"]
    return any(
        action in statement["Action"] and fnmatch.fnmatchcase(f"arn:aws:s3:::{BUCKET}/{key}", resource)
        for statement in statements
        for resource in statement["Resource"]
    )
