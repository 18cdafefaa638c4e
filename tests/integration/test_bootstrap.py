"""The local bucket has the deployed bucket's shape, as far as MinIO can take it.

Rules come from ``infra.config.environment_config("dev").bucket_rules()``, the object the CDK
storage construct reads: the local and the cloud bucket are compared here, and may differ only
in the documented ways (docs/local-stack.md): no abort-incomplete-multipart rule (server-wide
``MINIO_API_STALE_UPLOADS_EXPIRY`` instead), no transitions, CORS server-wide, MinIO's KMS key
named, notifications to a webhook instead of SQS.
"""

from __future__ import annotations

import httpx
import pytest

from infra.config import environment_config
from local.bootstrap import (
    MINIO_UNSUPPORTED_ACTIONS,
    WEBHOOK_ID,
    bootstrap_bucket,
    minio_lifecycle,
    s3_lifecycle,
    webhook_arn,
)
from local.devstack import LocalStack
from tests.integration.live import Client, stack_s3, unique_user
from tests.support import SAMPLES


def test_local_lifecycle_is_the_cloud_lifecycle_minus_what_minio_cannot_take(minio_stack: LocalStack) -> None:
    # Given the rules the CDK stack deploys for dev, and the bucket make dev bootstrapped
    rules = environment_config("dev").bucket_rules()
    cloud = {rule["ID"]: rule for rule in s3_lifecycle(rules)}
    s3 = stack_s3(minio_stack)
    local = {
        rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=minio_stack.dev.dev_bucket)["Rules"]
    }
    # Then every cloud rule with an action MinIO supports is there, unchanged but for the
    # unsupported actions, and only the abort-only rule is missing
    for rule_id, rule in cloud.items():
        expected = {k: v for k, v in rule.items() if k not in MINIO_UNSUPPORTED_ACTIONS}
        if {"Expiration", "NoncurrentVersionExpiration"} & set(expected):
            got = local.pop(rule_id)
            assert got["Status"] == "Enabled"
            assert got["Filter"] == expected["Filter"]
            for action in ("Expiration", "NoncurrentVersionExpiration"):
                assert got.get(action) == expected.get(action), (rule_id, action)
        else:
            assert set(rule) - {"ID", "Status", "Filter"} == {"AbortIncompleteMultipartUpload"}
            assert rule_id not in local
    assert local == {}
    # And the abort rule lives on as MinIO's server-wide stale-upload expiry, in the same days
    (abort,) = [r for r in rules.lifecycle if r.abort_incomplete_multipart_days]
    assert minio_stack.minio is not None
    env = minio_stack.minio.environment()
    assert env["MINIO_API_STALE_UPLOADS_EXPIRY"] == f"{abort.abort_incomplete_multipart_days * 24}h"
    # And CORS is MinIO's server-wide setting: the cloud rule's origins, plus the local API's
    # own origin (the demo page is served there) and UPVAULT_CORS_ORIGINS, nothing else
    api = (f"http://127.0.0.1:{minio_stack.api_port}", f"http://localhost:{minio_stack.api_port}")
    expected = dict.fromkeys((*api, *rules.cors.allowed_origins, *minio_stack.dev.cors_origins))
    assert env["MINIO_API_CORS_ALLOW_ORIGIN"].split(",") == list(expected)


def test_prod_transitions_are_left_out_locally() -> None:
    # Given prod's rules, which tier noncurrent files to INTELLIGENT_TIERING
    rules = environment_config("prod").bucket_rules()
    assert any("Transitions" in rule for rule in s3_lifecycle(rules))
    # Then MinIO's configuration has no transition and no abort action left
    for rule in minio_lifecycle(rules):
        assert not set(MINIO_UNSUPPORTED_ACTIONS) & set(rule)


def test_bucket_is_versioned_encrypted_with_minio_kms_and_notifies_the_bridge(minio_stack: LocalStack) -> None:
    # Given the bootstrapped bucket
    s3 = stack_s3(minio_stack)
    bucket = minio_stack.dev.dev_bucket
    # Then versioning is on
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # And default encryption is aws:kms naming MinIO's one built-in key (generated into the state dir)
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == "upvault-dev"
    # And an object written through a presigned URL is stored encrypted with it
    s3.put_object(Bucket=bucket, Key="probe/encrypted", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="probe/encrypted")
    assert head["ServerSideEncryption"] == "aws:kms"
    # And created objects under staging/ notify the webhook target the bridge listens on
    (queue,) = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert queue["QueueArn"] == webhook_arn() == f"arn:minio:sqs::{WEBHOOK_ID}:webhook"
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    assert [(r["Name"].lower(), r["Value"]) for r in queue["Filter"]["Key"]["FilterRules"]] == [("prefix", "staging/")]


def test_bootstrap_is_idempotent(minio_stack: LocalStack) -> None:
    # Given the bucket make dev already bootstrapped
    s3 = stack_s3(minio_stack)
    bucket = minio_stack.dev.dev_bucket
    rules = environment_config("dev").bucket_rules()
    before = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    s3.put_object(Bucket=bucket, Key="probe/kept", Body=b"kept")
    # When it runs again (every make dev does)
    bootstrap_bucket(s3, bucket, rules, kms_key_id="upvault-dev")
    # Then nothing changed and nothing was lost
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == before
    assert s3.get_object(Bucket=bucket, Key="probe/kept")["Body"].read() == b"kept"


@pytest.mark.parametrize(("origin", "allowed"), [("http://localhost:5173", True), ("https://evil.example", False)])
def test_cors_preflight_follows_the_rules_origins(minio_stack: LocalStack, origin: str, allowed: bool) -> None:
    # Given a browser on an origin, about to PUT to a presigned URL
    assert minio_stack.storage is not None
    url = f"{minio_stack.storage.endpoint_url}/{minio_stack.dev.dev_bucket}/staging/x"
    # When it sends the CORS preflight
    response = httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,content-md5",
        },
    )
    # Then only the dev origins of the shared rules are allowed
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed


def test_a_deleted_file_stays_restorable_under_the_delete_marker_cleanup(minio_stack: LocalStack) -> None:
    # Given the bootstrapped bucket, whose files/ rule also expires lone delete markers
    rules = stack_s3(minio_stack).get_bucket_lifecycle_configuration(Bucket=minio_stack.dev.dev_bucket)["Rules"]
    (files,) = [rule for rule in rules if rule["Filter"].get("Prefix") == "files/"]
    assert files["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert files["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    # And a ready file its user deleted (a marker now hides the version the rule keeps for the retention)
    client = Client(minio_stack, unique_user())
    file_id = client.upload(SAMPLES["image/png"], "image/png", category="images")
    assert client.wait_final(file_id)["status"] == "ready"
    assert client.http.delete(f"/files/{file_id}").status_code == 204
    # When the user restores it within the retention window
    restored = client.http.post(f"/files/{file_id}/restore")
    # Then it is back: the cleanup only removes a marker once no version is left behind it
    assert restored.status_code == 200, restored.text
    assert restored.json()["status"] == "ready"
