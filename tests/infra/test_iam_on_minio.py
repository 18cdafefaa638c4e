"""The synthesized S3 permissions of each function, enforced by a real policy engine (MinIO).

moto ignores IAM and MinIO's root user may do anything, so here each function's S3 statements,
exactly as synthesized, become the session policy of temporary MinIO credentials (STS
AssumeRole). Where MinIO and S3 differ, the test says so: for a HEAD of a missing key MinIO
checks s3:GetObject only, S3 checks s3:ListBucket with the key as s3:prefix (shown on the
policy in test_iam.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.minio import MinioServer
from tests.infra.support import Template, allowed, logical_id
from tests.live_minio import REGION, make_s3_client, new_minio

BUCKET = "upvault-iam-minio"


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A MinIO server with one bucket holding an object in each area and one outside them."""
    server = new_minio(tmp_path_factory.mktemp("minio-iam"), user="iam")
    with server:
        root = make_s3_client(server)
        root.create_bucket(Bucket=BUCKET)
        for key in ("staging/u1/documents/a/x.pdf", "files/u1/documents/b/y.pdf", "other/z"):
            root.put_object(Bucket=BUCKET, Key=key, Body=b"%PDF-1.7")
        yield server


def _s3_policy(template: Template, role: str) -> dict[str, Any]:
    """The role's synthesized S3 statements, with the bucket's ARN filled in for MinIO's bucket."""
    uploads = f"<{logical_id(template, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    statements = [
        {"Effect": "Allow", "Action": [action], "Resource": [resource.replace(uploads, f"arn:aws:s3:::{BUCKET}")]}
        | ({"Condition": condition} if condition else {})
        for (action, resource), condition in allowed(template, role).items()
        if action.startswith("s3:")
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _as_role(server: MinioServer, policy: dict[str, Any]) -> Any:
    """An S3 client whose credentials carry exactly ``policy`` (MinIO STS with a session policy)."""
    sts = boto3.client(
        "sts",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=server.root_user,
        aws_secret_access_key=server.root_password,
    )
    credentials = sts.assume_role(
        RoleArn="arn:minio:iam:::role/upvault-test", RoleSessionName="upvault-test", Policy=json.dumps(policy)
    )["Credentials"]
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _status(call: Any) -> int:
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


@pytest.mark.parametrize("role", ["ApiFunctionRole", "ProcessingFunctionRole"])
def test_a_function_lists_only_its_areas_and_a_missing_key_answers_404(
    dev: Template, minio: MinioServer, role: str
) -> None:
    # Given the function's S3 permissions exactly as synthesized, enforced by MinIO
    s3 = _as_role(minio, _s3_policy(dev, role))
    # When it lists the whole bucket, or outside its areas
    # Then it is refused: no prefix means no s3:prefix, which the StringLike condition requires
    assert _status(lambda: s3.list_objects_v2(Bucket=BUCKET)) == 403
    assert _status(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="other/")) == 403
    assert _status(lambda: s3.list_object_versions(Bucket=BUCKET)) == 403
    # And it lists (and lists versions) under the areas it serves
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/u1/")
    assert [o["Key"] for o in listed["Contents"]] == ["staging/u1/documents/a/x.pdf"]
    assert _status(lambda: s3.list_object_versions(Bucket=BUCKET, Prefix="files/u1/documents/b/")) == 200
    # And a HEAD of a missing key in an area answers 404 (not 403), so "gone" is told from "denied"
    assert _status(lambda: s3.head_object(Bucket=BUCKET, Key="staging/u1/documents/c/missing.pdf")) == 404
    assert _status(lambda: s3.head_object(Bucket=BUCKET, Key="staging/u1/documents/a/x.pdf")) == 200
    # And nothing outside the areas can be read at all
    assert _status(lambda: s3.head_object(Bucket=BUCKET, Key="other/z")) == 403
