"""MinIO's bucket notifications → the processor Lambda handler, as SQS would deliver them.

MinIO posts each event to a webhook (``MINIO_NOTIFY_WEBHOOK_*_<ID>``, see
:mod:`local.bootstrap`). The bridge checks the bearer token, turns MinIO's payload into
exactly the S3 notification AWS sends (:mod:`local.s3_events`), wraps it as a one-message
SQS event, and calls the **same processor handler** Lambda runs, with a Lambda-like context.

Delivery mirrors the deployed SQS event source mapping: a message the handler reports in
``batchItemFailures`` (or a handler crash) is retried a few times with backoff, then kept in a
local dead-letter store (JSON files in the state dir) that ``upvault dlq list`` shows and
``upvault dlq redrive`` delivers again. MinIO gets its 2xx only once the event was processed or
safely written to the dead-letter store; anything else is a 5xx, and MinIO (with a queue dir)
keeps the event and retries it. So nothing is lost, and duplicates are harmless: the processor
is idempotent.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from local.bootstrap import WEBHOOK_PATH
from local.lambda_context import LocalLambdaContext
from local.ports import LOOPBACK
from local.s3_events import normalise_body, sqs_record

log = logging.getLogger("local-stack.events")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: The SQS queue the deployed stack puts between S3 and the processor; named in each record.
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:upvault-events"
PROCESSOR_NAME = "upvault-processor"


def body_keys(body: str) -> list[str]:
    """The (decoded) object keys an S3 notification body names; ``[]`` when it names none."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return []
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        return []
    keys = []
    for record in records:
        key = record.get("s3", {}).get("object", {}).get("key") if isinstance(record, dict) else None
        if isinstance(key, str):
            keys.append(unquote_plus(key))
    return keys


@dataclass(frozen=True)
class DeadLetter:
    """An event the processor failed on after every retry, kept until it is redriven."""

    id: str
    body: str
    reason: str
    attempts: int
    failed_at: str
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RedriveResult:
    """What a redrive did: ids delivered (and removed) and ids that failed again (kept)."""

    delivered: list[str]
    failed: list[str]


