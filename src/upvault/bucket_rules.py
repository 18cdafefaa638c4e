"""The bucket's shape as plain data: lifecycle, CORS, notification filter.

The CDK storage construct and the local MinIO bootstrap both read these rules, so the bucket
on AWS and the bucket on a developer's machine cannot drift apart. Values that differ per
environment (retention, origins) come from the caller's per-environment settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from upvault.keys import FILES_PREFIX, QUARANTINE_PREFIX, STAGING_PREFIX

#: Headers browsers must be able to read: multipart completion needs each part's ETag.
EXPOSED_HEADERS: tuple[str, ...] = (
    "ETag",
    "x-amz-version-id",
    "x-amz-checksum-sha256",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-request-id",
)


@dataclass(frozen=True)
class LifecycleRule:
    """One lifecycle rule; ``None`` leaves an action out."""

    id: str
    prefix: str
    expiration_days: int | None = None
    noncurrent_expiration_days: int | None = None
    abort_incomplete_multipart_days: int | None = None
    intelligent_tiering_days: int | None = None
    #: Remove a delete marker once no version is left behind it (S3 allows it only in a rule
    #: without expiration days), so markers of long-deleted files do not pile up.
    expired_object_delete_marker: bool = False


@dataclass(frozen=True)
class CorsRule:
    """The one CORS rule browsers need for presigned uploads and downloads.

    POST and DELETE are for clients that run a multipart upload with presigned S3 requests
    (create, complete, abort: Uppy 6); every request still needs a signature the API made.
    """

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...] = ("PUT", "GET", "HEAD", "POST", "DELETE")
    allowed_headers: tuple[str, ...] = ("*",)
    exposed_headers: tuple[str, ...] = EXPOSED_HEADERS
    max_age_seconds: int = 3000


@dataclass(frozen=True)
class BucketRules:
    """Everything about the bucket that both AWS and the local stack must agree on."""

    lifecycle: tuple[LifecycleRule, ...]
    cors: CorsRule
    notification_prefix: str = STAGING_PREFIX
    versioned: bool = True


def bucket_rules(
    *,
    cors_origins: tuple[str, ...],
    staging_expiry_days: int,
    noncurrent_retention_days: int = 365,
    quarantine_expiry_days: int = 30,
    abort_multipart_days: int = 1,
    intelligent_tiering_days: int | None = None,
) -> BucketRules:
    """Build the bucket rules for one environment.

    ``staging_expiry_days`` must outlive the longest wait of an upload's notification (the
    infra config derives it from the queue retentions), or an upload can vanish unvalidated.
    """
    lifecycle = (
        LifecycleRule(id="abort-incomplete-multipart", prefix="", abort_incomplete_multipart_days=abort_multipart_days),
        LifecycleRule(
            id="expire-staging",
            prefix=STAGING_PREFIX,
            expiration_days=staging_expiry_days,
            noncurrent_expiration_days=staging_expiry_days,
        ),
        LifecycleRule(
            id="expire-quarantine",
            prefix=QUARANTINE_PREFIX,
            expiration_days=quarantine_expiry_days,
            noncurrent_expiration_days=quarantine_expiry_days,
        ),
        LifecycleRule(
            id="expire-noncurrent-files",
            prefix=FILES_PREFIX,
            noncurrent_expiration_days=noncurrent_retention_days,
            intelligent_tiering_days=intelligent_tiering_days,
            # A deleted file stays restorable while its noncurrent versions live; only then is
            # its marker alone, and expired.
            expired_object_delete_marker=True,
        ),
    )
    return BucketRules(lifecycle=lifecycle, cors=CorsRule(allowed_origins=cors_origins))
