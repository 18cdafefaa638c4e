"""Processing: S3 ObjectCreated on ``staging/`` -> SQS (with a DLQ) -> the processor function.

The queue between S3 and the function absorbs bursts, retries failed objects with backoff
(visibility timeout) and keeps what still fails in a dead-letter queue (14 days by default),
so an upload is never dropped because the processor was down or throttled. Staged objects
outlive the longest wait of their notification (``EnvironmentConfig.staging_retention``), so a
late redrive still finds the upload. The event source starts at most
``processor_max_concurrency`` invocations: a burst waits in the queue instead of taking the
account's concurrency from the API.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.functions import upvault_function
from infra.keys import rotating_key
from infra.nag import acknowledge
from infra.storage import Storage, StorageAccess
from upvault.keys import FILES_PREFIX, QUARANTINE_PREFIX, STAGING_PREFIX
from upvault.settings import PROCESSOR_STORAGE_READ_TIMEOUT

#: What the processor may do in the bucket.
PROCESSOR_ACCESS = StorageAccess(
    objects=(
        # Read the staged object, copy exactly the validated version, then remove that version and
        # older ones (a delete marker could hide a newer upload to the same key).
        (("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"), (STAGING_PREFIX,)),
        # Copy destinations; a multipart copy (objects over 4 GiB) aborts its upload on failure; a
        # delete marker over its own copy when the owner deleted the file meanwhile (a delete wins).
        (("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"), (FILES_PREFIX, QUARANTINE_PREFIX)),
    ),
    # ListBucket: "already processed?" lookups, and HEAD of a missing key answers 404 rather than 403.
    # ListBucketVersions: the staged key's versions (purge the processed one), and a file's one
    # life (any version under files/ or quarantine/, or the owner's delete marker on the staged key).
    listing=("s3:ListBucket", "s3:ListBucketVersions"),
    key=("kms:Decrypt", "kms:GenerateDataKey"),
)


class Processing(Construct):
    """The notification queue, its dead-letter queue and the processor function."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self._removal = config.removal_policy
        # A customer-managed key, because S3 can only publish to an encrypted queue whose key
        # policy lets s3.amazonaws.com use it (the AWS-managed SQS key cannot be shared).
        self.key = rotating_key(
            self, "QueueKey", config=config, encrypts="upload notifications", removal_policy=self._removal
        )
        self.dead_letters = self._queue(
            "DeadLetters", retention_period=Duration.days(config.dead_letter_retention_days)
        )
        self.queue = self._queue(
            "Uploads",
            # Longer than the DLQ path needs: a message is retried max_receive_count times first.
            retention_period=Duration.days(config.queue_retention_days),
            data_key_reuse=Duration.hours(1),
            visibility_timeout=Duration.seconds(config.queue_visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=config.max_receive_count),
        )
        acknowledge(
            self.dead_letters,
            [
                (
                    "Serverless-SQSRedrivePolicy",
                    "This queue is the dead-letter queue; a DLQ of the DLQ would only hide "
                    "failures that the DeadLetters alarm reports.",
                )
            ],
        )
        storage.notify_queue(self.queue)

        self.function = upvault_function(
            self,
            "Function",
            package="processor",
            description="Upvault processor: validates uploads, promotes them to files/ or quarantine/",
            config=config,
            storage=storage,
            access=PROCESSOR_ACCESS,
            # A server-side copy of a large object answers slowly; the API keeps the short default.
            settings={"storage_read_timeout": str(PROCESSOR_STORAGE_READ_TIMEOUT)},
        )
        from_queue = (
            "Never invoked asynchronously: an SQS event source mapping calls the processor, and "
            "messages that keep failing move to the queue's dead-letter queue (maxReceiveCount)."
        )
        acknowledge(self.function, [("Serverless-LambdaDLQ", from_queue), ("NIST.800.53.R5-LambdaDLQ", from_queue)])

        # An explicit id: SqsEventSource names the mapping after the queue's path, which differs
        # between `cdk deploy` (Upvault-prod/...) and the pipeline (Upvault-Pipeline/Prod/...),
        # and a second mapping for the same queue and function is refused by Lambda.
        self.queue.grant_consume_messages(self.function)
        mapping = self.function.add_event_source_mapping(
            "UploadsEventSource",
            event_source_arn=self.queue.queue_arn,
            batch_size=config.batch_size,
            max_batching_window=Duration.seconds(config.max_batching_window_seconds),
            # One bad object must not send its whole batch back to the queue.
            report_batch_item_failures=True,
            max_concurrency=config.processor_max_concurrency,
        )
        acknowledge(
            mapping,
            [
                (
                    "Serverless-LambdaEventSourceMappingDestination",
                    "On-failure destinations exist only for stream sources; for SQS the queue's redrive policy "
                    "sends failed messages to the dead-letter queue (maxReceiveCount).",
                )
            ],
        )

    def _queue(self, construct_id: str, *, retention_period: Duration, **options: Any) -> sqs.Queue:
        """A queue encrypted with the notification key that refuses plain-HTTP requests."""
        return sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=retention_period,
            removal_policy=self._removal,
            **options,
        )
