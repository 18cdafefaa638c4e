"""The MinIO event path: webhook → event bridge → the processor handler, and nothing lost.

Every upload must end in exactly one final state (``files/`` or ``quarantine/``, its staged
copy gone), whatever happens to the events: duplicates, reordering, a processor that fails
until someone redrives, a bridge that is down while MinIO queues events.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from infra.config import STAGING_MARGIN_DAYS, environment_config
from local.devstack import LocalStack, processor_handler
from local.event_bridge import DeadLetterStore, EventBridge, Handler
from tests.integration.live import Client, settled_areas, stack_s3, start_stack, storage_keys, unique_user
from tests.support import SAMPLES, load_event
from upvault.settings import Settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
#: The console script `make dev` runs (.venv/bin/upvault), from this interpreter's venv.
UPVAULT = [str(Path(sys.executable).parent / "upvault")]


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A MinIO stack of its own, for tests that break its event path on purpose."""
    stack = start_stack(tmp_path / "state", "minio")
    yield stack
    stack.stop()


def minio_payload(bucket: str, key: str, size: int) -> bytes:
    """A webhook body shaped exactly like MinIO's (the captured fixture, with another key)."""
    payload: dict[str, Any] = json.loads((EVENTS / "minio-webhook-put.json").read_text())
    payload["Key"] = f"{bucket}/{key}"
    record = payload["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = quote_plus(key, safe="")
    record["s3"]["object"]["size"] = size
    return json.dumps(payload).encode()


def post_to_bridge(stack: LocalStack, body: bytes, token: str | None = None) -> httpx.Response:
    """POST a webhook body to the stack's bridge, as MinIO does."""
    assert stack.bridge is not None
    return httpx.post(
        stack.bridge.url, content=body, timeout=30, headers={"Authorization": f"Bearer {token or stack.bridge.token}"}
    )


def cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``upvault`` as a developer would in another terminal, with the stack's environment."""
    env = {**os.environ, "UPVAULT_STATE_DIR": str(stack.state_dir), "UPVAULT_MINIO_PORT": str(stack.dev.minio_port)}
    return subprocess.run([*UPVAULT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_duplicate_and_out_of_order_events_converge_on_one_final_state(minio_stack: LocalStack) -> None:
    # Given a few uploads, one of them lying about its type
    client = Client(minio_stack, unique_user())
    good = [client.upload(SAMPLES[t], t, category="images") for t in ("image/png", "image/jpeg", "image/gif")]
    bad = client.upload(SAMPLES["application/pdf"], "image/png", category="images")
    staged = [k for k in storage_keys(minio_stack, "staging/") if f"/{client.user}/" in k]
    # When every event arrives twice more, newest first, besides MinIO's own delivery
    for key in reversed(staged * 2):
        response = post_to_bridge(minio_stack, minio_payload(minio_stack.dev.dev_bucket, key, 1))
        assert response.status_code == 200
    # Then each upload is in exactly one final place
    for file_id in good:
        assert client.wait_final(file_id)["status"] == "ready"
    assert client.wait_final(bad)["status"] == "rejected"
    for file_id in good:
        assert settled_areas(minio_stack, file_id) == ["files"]
    assert settled_areas(minio_stack, bad) == ["quarantine"]


def test_event_for_a_key_that_no_longer_exists_is_acknowledged(minio_stack: LocalStack) -> None:
    # Given an event for an upload that was aborted (its object is gone)
    key = f"staging/{unique_user()}/documents/01M889VFNKRG0TFTBWVX4HJ68D/gone.pdf"
    # When it reaches the bridge
    response = post_to_bridge(minio_stack, minio_payload(minio_stack.dev.dev_bucket, key, 10))
    # Then it is processed (ignored), not retried forever and not dead-lettered
    assert response.status_code == 200
    assert not [d for d in minio_stack.dead_letters.list() if key in d.keys]


def test_bridge_refuses_posts_without_the_token(minio_stack: LocalStack) -> None:
    # Given a client that does not know the webhook token
    key = f"staging/{unique_user()}/documents/01M889VFNKRG0TFTBWVX4HJ68D/x.pdf"
    # When it posts an event
    response = post_to_bridge(minio_stack, minio_payload("upvault-dev", key, 1), token="wrong")
    # Then the bridge refuses it without processing it
    assert response.status_code == 401


def dead_letter_an_upload(stack: LocalStack) -> tuple[Client, str, Handler]:
    """Upload a file while the processor cannot read storage, until its event is dead-lettered.

    Returns the client, the file id and the working handler to put back.
    """
    assert stack.bridge is not None and stack.settings is not None
    working = stack.bridge.delivery.handler
    broken = Settings(**{**stack.settings.model_dump(exclude={"policies"}), "secret_access_key": "wrong-secret"})
    stack.bridge.delivery.handler = processor_handler(broken)
    client = Client(stack, unique_user())
    file_id = client.upload(SAMPLES["image/png"], "image/png", category="images")
    deadline = time.monotonic() + 30
    while not stack.dead_letters.list() and time.monotonic() < deadline:
        time.sleep(0.2)
    return client, file_id, working


def test_processor_failure_dead_letters_then_redrive_finishes_the_upload(own_stack: LocalStack) -> None:
    # Given a processor that cannot read storage (wrong credentials: every invocation fails)
    # When an upload's event has been retried and given up on
    client, file_id, working = dead_letter_an_upload(own_stack)
    # Then it waits in the dead-letter store, the file still pending: nothing is lost
    listed = cli(own_stack, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (letter,) = json.loads(listed.stdout)
    assert letter["attempts"] == 3
    assert any(file_id in key for key in letter["keys"])
    assert client.file(file_id).json()["status"] == "pending"
    # When the processor is fixed and the developer redrives from another terminal
    assert own_stack.bridge is not None
    own_stack.bridge.delivery.handler = working
    redriven = cli(own_stack, "dlq", "redrive")
    # Then the upload finishes, once, and the store is empty
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "1 redriven, 0 failed" in redriven.stdout
    assert client.wait_final(file_id)["status"] == "ready"
    assert settled_areas(own_stack, file_id) == ["files"]
    assert cli(own_stack, "dlq", "list").stdout.strip() == "no dead letters"


def test_a_late_redrive_still_finds_the_upload(own_stack: LocalStack) -> None:
    # Given an upload whose event was dead-lettered while the processor was down
    client, file_id, working = dead_letter_an_upload(own_stack)
    # And the bucket as bootstrapped from the infra config (the rules AWS gets)
    config = environment_config("dev")
    rules = stack_s3(own_stack).get_bucket_lifecycle_configuration(Bucket=own_stack.dev.dev_bucket)["Rules"]
    (staging,) = [rule for rule in rules if rule["Filter"].get("Prefix") == "staging/"]
    # Then the staged object is kept (current and noncurrent) longer than the event can wait: the
    # whole queue retention, then the whole DLQ retention after a redrive, plus the margin
    longest_wait = config.queue_retention_days + config.dead_letter_retention_days + STAGING_MARGIN_DAYS
    assert staging["Expiration"]["Days"] >= longest_wait
    assert staging["NoncurrentVersionExpiration"]["NoncurrentDays"] >= longest_wait
    # When the dead letter is redriven late (within that time the object is still there)
    assert own_stack.bridge is not None
    own_stack.bridge.delivery.handler = working
    assert cli(own_stack, "dlq", "redrive").returncode == 0
    # Then the upload still becomes ready
    assert client.wait_final(file_id)["status"] == "ready"


def test_an_upload_gone_before_its_redrive_is_shown_rejected_and_reported(
    own_stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a dead-lettered upload whose staged object is then really gone (every version, as
    # lifecycle removes it once its retention has passed)
    client, file_id, working = dead_letter_an_upload(own_stack)
    s3 = stack_s3(own_stack)
    bucket = own_stack.dev.dev_bucket
    listed = s3.list_object_versions(Bucket=bucket, Prefix="staging/")
    gone = [v for v in listed.get("Versions", []) if file_id in v["Key"]]
    assert gone
    for version in gone:
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    # When the dead letter is redriven
    assert own_stack.bridge is not None
    own_stack.bridge.delivery.handler = working
    with caplog.at_level(logging.ERROR):
        redriven = own_stack.dead_letters.redrive(own_stack.bridge.delivery.deliver)
    # Then the event is done with (not dead-lettered again)
    assert len(redriven.delivered) == 1 and not redriven.failed
    # And the user sees the file rejected with the reason, instead of a file that vanished
    shown = client.wait_final(file_id)
    assert (shown["status"], shown["reason"]) == ("rejected", "expired before validation")
    # And it is logged as an error naming the key
    (error,) = [r for r in caplog.records if r.getMessage() == "staged object expired before validation"]
    assert file_id in error.__dict__["key"]


def test_events_queued_while_the_bridge_is_down_are_delivered_after_restart(own_stack: LocalStack) -> None:
    # Given the bridge is down (MinIO keeps events in its queue dir)
    assert own_stack.bridge is not None
    own_stack.bridge.stop()
    client = Client(own_stack, unique_user())
    # When files are uploaded meanwhile
    ids = [client.upload(SAMPLES[t], t, category="images") for t in ("image/png", "image/jpeg", "image/webp")]
    time.sleep(4)  # MinIO tries (and fails) to deliver at least once
    assert all(client.file(i).json()["status"] == "pending" for i in ids)
    # And the bridge comes back on the same port
    own_stack.bridge.start()
    # Then every queued event is delivered and each upload ends ready, exactly once
    for file_id in ids:
        assert client.wait_final(file_id, timeout=40)["status"] == "ready"
        assert settled_areas(own_stack, file_id) == ["files"]


def test_payload_that_is_not_an_event_is_kept_not_lost(tmp_path: Path) -> None:
    # Given a bridge whose processor would accept anything
    calls: list[Any] = []
    store = DeadLetterStore(tmp_path / "dlq")
    with EventBridge(
        lambda event, ctx: calls.append(event) or {"batchItemFailures": []}, token="t", dead_letters=store
    ) as bridge:
        # When something posts a body that is no MinIO event
        response = httpx.post(bridge.url, content=b"not json", headers={"Authorization": "Bearer t"})
    # Then it is acknowledged but kept in the dead-letter store, and the processor never saw it
    assert response.status_code == 200
    assert [d.body for d in store.list()] == ["not json"]
    assert calls == []


def test_bridge_hands_the_processor_exactly_what_aws_sends(tmp_path: Path) -> None:
    # Given a bridge recording what the processor handler receives
    seen: list[dict[str, Any]] = []
    store = DeadLetterStore(tmp_path / "dlq")
    with EventBridge(
        lambda event, ctx: seen.append(event) or {"batchItemFailures": []}, token="t", dead_letters=store
    ) as bridge:
        # When MinIO's captured payload arrives
        response = httpx.post(
            bridge.url, content=(EVENTS / "minio-webhook-put.json").read_bytes(), headers={"Authorization": "Bearer t"}
        )
    assert response.status_code == 200
    # Then it gets one SQS record whose body is an S3 notification in AWS's shape
    (event,) = seen
    (record,) = event["Records"]
    aws = load_event("sqs-s3-put.json")["Records"][0]
    assert set(record) == set(aws)
    assert record["eventSource"] == "aws:sqs"
    (s3_record,) = json.loads(record["body"])["Records"]
    assert s3_record["eventSource"] == "aws:s3"
    assert s3_record["eventName"] == "ObjectCreated:Put"
    assert s3_record["awsRegion"] == "us-east-1"
    assert s3_record["s3"]["object"]["key"] == (
        "staging/user-1/documents/01M889VFNKRG0TFTBWVX4HJ68D/my+report%2Bv2+%C3%A9%F0%9F%98%80.pdf"
    )
    assert set(json.loads(load_event("sqs-s3-put.json")["Records"][0]["body"])["Records"][0]) <= set(s3_record)


def test_bridge_answers_5xx_when_it_cannot_keep_a_failed_event(tmp_path: Path) -> None:
    # Given a processor that always fails and a dead-letter store that cannot be written
    (tmp_path / "not-a-dir").write_text("")
    store = DeadLetterStore(tmp_path / "not-a-dir" / "dlq")
    with EventBridge(
        lambda event, ctx: {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]},
        token="t",
        dead_letters=store,
        attempts=2,
        backoff=0.01,
    ) as bridge:
        # When MinIO posts an event
        response = httpx.post(
            bridge.url, content=(EVENTS / "minio-webhook-put.json").read_bytes(), headers={"Authorization": "Bearer t"}
        )
    # Then MinIO is told to keep it and retry (its queue dir holds it), rather than a 2xx that loses it
    assert response.status_code == 503


def test_redrive_keeps_what_fails_again(tmp_path: Path) -> None:
    # Given two dead letters
    store = DeadLetterStore(tmp_path / "dlq")
    first = store.put('{"Records": []}', reason="boom", attempts=3)
    second = store.put('{"Records": [{"s3": {"object": {"key": "staging/a+b"}}}]}', reason="boom", attempts=3)
    assert second.keys == ["staging/a b"]
    # When a redrive of only the second one fails again
    result = store.redrive(lambda body: "still failing", ids=[second.id])
    # Then it is kept with one more attempt, and the other was not touched
    assert result.delivered == [] and result.failed == [second.id]
    kept = {letter.id: letter for letter in store.list()}
    assert kept[second.id].attempts == 4
    assert kept[second.id].reason == "still failing"
    assert kept[first.id].attempts == 3
    # When everything is redriven and succeeds
    result = store.redrive(lambda body: None)
    # Then the store is empty
    assert len(result.delivered) == 2
    assert store.list() == []
