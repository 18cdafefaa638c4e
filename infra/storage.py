"""Storage: the uploads bucket, its KMS key and its access-log bucket.

Lifecycle and CORS come from :func:`upvault.bucket_rules.bucket_rules` (through the
environment config), the same data the local MinIO bootstrap applies, so the two buckets
cannot drift. Permissions are handed out per prefix by the ``grant_*`` methods; no function
gets a bucket-wide or wildcard grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.keys import rotating_key
from infra.nag import acknowledge, logical_id
from upvault.bucket_rules import BucketRules, CorsRule, LifecycleRule
from upvault.keys import FILES_PREFIX, QUARANTINE_PREFIX, STAGING_PREFIX

#: The only top-level prefixes our code lists under.
AREAS = (STAGING_PREFIX, FILES_PREFIX, QUARANTINE_PREFIX)
MIN_TLS_VERSION = 1.2
#: CDK creates this singleton Lambda (at the stack's root) for S3 bucket notifications.
_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


@dataclass(frozen=True)
class StorageAccess:
    """What one function may do in the uploads bucket; :meth:`Storage.grant` hands it out."""

    #: ``(actions, prefixes)`` pairs: exactly these object actions under exactly these areas.
    objects: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    #: Bucket-level list actions, limited by ``s3:prefix`` to our areas.
    listing: tuple[str, ...] = ()
    #: Bucket-level actions that take no prefix (``s3:ListBucketMultipartUploads``).
    bucket: tuple[str, ...] = ()
    #: Actions on the bucket's KMS key (SSE-KMS needs them for S3 calls).
    key: tuple[str, ...] = ()


def lifecycle_rule(rule: LifecycleRule) -> s3.LifecycleRule:
    """Translate one shared lifecycle rule into CDK's type."""
    return s3.LifecycleRule(
        id=rule.id,
        prefix=rule.prefix or None,
        expiration=Duration.days(rule.expiration_days) if rule.expiration_days else None,
        expired_object_delete_marker=rule.expired_object_delete_marker or None,
        noncurrent_version_expiration=(
            Duration.days(rule.noncurrent_expiration_days) if rule.noncurrent_expiration_days else None
        ),
        abort_incomplete_multipart_upload_after=(
            Duration.days(rule.abort_incomplete_multipart_days) if rule.abort_incomplete_multipart_days else None
        ),
        transitions=(
            [
                s3.Transition(
                    storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                    transition_after=Duration.days(rule.intelligent_tiering_days),
                )
            ]
            if rule.intelligent_tiering_days is not None
            else None
        ),
    )


def cors_rule(rule: CorsRule) -> s3.CorsRule:
    """Translate the shared CORS rule into CDK's type."""
    return s3.CorsRule(
        allowed_methods=[s3.HttpMethods(method) for method in rule.allowed_methods],
        allowed_origins=list(rule.allowed_origins),
        allowed_headers=list(rule.allowed_headers),
        exposed_headers=list(rule.exposed_headers),
        max_age=rule.max_age_seconds,
    )


