"""Processing: S3 ObjectCreated on ``staging/`` -> SQS (with a DLQ) -> the processor function.

The queue between S3 and the function absorbs bursts, retries failed objects with backoff
(visibility timeout) and keeps what still fails in a dead-letter queue for 14 days, so an
upload is never dropped because the processor was down or throttled.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.functions import upvault_function
from infra.storage import Storage
from upvault.keys import FILES_PREFIX, QUARANTINE_PREFIX, STAGING_PREFIX

#: What the processor does with objects, per area.
PROCESSOR_OBJECT_GRANTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # Read the staged object, copy exactly the validated version (pinned by id), then remove
    # that version.
    (("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"), (STAGING_PREFIX,)),
    # Copy destinations; a multipart copy (objects over 5 GiB) aborts its upload on failure; a
    # delete marker over its own copy when the owner deleted the file meanwhile (a delete wins).
    (("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"), (FILES_PREFIX, QUARANTINE_PREFIX)),
)
# ListBucket: "already processed?" lookups, and HEAD of a missing key answers 404 rather than 403.
# ListBucketVersions: a file's one life (any version under files/ or quarantine/, or the owner's
# delete marker on the staged key).
PROCESSOR_LIST_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions")
PROCESSOR_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
DLQ_RETENTION = Duration.days(14)
PROCESSOR_STORAGE_READ_TIMEOUT = 60


class Processing(Construct):
    """The notification queue, its dead-letter queue and the processor function."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        # A customer-managed key, because S3 can only publish to an encrypted queue whose key
        # policy lets s3.amazonaws.com use it (the AWS-managed SQS key cannot be shared).
        self.key = kms.Key(
            self,
            "QueueKey",
            description=f"Upvault {config.name}: encrypts upload notifications",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=removal,
        )
        self.queue = sqs.Queue(
            self,
            "Uploads",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(config.queue_visibility_timeout_seconds),
            # Longer than the DLQ path needs: a message is retried max_receive_count times first.
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=config.max_receive_count),
            removal_policy=removal,
        )
        storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            notifications.SqsDestination(self.queue),
            s3.NotificationKeyFilter(prefix=storage.rules.notification_prefix),
        )

        self.function = upvault_function(
            self,
            "Function",
            package="processor",
            description="Upvault processor: validates uploads, promotes them to files/ or quarantine/",
            config=config,
            # Validation reads only the first bytes (magic numbers); the rest is S3-side copies.
            memory_mb=config.processor_memory_mb,
            # A server-side copy of a multi-GB object takes tens of seconds; 2 min leaves margin.
            timeout_seconds=config.processor_timeout_seconds,
            reserved_concurrency=config.processor_reserved_concurrency,
            environment={
                "UPVAULT_BUCKET": storage.bucket.bucket_name,
                "UPVAULT_REGION": Stack.of(self).region,
                # A server-side copy of a large object answers slowly; the API keeps the short default.
                "UPVAULT_STORAGE_READ_TIMEOUT": str(PROCESSOR_STORAGE_READ_TIMEOUT),
            },
        )
        for actions, prefixes in PROCESSOR_OBJECT_GRANTS:
            storage.grant_objects(self.function, actions, prefixes)
        storage.grant_listing(self.function, PROCESSOR_LIST_ACTIONS)
        storage.grant_key(self.function, PROCESSOR_KEY_ACTIONS)

        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=config.batch_size,
                max_batching_window=Duration.seconds(config.max_batching_window_seconds),
                # One bad object must not send its whole batch back to the queue.
                report_batch_item_failures=True,
            )
        )
