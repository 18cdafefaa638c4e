"""Give a MinIO bucket the deployed bucket's shape, through the S3 API only (no ``mc``).

The rules come from the one source of truth the CDK stack reads,
``infra.config.environment_config("dev").bucket_rules()``. Where MinIO cannot take a rule the
way S3 does, the difference is made here, explicitly, and nowhere else:

- ``AbortIncompleteMultipartUpload`` is unsupported: a rule with only that action makes MinIO
  refuse the *whole* lifecycle configuration, so it is left out and
  ``MINIO_API_STALE_UPLOADS_EXPIRY`` (server-wide) purges stale multipart uploads instead.
- Transitions to AWS storage classes are refused (MinIO only tiers to remote targets): left out.
- ``PutBucketCors`` is 501: CORS is the server-wide ``MINIO_API_CORS_ALLOW_ORIGIN``.
- ``aws:kms`` default encryption must name MinIO's one built-in KMS key.
- Notifications go to a webhook target (``arn:minio:sqs::<ID>:webhook``) configured from the
  environment at start-up, instead of an SQS queue.

Everything is idempotent: running it again on a configured bucket changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from upvault.bucket_rules import BucketRules, LifecycleRule

#: The webhook target id, as written in ``MINIO_NOTIFY_WEBHOOK_*_<ID>`` and in the queue ARN.
WEBHOOK_ID = "UPVAULT"
#: Where the event bridge listens for MinIO's posts.
WEBHOOK_PATH = "/minio/events"
#: ``Id`` of the bucket's notification configuration (MinIO reports ``Config`` in events anyway).
NOTIFICATION_ID = "upvault-staging"
#: The events the processor wants, as on AWS.
CREATED_EVENTS = ("s3:ObjectCreated:*",)


def webhook_arn(region: str = "") -> str:
    """The queue ARN MinIO gives the webhook target ``WEBHOOK_ID`` (empty region: none set)."""
    return f"arn:minio:sqs:{region}:{WEBHOOK_ID}:webhook"


def s3_lifecycle_rule(rule: LifecycleRule) -> dict[str, Any]:
    """One shared lifecycle rule in the S3 API's shape, as the deployed bucket has it."""
    out: dict[str, Any] = {"ID": rule.id, "Status": "Enabled", "Filter": {"Prefix": rule.prefix}}
    if rule.expiration_days is not None:
        out["Expiration"] = {"Days": rule.expiration_days}
    if rule.expired_object_delete_marker:
        out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    if rule.noncurrent_expiration_days is not None:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule.noncurrent_expiration_days}
    if rule.abort_incomplete_multipart_days is not None:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule.abort_incomplete_multipart_days}
    if rule.intelligent_tiering_days is not None:
        out["Transitions"] = [{"Days": rule.intelligent_tiering_days, "StorageClass": "INTELLIGENT_TIERING"}]
    return out


def s3_lifecycle(rules: BucketRules) -> list[dict[str, Any]]:
    """The full lifecycle configuration S3 gets (what the CDK stack declares)."""
    return [s3_lifecycle_rule(rule) for rule in rules.lifecycle]


#: The actions MinIO cannot take, left out locally (see the module docstring).
MINIO_UNSUPPORTED_ACTIONS = ("AbortIncompleteMultipartUpload", "Transitions")


def minio_lifecycle(rules: BucketRules) -> list[dict[str, Any]]:
    """The lifecycle configuration MinIO gets: S3's minus :data:`MINIO_UNSUPPORTED_ACTIONS`.

    A rule left with no action at all (the abort-only rule) is dropped entirely.
    """
    local = []
    for rule in s3_lifecycle(rules):
        kept = {name: value for name, value in rule.items() if name not in MINIO_UNSUPPORTED_ACTIONS}
        if {"Expiration", "NoncurrentVersionExpiration"} & set(kept):
            local.append(kept)
    return local


def stale_uploads_expiry(rules: BucketRules) -> str | None:
    """``MINIO_API_STALE_UPLOADS_EXPIRY`` standing in for the abort-incomplete-multipart rule."""
    days = [r.abort_incomplete_multipart_days for r in rules.lifecycle if r.abort_incomplete_multipart_days]
    return f"{min(days) * 24}h" if days else None


def cors_allow_origin(rules: BucketRules) -> str:
    """``MINIO_API_CORS_ALLOW_ORIGIN`` standing in for the bucket's CORS rule."""
    return ",".join(rules.cors.allowed_origins)


def minio_environment(
    rules: BucketRules,
    *,
    webhook_endpoint: str,
    webhook_token: str,
    queue_dir: Path,
) -> dict[str, str]:
    """The server-wide ``MINIO_*`` settings the bucket's shape needs (CORS, stale uploads,
    the webhook target with an auth token and a queue dir so no event is lost)."""
    env = {
        "MINIO_API_CORS_ALLOW_ORIGIN": cors_allow_origin(rules),
        f"MINIO_NOTIFY_WEBHOOK_ENABLE_{WEBHOOK_ID}": "on",
        f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{WEBHOOK_ID}": webhook_endpoint,
        f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{WEBHOOK_ID}": webhook_token,
        f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{WEBHOOK_ID}": str(queue_dir),
    }
    expiry = stale_uploads_expiry(rules)
    if expiry:
        env["MINIO_API_STALE_UPLOADS_EXPIRY"] = expiry
    return env


def notification_configuration(
    rules: BucketRules, *, queue_arn: str, events: Iterable[str] = CREATED_EVENTS
) -> dict[str, Any]:
    """``ObjectCreated`` events under the notification prefix (``staging/``) to the webhook."""
    return {
        "QueueConfigurations": [
            {
                "Id": NOTIFICATION_ID,
                "QueueArn": queue_arn,
                "Events": list(events),
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": rules.notification_prefix}]}},
            }
        ]
    }


def bootstrap_bucket(
    s3: Any, bucket: str, rules: BucketRules, *, kms_key_id: str, queue_arn: str | None = None
) -> None:
    """Create and configure ``bucket`` on MinIO; safe to run on every start.

    Args:
        s3: A boto3 S3 client for the server, with its root credentials.
        bucket: The bucket name.
        rules: The shared bucket rules (``environment_config("dev").bucket_rules()``).
        kms_key_id: The name of MinIO's built-in KMS key (``MINIO_KMS_SECRET_KEY=<name>:...``).
        queue_arn: The webhook target's ARN; default :func:`webhook_arn`.
    """
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    if rules.versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id},
                }
            ]
        },
    )
    lifecycle = minio_lifecycle(rules)
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle})
    notifications = notification_configuration(rules, queue_arn=queue_arn or webhook_arn())
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)
