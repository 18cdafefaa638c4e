"""Processing: KMS-encrypted, TLS-only queue with a DLQ feeding the processor in partial batches."""

from __future__ import annotations

from infra.config import STAGING_MARGIN_DAYS, environment_config
from tests.infra.conftest import session_config
from tests.infra.support import Template, logical_id, props, ref_name, resources, statements

DAYS = 24 * 3600


def test_queues_are_kms_encrypted_and_tls_only(dev: Template) -> None:
    key = logical_id(dev, "AWS::KMS::Key", "ProcessingQueueKey")
    for queue_name in ("ProcessingUploads", "ProcessingDeadLetters"):
        # Given each queue
        queue = props(dev, "AWS::SQS::Queue", queue_name)
        # Then it is encrypted with the processing key
        assert ref_name(queue["KmsMasterKeyId"]) == f"<{key}.Arn>"
        # And its policy denies any request not made over TLS
        queue_id = logical_id(dev, "AWS::SQS::Queue", queue_name)
        denies = [
            s
            for res in resources(dev, "AWS::SQS::QueuePolicy").values()
            if f"<{queue_id}>" in [ref_name(q) for q in res["Properties"]["Queues"]]
            for s in statements(res["Properties"]["PolicyDocument"])
            if s["Effect"] == "Deny"
        ]
        assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), queue_name
    assert props(dev, "AWS::KMS::Key", "ProcessingQueueKey")["EnableKeyRotation"] is True


def test_s3_may_publish_to_the_encrypted_queue(dev: Template) -> None:
    # Given the processing key's policy
    key_policy = props(dev, "AWS::KMS::Key", "ProcessingQueueKey")["KeyPolicy"]
    # Then S3 can use the key, or every notification would be dropped silently
    s3_statements = [s for s in statements(key_policy) if s.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert s3_statements
    assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= {a for s in s3_statements for a in s["Action"]}


def test_dead_letter_queue_wiring_and_retention(dev: Template) -> None:
    config = environment_config("dev")
    # Given the main queue and the DLQ
    queue = props(dev, "AWS::SQS::Queue", "ProcessingUploads")
    dlq = props(dev, "AWS::SQS::Queue", "ProcessingDeadLetters")
    # Then failing messages move to the DLQ after max_receive_count attempts and stay 14 days
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == config.max_receive_count
    assert (
        ref_name(redrive["deadLetterTargetArn"])
        == f"<{logical_id(dev, 'AWS::SQS::Queue', 'ProcessingDeadLetters')}.Arn>"
    )
    assert dlq["MessageRetentionPeriod"] == 14 * DAYS


def test_staged_objects_outlive_every_message_that_can_name_them(
    dev: Template, staging: Template, prod: Template
) -> None:
    for template in (dev, staging, prod):
        # Given how long the queue and the DLQ keep a message, and the bucket's staging/ rule
        queue = props(template, "AWS::SQS::Queue", "ProcessingUploads")["MessageRetentionPeriod"] // DAYS
        dlq = props(template, "AWS::SQS::Queue", "ProcessingDeadLetters")["MessageRetentionPeriod"] // DAYS
        rules = props(template, "AWS::S3::Bucket", "StorageUploads")["LifecycleConfiguration"]["Rules"]
        (staging_rule,) = [rule for rule in rules if rule.get("Prefix") == "staging/"]
        # Then a staged object (current or noncurrent) is kept longer than a message can wait
        # (queue retention, then DLQ retention after a redrive) plus a margin: a late redrive finds it
        longest_wait = queue + dlq + STAGING_MARGIN_DAYS
        assert staging_rule["ExpirationInDays"] >= longest_wait
        assert staging_rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= longest_wait


def test_visibility_timeout_is_at_least_six_times_the_function_timeout(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        # Given the queue and the processor
        visibility = props(template, "AWS::SQS::Queue", "ProcessingUploads")["VisibilityTimeout"]
        timeout = props(template, "AWS::Lambda::Function", "ProcessingFunction")["Timeout"]
        # Then a message is never handed out again while a slow invocation still works on it
        assert visibility >= 6 * timeout


def test_processor_consumes_in_batches_and_reports_item_failures(dev: Template) -> None:
    config = environment_config("dev")
    # Given the event source mapping
    mapping = props(dev, "AWS::Lambda::EventSourceMapping")
    # Then it reads the uploads queue in batches with a batching window, and retries only failed records
    assert ref_name(mapping["EventSourceArn"]) == f"<{logical_id(dev, 'AWS::SQS::Queue', 'ProcessingUploads')}.Arn>"
    assert ref_name(mapping["FunctionName"]) == f"<{logical_id(dev, 'AWS::Lambda::Function', 'ProcessingFunction')}>"
    assert mapping["BatchSize"] == config.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == config.max_batching_window_seconds
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_processor_concurrency_is_bounded_per_environment(dev: Template, staging: Template, prod: Template) -> None:
    for name, template in (("dev", dev), ("staging", staging), ("prod", prod)):
        # Given the event source mapping of each environment
        mapping = props(template, "AWS::Lambda::EventSourceMapping")
        # Then it starts at most the configured number of processors (dev 5, staging's default 20,
        # prod as its cdk.json block sets it), so a burst waits in the queue instead of
        # taking the account's concurrency from the API
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": session_config(name).processor_max_concurrency}
    assert [session_config(n).processor_max_concurrency for n in ("dev", "staging", "prod")] == [5, 20, 5]


def test_processor_function_runtime_and_environment(dev: Template) -> None:
    # Given the processor function
    fn = props(dev, "AWS::Lambda::Function", "ProcessingFunction")
    # Then it runs the processor handler on Python 3.13 arm64 with tracing, the layer and Powertools settings
    assert fn["Handler"] == "functions.processor.handler.handler"
    assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert [ref_name(layer) for layer in fn["Layers"]] == [
        f"<{logical_id(dev, 'AWS::Lambda::LayerVersion', 'Dependencies')}>"
    ]
    env = fn["Environment"]["Variables"]
    assert ref_name(env["UPVAULT_BUCKET"]) == f"<{logical_id(dev, 'AWS::S3::Bucket', 'StorageUploads')}>"
    assert env["POWERTOOLS_SERVICE_NAME"] == "upvault" and env["POWERTOOLS_METRICS_NAMESPACE"] == "Upvault"
    assert env["UPVAULT_ENDPOINT_URL"] == ""