class Storage(Construct):
    """The encrypted, versioned uploads bucket with lifecycle, CORS and a locked-down policy."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        removal = config.removal_policy
        self.rules: BucketRules = config.bucket_rules()

        self.key = rotating_key(self, "Key", config=config, encrypts="uploaded files", removal_policy=removal)
        # S3 server access logging cannot write to SSE-KMS buckets, hence S3-managed keys here.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=MIN_TLS_VERSION,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(config.access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
        )
        self.bucket = s3.Bucket(
            self,
            "Uploads",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=self.rules.versioned,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=MIN_TLS_VERSION,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="uploads/",
            event_bridge_enabled=config.event_bridge,
            cors=[cors_rule(self.rules.cors)],
            lifecycle_rules=[lifecycle_rule(rule) for rule in self.rules.lifecycle],
            removal_policy=removal,
            # Never auto-delete: deleting a dev stack with files in it fails instead of losing them.
            auto_delete_objects=False,
        )
        self._deny_foreign_encryption()
        replication = (
            "Single-region by design: versioning and the noncurrent retention protect against deletion and "
            "overwrite; cross-region replication is a per-deployment data-residency and cost decision."
        )
        acknowledge(self.bucket, [("NIST.800.53.R5-S3BucketReplicationEnabled", replication)])
        acknowledge(
            self.access_logs,
            [
                ("NIST.800.53.R5-S3BucketReplicationEnabled", replication),
                (
                    "NIST.800.53.R5-S3DefaultEncryptionKMS",
                    "S3 server access log delivery can only write to a bucket encrypted with SSE-S3, not SSE-KMS.",
                ),
            ],
        )

    def _deny_foreign_encryption(self) -> None:
        """Refuse puts that ask for another kind of encryption or another KMS key.

        Presigned PUTs and multipart parts send no encryption header at all: S3 then applies
        the bucket's default (SSE-KMS with our key). A "deny when the header is missing" rule,
        the classic recipe, would therefore reject every browser upload. The ``...IfExists``
        conditions only deny a request that *names* something else, which is the case worth
        blocking (an object readable without our key, or with a key we do not control).
        """
        objects = self.bucket.arn_for_objects("*")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyOtherEncryption",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyOtherKmsKey",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[objects],
                conditions={
                    "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": self.key.key_arn}
                },
            )
        )

    def notify_queue(self, queue: sqs.IQueue) -> None:
        """Send every ``ObjectCreated`` event under the notification prefix (``staging/``) to ``queue``."""
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            notifications.SqsDestination(queue),
            s3.NotificationKeyFilter(prefix=self.rules.notification_prefix),
        )
        # The call above makes CDK create its notification handler at the stack's root; it is
        # CDK's deploy-time helper for this bucket, so its findings are acknowledged here.
        handler = Stack.of(self).node.find_child(_NOTIFICATIONS_HANDLER)
        cdk_helper = "CDK's own BucketNotificationsHandler (a deploy-time custom resource, not Upvault code)"
        acknowledge(
            handler,
            [
                (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    f"{cdk_helper} uses the basic execution managed policy; CDK offers no way to replace it.",
                ),
                ("AwsSolutions-L1", f"{cdk_helper} pins its runtime; it runs only at deploy."),
                ("Serverless-LambdaLatestVersion", f"{cdk_helper} pins its runtime."),
                (
                    "Serverless-LambdaDLQ",
                    f"{cdk_helper} is a CloudFormation custom resource; CloudFormation reports its failures.",
                ),
                ("Serverless-LambdaTracing", f"{cdk_helper} runs once per deployment."),
                ("Serverless-LambdaDefaultMemorySize", f"{cdk_helper}: CDK chooses its size."),
                ("Serverless-LambdaDefaultTimeout", f"{cdk_helper}: CDK chooses its timeout."),
            ],
        )
        # The handler's policy lives under the bucket's notifications resource, not the handler.
        acknowledge(
            self.bucket.node.find_child("Notifications"),
            [("NIST.800.53.R5-IAMNoInlinePolicy", f"{cdk_helper}: CDK writes its role's policy inline.")],
        )

    def grant(self, role: iam.Role, access: StorageAccess) -> None:
        """Give ``role`` exactly ``access``: per-area object actions, listing, bucket and key actions."""
        for actions, prefixes in access.objects:
            self.grant_objects(role, actions, prefixes)
        if access.listing:
            self.grant_listing(role, access.listing)
        if access.bucket:
            self.grant_bucket(role, access.bucket)
        if access.key:
            self.grant_key(role, access.key)

    def grant_objects(self, role: iam.Role, actions: Sequence[str], prefixes: Sequence[str]) -> None:
        """Allow exactly ``actions`` on objects under each of ``prefixes`` (e.g. ``staging/``)."""
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(actions),
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
        bucket = logical_id(self.bucket)
        acknowledge(
            role,
            [
                (
                    f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{prefix}*]",
                    f"Object permissions are scoped to the {prefix} area; the key below it is per user and "
                    "per file, so a prefix wildcard is the narrowest resource possible.",
                )
                for prefix in prefixes
            ],
        )

    def grant_listing(self, grantee: iam.IGrantable, actions: Sequence[str], prefixes: Sequence[str] = AREAS) -> None:
        """Allow bucket-level list ``actions`` only under ``prefixes`` (``s3:prefix``), never the whole bucket.

        ``StringLike``, not ``...IfExists``: a list request without a prefix carries no
        ``s3:prefix`` and must be denied. A HEAD or GET of a missing key still answers 404, not
        403: S3 authorizes it through ``s3:ListBucket`` with the object's key as ``s3:prefix``,
        which these patterns match under our areas.
        """
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions),
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
            )
        )

    def grant_bucket(self, grantee: iam.IGrantable, actions: Sequence[str]) -> None:
        """Allow bucket-level ``actions`` that take no prefix (``s3:ListBucketMultipartUploads``)."""
        iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self.bucket.bucket_arn])

    def grant_key(self, grantee: iam.IGrantable, actions: Sequence[str]) -> None:
        """Allow exactly ``actions`` on the bucket's KMS key (SSE-KMS needs them for S3 calls)."""
        self.key.grant(grantee, *actions)
