"""Storage: encryption, versioning, public access, TLS, bucket policy, CORS, lifecycle, notifications."""

from __future__ import annotations

from typing import Any

from infra.config import environment_config
from tests.infra.conftest import session_config
from tests.infra.support import Template, as_list, logical_id, only, props, ref_name, resources, statements

UPLOADS = "StorageUploads"


def _uploads(template: Template) -> dict[str, Any]:
    return props(template, "AWS::S3::Bucket", UPLOADS)


def _bucket_policy(template: Template, bucket_contains: str) -> list[dict[str, Any]]:
    for res in resources(template, "AWS::S3::BucketPolicy").values():
        if ref_name(res["Properties"]["Bucket"]).startswith(f"<{bucket_contains}"):
            return list(statements(res["Properties"]["PolicyDocument"]))
    raise AssertionError(f"no bucket policy for {bucket_contains}")


def test_bucket_is_encrypted_with_a_rotating_customer_managed_key_and_bucket_key(dev: Template) -> None:
    # Given the dev stack
    # When we read the uploads bucket's encryption and its key
    rule = _uploads(dev)["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    key_id = logical_id(dev, "AWS::KMS::Key", "StorageKey")
    # Then objects are SSE-KMS with our own key, bucket keys on, and the key rotates
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert ref_name(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == f"<{key_id}.Arn>"
    assert rule["BucketKeyEnabled"] is True
    assert props(dev, "AWS::KMS::Key", "StorageKey")["EnableKeyRotation"] is True


def test_bucket_is_versioned_private_owner_enforced_and_logs_access(dev: Template) -> None:
    # Given the uploads bucket
    bucket = _uploads(dev)
    # Then it is versioned, blocks every kind of public access, disables ACLs,
    # logs to the separate access-log bucket, and sends nothing to EventBridge
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    log_bucket = logical_id(dev, "AWS::S3::Bucket", "StorageAccessLogs")
    assert ref_name(bucket["LoggingConfiguration"]["DestinationBucketName"]) == f"<{log_bucket}>"
    assert "NotificationConfiguration" not in bucket or "EventBridgeConfiguration" not in bucket.get(
        "NotificationConfiguration", {}
    )
    notifications = props(dev, "Custom::S3BucketNotifications")["NotificationConfiguration"]
    assert "EventBridgeConfiguration" not in notifications


def test_access_log_bucket_is_itself_locked_down(dev: Template) -> None:
    # Given the access-log bucket
    logs = props(dev, "AWS::S3::Bucket", "StorageAccessLogs")
    # Then it is encrypted, private, owner-enforced, TLS-only and expires old logs
    assert logs["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert all(logs["PublicAccessBlockConfiguration"].values())
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert (
        logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        == environment_config("dev").access_log_retention_days
    )
    denies = [s for s in _bucket_policy(dev, "StorageAccessLogs") if s["Effect"] == "Deny"]
    assert {json_key(s["Condition"]) for s in denies} >= {"Bool:aws:SecureTransport", "NumericLessThan:s3:TlsVersion"}


def json_key(condition: dict[str, Any]) -> str:
    """``Operator:key`` of a single-key condition."""
    ((operator, body),) = condition.items()
    ((key, _),) = body.items()
    return f"{operator}:{key}"


def test_bucket_policy_requires_tls_1_2_and_refuses_foreign_encryption(dev: Template) -> None:
    # Given the uploads bucket's policy
    policy = _bucket_policy(dev, UPLOADS)
    denies = {json_key(s["Condition"]): s for s in policy if s["Effect"] == "Deny"}
    # Then plain HTTP and TLS < 1.2 are denied for everyone
    assert denies["Bool:aws:SecureTransport"]["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    assert denies["NumericLessThan:s3:TlsVersion"]["Condition"]["NumericLessThan"]["s3:TlsVersion"] == 1.2
    # And a put that names another encryption or another key is denied, but only if it names one:
    # presigned PUTs send no SSE header and must keep working (IfExists, not Null).
    sse = denies["StringNotEqualsIfExists:s3:x-amz-server-side-encryption"]
    assert sse["Action"] == "s3:PutObject"
    assert sse["Condition"]["StringNotEqualsIfExists"]["s3:x-amz-server-side-encryption"] == "aws:kms"
    key = denies["StringNotEqualsIfExists:s3:x-amz-server-side-encryption-aws-kms-key-id"]
    key_id = logical_id(dev, "AWS::KMS::Key", "StorageKey")
    assert ref_name(key["Condition"]["StringNotEqualsIfExists"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]) == (
        f"<{key_id}.Arn>"
    )
    assert not any("Null" in s["Condition"] for s in policy if s["Effect"] == "Deny")


def _cors_from_rules(name: str) -> list[dict[str, Any]]:
    rule = session_config(name).bucket_rules().cors
    return [
        {
            "AllowedHeaders": list(rule.allowed_headers),
            "AllowedMethods": list(rule.allowed_methods),
            "AllowedOrigins": list(rule.allowed_origins),
            "ExposedHeaders": list(rule.exposed_headers),
            "MaxAge": rule.max_age_seconds,
        }
    ]


def test_cors_is_exactly_the_shared_bucket_rules(dev: Template, prod: Template) -> None:
    # Given the bucket rules the local MinIO bootstrap applies too
    # When we read each environment's synthesized CORS
    # Then they are identical: PUT/GET/HEAD (and POST/DELETE for Uppy 6's presigned multipart
    # create, list and abort) from configured origins, ETag exposed, max-age set
    for name, template in (("dev", dev), ("prod", prod)):
        assert _uploads(template)["CorsConfiguration"]["CorsRules"] == _cors_from_rules(name)
    cors = _uploads(dev)["CorsConfiguration"]["CorsRules"][0]
    assert sorted(cors["AllowedMethods"]) == ["DELETE", "GET", "HEAD", "POST", "PUT"]
    assert "ETag" in cors["ExposedHeaders"]
    assert "*" not in cors["AllowedOrigins"]


def _lifecycle_from_rules(name: str) -> list[dict[str, Any]]:
    expected = []
    for rule in session_config(name).bucket_rules().lifecycle:
        item: dict[str, Any] = {"Id": rule.id, "Status": "Enabled"}
        if rule.prefix:
            item["Prefix"] = rule.prefix
        if rule.expiration_days:
            item["ExpirationInDays"] = rule.expiration_days
        if rule.expired_object_delete_marker:
            item["ExpiredObjectDeleteMarker"] = True
        if rule.noncurrent_expiration_days:
            item["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule.noncurrent_expiration_days}
        if rule.abort_incomplete_multipart_days:
            item["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_incomplete_multipart_days}
        if rule.intelligent_tiering_days is not None:
            item["Transitions"] = [
                {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": rule.intelligent_tiering_days}
            ]
        expected.append(item)
    return expected


def test_lifecycle_is_exactly_the_shared_bucket_rules(dev: Template, staging: Template, prod: Template) -> None:
    # Given each environment's bucket rules
    # When we read the synthesized lifecycle configuration
    # Then it is rule for rule what bucket_rules() says
    for name, template in (("dev", dev), ("staging", staging), ("prod", prod)):
        assert _uploads(template)["LifecycleConfiguration"]["Rules"] == _lifecycle_from_rules(name)


def test_lifecycle_rules_do_what_the_issue_asks(prod: Template) -> None:
    # Given prod's lifecycle rules
    rules = {rule["Id"]: rule for rule in _uploads(prod)["LifecycleConfiguration"]["Rules"]}
    # Then incomplete multipart uploads are aborted after 1 day (whole bucket)
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rules["abort-incomplete-multipart"]
    # And staging/ expires after the longest wait of a notification (4 + 14 days) plus 2, quarantine/ after 30
    assert (rules["expire-staging"]["Prefix"], rules["expire-staging"]["ExpirationInDays"]) == ("staging/", 20)
    assert (rules["expire-quarantine"]["Prefix"], rules["expire-quarantine"]["ExpirationInDays"]) == ("quarantine/", 30)
    # And old versions of final files are kept for the 365-day retention, current ones never expire,
    # and final files move to Intelligent-Tiering
    files = rules["expire-noncurrent-files"]
    assert files["Prefix"] == "files/"
    assert files["NoncurrentVersionExpiration"] == {"NoncurrentDays": 365}
    assert "ExpirationInDays" not in files
    assert files["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}]
    # And a delete marker is removed once no version is left behind it (after the retention), so
    # markers do not pile up while a deleted file stays restorable within the retention window
    assert files["ExpiredObjectDeleteMarker"] is True


def test_data_is_retained_outside_dev_and_never_auto_deleted(dev: Template, staging: Template, prod: Template) -> None:
    # Given every environment
    for template, policy in ((dev, "Delete"), (staging, "Retain"), (prod, "Retain")):
        # When we read the removal policy of the buckets and the key
        for type_, contains in (
            ("AWS::S3::Bucket", UPLOADS),
            ("AWS::S3::Bucket", "StorageAccessLogs"),
            ("AWS::KMS::Key", "StorageKey"),
        ):
            _, res = only(template, type_, contains)
            # Then outside dev nothing is deleted with the stack
            assert res["DeletionPolicy"] == policy, (type_, contains)
        # And no stack ever empties the bucket on deletion
        assert not resources(template, "Custom::S3AutoDeleteObjects")


def test_objects_created_under_staging_notify_the_queue(dev: Template) -> None:
    # Given the bucket notification custom resource
    config = props(dev, "Custom::S3BucketNotifications")["NotificationConfiguration"]
    (queue_config,) = config["QueueConfigurations"]
    # Then every ObjectCreated event under staging/ (and nothing else) goes to the processing queue
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    assert queue_config["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "staging/"}]}}
    queue = logical_id(dev, "AWS::SQS::Queue", "ProcessingUploads")
    assert ref_name(queue_config["QueueArn"]) == f"<{queue}.Arn>"
    assert "LambdaFunctionConfigurations" not in config
    assert as_list(config.get("TopicConfigurations", [])) == []