class DeadLetterStore:
    """Dead letters as one JSON file each under ``directory`` (written atomically)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def put(self, body: str, *, reason: str, attempts: int) -> DeadLetter:
        """Keep ``body`` (an AWS-shaped notification) with why it failed; returns the letter."""
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        letter = DeadLetter(
            id=f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}",
            body=body,
            reason=reason,
            attempts=attempts,
            failed_at=now.isoformat(timespec="seconds"),
            keys=body_keys(body),
        )
        self._write(letter)
        return letter

    def _write(self, letter: DeadLetter) -> None:
        path = self.directory / f"{letter.id}.json"
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            json.dump(asdict(letter), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)

    def list(self) -> list[DeadLetter]:
        """All dead letters, oldest first."""
        if not self.directory.is_dir():
            return []
        return [DeadLetter(**json.loads(path.read_text())) for path in sorted(self.directory.glob("*.json"))]

    def remove(self, letter_id: str) -> None:
        """Forget a dead letter (after a successful redrive)."""
        (self.directory / f"{letter_id}.json").unlink(missing_ok=True)

    def redrive(self, deliver: Callable[[str], str | None], ids: Iterable[str] | None = None) -> RedriveResult:
        """Deliver dead letters again (all, or ``ids``); delivered ones are removed.

        ``deliver`` takes a body and returns ``None`` on success or the reason it failed.
        """
        wanted = set(ids) if ids is not None else None
        delivered: list[str] = []
        failed: list[str] = []
        for letter in self.list():
            if wanted is not None and letter.id not in wanted:
                continue
            reason = deliver(letter.body)
            if reason is None:
                self.remove(letter.id)
                delivered.append(letter.id)
            else:
                failed.append(letter.id)
                self._write(
                    replace(
                        letter,
                        reason=reason,
                        attempts=letter.attempts + 1,
                        failed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    )
                )
        return RedriveResult(delivered=delivered, failed=failed)


class EventDelivery:
    """Call the processor handler for one notification body, with retries and backoff."""

    def __init__(
        self,
        handler: Handler,
        *,
        attempts: int = 3,
        backoff: float = 0.2,
        region: str = "us-east-1",
        queue_arn: str = QUEUE_ARN,
    ) -> None:
        self.handler = handler
        self.attempts = attempts
        self.backoff = backoff
        self.region = region
        self.queue_arn = queue_arn
        # Powertools' BatchProcessor keeps per-batch state: one batch at a time, as one
        # Lambda instance would.
        self._lock = threading.Lock()

    def invoke(self, body: str, receive_count: int = 1) -> str | None:
        """One invocation with a one-message SQS batch; the failure reason, or ``None``."""
        record = sqs_record(body, receive_count=receive_count, queue_arn=self.queue_arn, region=self.region)
        try:
            with self._lock:
                result = self.handler({"Records": [record]}, LocalLambdaContext(function_name=PROCESSOR_NAME))
        except Exception as exc:  # a crashed invocation fails the whole batch, as on Lambda
            log.exception("processor invocation crashed")
            return f"invocation failed: {type(exc).__name__}: {exc}"
        failures = {item.get("itemIdentifier") for item in (result or {}).get("batchItemFailures", [])}
        if record["messageId"] in failures:
            return "reported in batchItemFailures"
        return None

    def deliver(self, body: str) -> str | None:
        """Invoke until success or ``attempts`` are used up; the last failure reason, or ``None``."""
        reason: str | None = None
        for attempt in range(1, self.attempts + 1):
            reason = self.invoke(body, receive_count=attempt)
            if reason is None:
                return None
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        return reason


class EventBridge:
    """The HTTP receiver MinIO's webhook target posts to (127.0.0.1, a free port by default).

    Args:
        handler: The processor Lambda handler (``functions.processor.handler``'s).
        token: The bearer token MinIO sends (``MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>``).
        dead_letters: Where events that keep failing are kept.
        port: 0 picks a free port; a restarted bridge keeps the port it had.
        attempts, backoff: Retries before dead-lettering (backoff doubles each time).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        token: str,
        dead_letters: DeadLetterStore,
        host: str = LOOPBACK,
        port: int = 0,
        region: str = "us-east-1",
        attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.delivery = EventDelivery(handler, attempts=attempts, backoff=backoff, region=region)
        self.token = token
        self.dead_letters = dead_letters
        self.host = host
        self.port = port
        self.region = region
        self.delivered = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The webhook endpoint to give MinIO."""
        return f"http://{self.host if self.host != '0.0.0.0' else LOOPBACK}:{self.port}{WEBHOOK_PATH}"  # noqa: S104

    def start(self) -> EventBridge:
        """Listen and serve in a background thread."""
        server = _Server((self.host, self.port), _Handler)
        server.bridge = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="event-bridge", daemon=True)
        self._thread.start()
        log.info("event bridge listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening (MinIO keeps undelivered events in its queue dir meanwhile)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> EventBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorised(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries our token (constant-time compare)."""
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest((header or "").encode(), expected)

    def receive(self, raw: bytes) -> int:
        """Handle one posted MinIO payload; the HTTP status to answer."""
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
            # Not an event we can ever process: keep it rather than lose it, and say so.
            self.dead_letters.put(raw.decode("utf-8", "replace"), reason="not a MinIO event payload", attempts=0)
            log.error("dead-lettered a payload that is not a MinIO event")
            return 200
        body = normalise_body(json.dumps(payload), source="minio", region=self.region)
        keys = body_keys(body)
        reason = self.delivery.deliver(body)
        if reason is None:
            self.delivered += 1
            log.info("processed %s", ", ".join(keys) or "(no keys)")
            return 200
        letter = self.dead_letters.put(body, reason=reason, attempts=self.delivery.attempts)
        log.error(
            "dead-lettered %s after %d attempts (%s): `upvault dlq redrive --id %s`",
            ", ".join(keys),
            self.delivery.attempts,
            reason,
            letter.id,
        )
        return 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    bridge: EventBridge


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        bridge = self.server.bridge
        if self.path.split("?")[0] != WEBHOOK_PATH:
            self._answer(404)
            return
        if not bridge.authorised(self.headers.get("Authorization")):
            self._answer(401)
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            status = bridge.receive(raw)
        except OSError:  # the dead-letter store could not be written: MinIO must retry
            log.exception("could not keep a failed event; MinIO will retry it")
            status = 503
        self._answer(status)

    def do_GET(self) -> None:
        self._answer(200)

    def do_HEAD(self) -> None:
        self._answer(200)

    def _answer(self, status: int) -> None:
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
