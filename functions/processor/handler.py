"""Lambda entry point of the processor: ``functions.processor.handler.handler``.

SQS delivers S3 ``ObjectCreated`` notifications for ``staging/``. Each SQS record is handled
on its own with Powertools' ``BatchProcessor``: a record that fails (malformed body, storage
error) is reported back as a partial batch failure, retried by SQS and finally dead-lettered,
while the rest of the batch succeeds.

Importing this module reads no configuration: :func:`cold_start` builds the processor from
the settings on the first invocation, once per execution environment. Tests and the local
stack call :func:`make_handler` with a processor of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.observability import logger, metrics, tracer
from upvault.processing import Action, Outcome, Processor
from upvault.settings import load_settings
from upvault.storage import ObjectStore, make_clients


class MalformedNotification(ValueError):
    """The SQS body is not an S3 notification: fail this record alone (it will dead-letter)."""


@dataclass(frozen=True)
class Notification:
    """One ``ObjectCreated`` record: the decoded key, the version it created, the event name."""

    key: str
    version_id: str | None
    event: str


def notifications(body: str) -> list[Notification]:
    """The ``ObjectCreated`` records in one SQS body (``ObjectCreated:Copy`` included: the
    processor must see it to refuse it).

    ``s3:TestEvent`` (sent when a notification is configured) yields nothing.
    """
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedNotification(f"SQS body is not JSON: {exc.msg}") from exc
    if isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent":
        return []
    try:
        event = S3Model.model_validate(payload)
    except ValueError as exc:
        raise MalformedNotification(f"SQS body is not an S3 notification: {exc}") from exc
    # S3 URL-encodes keys in notifications (space as '+').
    found = []
    for record in event.Records:
        obj = record.s3.object or record.s3.get_object
        if record.eventName.startswith("ObjectCreated:") and obj is not None:
            found.append(Notification(unquote_plus(obj.key), obj.versionId, record.eventName))
    return found


def _record(outcome: Outcome) -> None:
    fields = {
        "key": outcome.key,
        "version": outcome.version_id,
        "action": outcome.action.value,
        "reason": outcome.reason,
    }
    if outcome.action is Action.EXPIRED:
        # An upload was lost to retention before validation: someone must look (UploadsExpired alarms).
        logger.error("staged object expired before validation", extra=fields)
        metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=1)
        return
    logger.info("processed", extra=fields)
    if outcome.action is Action.PROMOTED:
        metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BytesUploaded", unit=MetricUnit.Bytes, value=outcome.size)
    elif outcome.action is Action.QUARANTINED:
        metrics.add_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1)


def make_handler(processor: Processor) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """Build the SQS batch handler around a processor (tests pass one on moto or MinIO)."""
    batch = BatchProcessor(event_type=EventType.SQS)

    @tracer.capture_method
    def record_handler(record: SQSRecord) -> None:
        """Process every object named in one SQS message; raise to fail this message only."""
        for notification in notifications(record.body):
            _record(processor.process(notification.key, version_id=notification.version_id, event=notification.event))

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Process an SQS batch and report partial failures."""
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=batch, context=context
        )
        return dict(response)

    return handler


@cache
def cold_start() -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The deployed processor: settings from the environment, validated once, its clients."""
    settings = load_settings()
    return make_handler(Processor(ObjectStore(settings, make_clients(settings))))


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process one SQS batch (the processor is built on the first call and reused)."""
    return cold_start()(event, context)
