"""Least privilege: the exact actions and resources of every policy our functions get."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from tests.infra.support import Template, allowed, env_of, logical_id, only, props, ref_name, resources, statements

AREA_CONDITION = {"StringLike": {"s3:prefix": ["staging/*", "files/*", "quarantine/*"]}}
XRAY = {("xray:PutTelemetryRecords", "*"), ("xray:PutTraceSegments", "*")}


def _expected(
    template: Template, function: str, objects: dict[str, set[str]], bucket: set[str], listing: set[str], kms: set[str]
) -> dict[tuple[str, str], Any]:
    uploads = f"<{logical_id(template, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    key = f"<{logical_id(template, 'AWS::KMS::Key', 'StorageKey')}.Arn>"
    logs = f"<{logical_id(template, 'AWS::Logs::LogGroup', f'{function}FunctionLogs')}.Arn>"
    expected: dict[tuple[str, str], Any] = {pair: None for pair in XRAY}
    expected |= {(action, f"{uploads}/{prefix}*"): None for prefix, actions in objects.items() for action in actions}
    expected |= {(action, uploads): None for action in bucket}
    expected |= {(action, uploads): AREA_CONDITION for action in listing}
    expected |= {(action, key): None for action in kms}
    expected |= {("logs:CreateLogStream", logs): None, ("logs:PutLogEvents", logs): None}
    return expected


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_api_role_has_exactly_the_actions_it_uses(name: str, request: pytest.FixtureRequest) -> None:
    # Given the API function's policy in a stack
    template: Template = request.getfixturevalue(name)
    actual = allowed(template, "ApiFunctionRole")
    # Then it may presign uploads and multipart steps in staging/, read and delete (a marker) in
    # every area, restore in files/, list the three areas and use the bucket key: nothing else
    expected = _expected(
        template,
        "Api",
        objects={
            "staging/": {
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            },
            "files/": {
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            },
            "quarantine/": {"s3:GetObject", "s3:DeleteObject"},
        },
        bucket={"s3:ListBucketMultipartUploads"},
        listing={"s3:ListBucket", "s3:ListBucketVersions"},
        kms={"kms:Decrypt", "kms:GenerateDataKey"},
    )
    # and assume the signing role (presigned URLs are signed per user as that role)
    expected[("sts:AssumeRole", f"<{logical_id(template, 'AWS::IAM::Role', 'ApiSigningRole')}.Arn>")] = None
    assert actual == expected


@pytest.mark.parametrize("role", ["ApiFunctionRole", "ProcessingFunctionRole"])
def test_listing_is_scoped_to_our_areas_and_a_missing_key_still_answers_404(dev: Template, role: str) -> None:
    # Given the role's grant of s3:ListBucket on the uploads bucket
    uploads = f"<{logical_id(dev, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    ((operator, keys),) = allowed(dev, role)[("s3:ListBucket", uploads)].items()
    patterns = keys["s3:prefix"]
    # Then a request without a prefix (the whole bucket) is denied: plain StringLike, no ...IfExists,
    # only holds when the request carries s3:prefix
    assert operator == "StringLike"
    # And a listing under one of our areas is allowed, under anything else it is not
    assert any(fnmatch.fnmatchcase("files/u1/documents/", p) for p in patterns)
    assert not any(fnmatch.fnmatchcase(prefix, p) for p in patterns for prefix in ("", "other/", "filesx/"))
    # And a HEAD of a missing key still answers 404: S3 authorizes it through s3:ListBucket with
    # the object's key as s3:prefix, which these patterns match in every area
    for key in (
        "staging/u1/documents/01M889VFNKRG0TFTBWVX4HJ68D/a.pdf",
        "files/u1/images/x/y.png",
        "quarantine/u/d/i/n",
    ):
        assert any(fnmatch.fnmatchcase(key, p) for p in patterns), key


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_processor_role_has_exactly_the_actions_it_uses(name: str, request: pytest.FixtureRequest) -> None:
    # Given the processor function's policy
    template: Template = request.getfixturevalue(name)
    actual = allowed(template, "ProcessingFunctionRole")
    queue = f"<{logical_id(template, 'AWS::SQS::Queue', 'ProcessingUploads')}.Arn>"
    queue_key = f"<{logical_id(template, 'AWS::KMS::Key', 'ProcessingQueueKey')}.Arn>"
    # Then it reads and purges staged versions, writes files/ and quarantine/, may list the areas
    # and their versions (HEAD of a missing key answers 404) and consumes its queue: nothing else
    expected = _expected(
        template,
        "Processing",
        objects={
            "staging/": {"s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"},
            "files/": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
            "quarantine/": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
        },
        bucket=set(),
        listing={"s3:ListBucket", "s3:ListBucketVersions"},
        kms={"kms:Decrypt", "kms:GenerateDataKey"},
    )
    expected |= {
        (action, queue): None
        for action in (
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        )
    }
    expected |= {("kms:Decrypt", queue_key): None}
    assert actual == expected


def test_no_wildcard_actions_and_no_star_resource_except_xray(dev: Template, staging: Template, prod: Template) -> None:
    for template in (dev, staging, prod):
        for role in ("ApiFunctionRole", "ProcessingFunctionRole", "ApiSigningRole"):
            # Given every allowed (action, resource) pair of our functions
            for action, resource in allowed(template, role):
                # Then no action has a wildcard and only X-Ray (which supports no resource ARNs) gets '*'
                assert "*" not in action, (role, action)
                assert resource != "*" or action.startswith("xray:"), (role, action)


def test_functions_use_our_roles_without_managed_policies(dev: Template) -> None:
    # Given the roles of our two functions
    for name, role in resources(dev, "AWS::IAM::Role").items():
        if name.startswith(("ApiFunctionRole", "ProcessingFunctionRole")):
            # Then they can only be assumed by Lambda and carry no AWS-managed policy
            trust = list(statements(role["Properties"]["AssumeRolePolicyDocument"]))
            assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]
            assert "ManagedPolicyArns" not in role["Properties"]
    assert props(dev, "AWS::Lambda::Function", "ApiFunction")["Role"]["Fn::GetAtt"][0].startswith("ApiFunctionRole")


def test_every_policy_in_the_service_stack_is_accounted_for(dev: Template) -> None:
    # Given every IAM policy of the dev stack
    policies = set(resources(dev, "AWS::IAM::Policy"))
    # Then there are exactly four: our two functions', the signing role's and CDK's
    # bucket-notification helper's
    assert len(policies) == 4
    assert (
        sum(name.startswith(("ApiFunctionRole", "ProcessingFunctionRole", "ApiSigningRole")) for name in policies) == 3
    )
    # And the helper may only read and write the notification configuration of our bucket
    uploads = f"<{logical_id(dev, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    assert allowed(dev, "NotificationsHandler") == {
        ("s3:GetBucketNotification", uploads): None,
        ("s3:PutBucketNotification", uploads): None,
    }
    # And no role in the stack carries an AWS-managed policy except that CDK helper's
    managed = [
        name for name, role in resources(dev, "AWS::IAM::Role").items() if role["Properties"].get("ManagedPolicyArns")
    ]
    assert [name.startswith("BucketNotificationsHandler") for name in managed] == [True]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_signing_role_may_do_exactly_what_presigned_requests_do(name: str, request: pytest.FixtureRequest) -> None:
    # Given the policy of the role presigned URLs are signed as
    template: Template = request.getfixturevalue(name)
    uploads = f"<{logical_id(template, 'AWS::S3::Bucket', 'StorageUploads')}.Arn>"
    key = f"<{logical_id(template, 'AWS::KMS::Key', 'StorageKey')}.Arn>"
    # Then it may upload and run multipart steps in staging/, download from files/ and use the
    # bucket key: no listing, no delete, no other area, no logs (it runs no code)
    assert allowed(template, "ApiSigningRole") == {
        ("s3:PutObject", f"{uploads}/staging/*"): None,
        ("s3:AbortMultipartUpload", f"{uploads}/staging/*"): None,
        ("s3:ListMultipartUploadParts", f"{uploads}/staging/*"): None,
        ("s3:GetObject", f"{uploads}/files/*"): None,
        ("kms:Decrypt", key): None,
        ("kms:GenerateDataKey", key): None,
    }


def test_only_the_api_function_may_assume_the_signing_role(dev: Template) -> None:
    # Given the signing role
    name, role = only(dev, "AWS::IAM::Role", "ApiSigningRole")
    # Then its trust policy names the API function's role alone, for sts:AssumeRole only
    trust = list(statements(role["Properties"]["AssumeRolePolicyDocument"]))
    api_role = logical_id(dev, "AWS::IAM::Role", "ApiFunctionRole")
    assert [(s["Effect"], s["Action"], ref_name(s["Principal"]["AWS"])) for s in trust] == [
        ("Allow", "sts:AssumeRole", f"<{api_role}.Arn>")
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["MaxSessionDuration"] == 3600
    # and the API function is told to sign as that role; the processor (which signs nothing) is not
    assert ref_name(env_of(dev, "ApiFunction")["UPVAULT_SIGNING_ROLE_ARN"]) == f"<{name}.Arn>"
    assert "UPVAULT_SIGNING_ROLE_ARN" not in env_of(dev, "ProcessingFunction")
