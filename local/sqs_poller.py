"""Lambda's SQS event source mapping, locally: poll a queue, call the real handler.

Messages the handler reports as failed (partial batch response) are left on the queue: they
come back after the visibility timeout and, after ``maxReceiveCount`` attempts, the queue's
redrive policy moves them to the dead-letter queue, as on AWS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from local.lambda_context import LocalLambdaContext
from local.s3_events import normalise_body, sqs_record

log = logging.getLogger("local-stack.sqs")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class SqsPoller:
    """Deliver batches from ``queue_url`` to ``handler`` until stopped."""

    def __init__(
        self, sqs: Any, queue_url: str, queue_arn: str, handler: Handler, *, source: str, batch_size: int = 10
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.source = source
        self.batch_size = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-poller", daemon=True)

    def start(self) -> None:
        """Start polling in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for the current batch)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive and deliver one batch; return how many messages it held."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        records = [
            sqs_record(
                normalise_body(m["Body"], source=self.source),
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                queue_arn=self.queue_arn,
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
            for m in messages
        ]
        result = self.handler({"Records": records}, LocalLambdaContext(function_name="upvault-processor"))
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if failed:
            log.warning("%d of %d messages failed; they will be retried", len(failed), len(messages))
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # keep the local event path alive; the failure is logged in full
                log.exception("event delivery failed")
                self._stop.wait(1)
