"""The processor Lambda handler: SQS batches of S3 notifications, on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.processor.handler import Notification, make_handler, notifications
from local.lambda_context import LocalLambdaContext
from tests.support import SAMPLES, crc64nvme_b64, load_event, s3_notification, sqs_event
from tests.unit.conftest import BUCKET, Api, all_keys, put_presigned
from upvault.keys import new_file_id
from upvault.models import Category
from upvault.processing import Action, Processor


def stage(
    api: Api,
    data: bytes,
    *,
    content_type: str,
    declared: bytes | None = None,
    filename: str = "f",
    category: str = "documents",
    s3: Any = None,
    body: bytes | None = None,
) -> str:
    """Declare ``declared`` (default ``data``) and store ``body`` (default ``data``) at its staging key."""
    declared = data if declared is None else declared
    response = api.upload(declared, content_type=content_type, filename=filename, category=category)
    assert response.status == 201, response.body
    upload = response.body["upload"]
    payload = data if body is None else body
    # moto does not verify signatures or lengths (MinIO/S3 do): this simulates a lax store
    assert put_presigned(upload, payload, **{"Content-Length": str(len(payload))}).status_code == 200
    return next(k for k in all_keys(s3) if response.body["file_id"] in k)


@pytest.mark.parametrize(
    ("content_type", "category", "filename"),
    [
        ("application/pdf", "documents", "a.pdf"),
        ("image/png", "images", "a.png"),
        ("audio/mpeg", "audio", "a.mp3"),
        ("audio/wav", "audio", "a.wav"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "documents", "a.docx"),
        ("text/csv", "documents", "a.csv"),
    ],
)
def test_valid_uploads_become_ready(
    api: Api, s3: Any, process: Any, content_type: str, category: str, filename: str
) -> None:
    # Given a staged, genuine file
    data = SAMPLES[content_type]
    key = stage(api, data, content_type=content_type, category=category, filename=filename, s3=s3)
    # When its notification is processed
    result = process(key)
    # Then the batch succeeds, the file is ready under files/ with its bytes, and staging is empty
    assert result == {"batchItemFailures": []}
    final = key.replace("staging/", "files/", 1)
    assert all_keys(s3) == [final]
    assert s3.get_object(Bucket=BUCKET, Key=final)["Body"].read() == data
    assert s3.head_object(Bucket=BUCKET, Key=final)["ContentType"] == content_type


@pytest.mark.parametrize(
    ("case", "data", "content_type", "declared", "reason"),
    [
        ("png renamed .pdf", SAMPLES["image/png"], "application/pdf", None, "content is image/png"),
        ("zero bytes", b"", "application/pdf", b"%", "size mismatch"),
        (
            "size mismatch",
            SAMPLES["application/pdf"],
            "application/pdf",
            SAMPLES["application/pdf"] + b"xx",
            "size mismatch",
        ),
        ("binary as text", b"\x00\x01\x02binary", "text/plain", None, "NUL"),
        ("random bytes as pdf", b"\x13\x37" * 64, "application/pdf", None, "no known file signature"),
    ],
)
def test_invalid_uploads_go_to_quarantine(
    api: Api, s3: Any, process: Any, case: str, data: bytes, content_type: str, declared: bytes | None, reason: str
) -> None:
    # Given a staged object that does not match its declaration (storage let it through)
    filename = "a.txt" if content_type == "text/plain" else "a.pdf"
    key = stage(api, data, content_type=content_type, declared=declared, s3=s3, filename=filename)
    # When processed
    result = process(key)
    # Then it is quarantined with the reason, never visible to the user
    assert result == {"batchItemFailures": []}
    quarantined = key.replace("staging/", "quarantine/", 1)
    assert all_keys(s3) == [quarantined]
    file_id = key.split("/")[3]
    info = api.call("GET", f"/v1/files/{file_id}").body
    assert info["status"] == "rejected"
    assert reason in info["reason"]
    assert api.call("GET", "/v1/files", query="status=ready").body["items"] == []


def test_duplicate_and_redelivered_events_are_idempotent(api: Api, s3: Any, process: Any) -> None:
    # Given a staged file
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename="a.pdf")
    # When the same notification arrives three times (two in one batch, one later)
    assert process(key, key) == {"batchItemFailures": []}
    assert process(key) == {"batchItemFailures": []}
    # Then there is exactly one final object with one version
    final = key.replace("staging/", "files/", 1)
    assert all_keys(s3) == [final]
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=final).get("Versions", [])
    assert len(versions) == 1


def test_reuploaded_staging_key_keeps_the_newest_bytes(api: Api, s3: Any, processor: Processor) -> None:
    # Given the same presigned URL used twice (a retrying client) before any event is processed
    data = SAMPLES["application/pdf"]
    response = api.upload(data, content_type="application/pdf", filename="a.pdf")
    put_presigned(response.body["upload"], data)
    put_presigned(response.body["upload"], data)
    key = all_keys(s3)[0]
    # When both events are processed, out of order or not
    outcomes = [processor.process(key), processor.process(key)]
    # Then one promotion, one no-op, and no leftover staged version
    assert [o.action for o in outcomes] == [Action.PROMOTED, Action.ALREADY_DONE]
    assert s3.list_object_versions(Bucket=BUCKET, Prefix="staging/").get("Versions", []) == []


def _expire(s3: Any, key: str) -> None:
    """Do what lifecycle does to a staged object nobody processed: remove every version and marker."""
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=entry["VersionId"])


def test_upload_that_expired_before_validation_is_counted_logged_and_shown_rejected(
    api: Api, s3: Any, process: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given an upload whose notification waited longer than its staged object was kept
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", filename="a.pdf", s3=s3)
    file_id = key.split("/")[3]
    _expire(s3, key)
    capsys.readouterr()
    # When the late notification is processed
    response = process(key)
    # Then the message is acknowledged (retrying cannot bring the object back)
    assert response == {"batchItemFailures": []}
    # And the user sees the file rejected with the reason, instead of a file that vanished
    shown = api.call("GET", f"/v1/files/{file_id}")
    assert shown.status == 200
    assert (shown.body["status"], shown.body["reason"]) == ("rejected", "expired before validation")
    # And it is counted (the UploadsExpired alarm's metric) and logged as an error naming the key
    output = capsys.readouterr().out
    metrics = [json.loads(line)["_aws"] for line in output.splitlines() if '"_aws"' in line]
    assert [m for record in metrics for m in record["CloudWatchMetrics"][0]["Metrics"]] == [
        {"Name": "UploadsExpired", "Unit": "Count"}
    ]
    (error,) = [record for record in caplog.records if record.levelname == "ERROR"]
    assert error.getMessage() == "staged object expired before validation"
    assert error.__dict__["key"] == key
    # And a second delivery of the same notification changes nothing
    assert process(key) == {"batchItemFailures": []}
    assert [k for k in all_keys(s3) if file_id in k] == [key.replace("staging/", "quarantine/", 1)]


def test_notification_of_an_upload_its_user_deleted_is_ignored(api: Api, s3: Any, processor: Processor) -> None:
    # Given a pending upload its user deleted before it was validated (a delete marker remains)
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", filename="a.pdf", s3=s3)
    file_id = key.split("/")[3]
    assert api.call("DELETE", f"/v1/files/{file_id}").status == 204
    # When its notification arrives
    outcome = processor.process(key)
    # Then nothing happens: the file's life ended with its owner's delete (not an expiry: no
    # error, no rejected marker), and it stays deleted
    assert outcome.action is Action.ALREADY_DONE
    assert outcome.reason == "the file was deleted by its owner"
    assert api.call("GET", f"/v1/files/{file_id}").status == 404


def test_malformed_record_fails_alone(api: Api, s3: Any, processor: Processor) -> None:
    # Given a batch with a good notification and two malformed bodies
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename="a.pdf")
    event = sqs_event("not json", json.dumps({"Records": [{"eventName": "x"}]}), s3_notification(key))
    # When the batch is processed
    result = make_handler(processor)(event, LocalLambdaContext(function_name="p"))
    # Then only the malformed messages are reported failed (they will retry, then dead-letter)
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]}
    assert all_keys(s3) == [key.replace("staging/", "files/", 1)]


def test_s3_test_event_is_ignored(processor: Processor) -> None:
    # Given the TestEvent S3 sends when a notification is configured
    body = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-11-25T00:00:00Z",
            "Bucket": BUCKET,
            "RequestId": "R",
            "HostId": "H",
        }
    )
    # When processed, Then it succeeds without doing anything
    assert make_handler(processor)(sqs_event(body), LocalLambdaContext(function_name="p")) == {"batchItemFailures": []}


@pytest.mark.parametrize("name", ["my report+final.pdf", "Überweisung €.pdf", "a  b.pdf"])
def test_keys_with_spaces_plus_and_unicode(api: Api, s3: Any, process: Any, name: str) -> None:
    # Given a staged file whose key has characters S3 URL-encodes in notifications
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename=name)
    # When its (encoded) notification is processed
    assert process(key) == {"batchItemFailures": []}
    # Then the right object was promoted
    assert all_keys(s3) == [key.replace("staging/", "files/", 1)]


def test_notification_keys_are_url_decoded() -> None:
    # Given the sam-generated notification with an encoded key
    body = s3_notification("staging/u/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a b+c é.pdf")
    # When parsed, Then the key is decoded exactly once
    assert notifications(body) == [
        Notification("staging/u/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a b+c é.pdf", None, "ObjectCreated:Put")
    ]


def test_copy_events_reach_the_processor_with_their_version() -> None:
    # Given the notification of a server-side copy into staging (MinIO lets an unsigned
    # x-amz-copy-source turn a presigned PUT into one)
    key = "staging/u/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a.pdf"
    body = s3_notification(key, event_name="ObjectCreated:Copy", version_id="v-1")
    # When parsed, Then the processor is told it is a copy, and which version to pin
    assert notifications(body) == [Notification(key, "v-1", "ObjectCreated:Copy")]


def test_a_copy_event_is_never_promoted(api: Api, s3: Any, processor: Processor) -> None:
    # Given a genuine staged PDF whose notification says it was created by a server-side copy
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename="a.pdf")
    # When processed
    outcome = processor.process(key, event="ObjectCreated:Copy")
    # Then it is rejected, and the quarantine entry keeps none of the copied bytes
    assert outcome.action is Action.QUARANTINED
    quarantined = key.replace("staging/", "quarantine/", 1)
    assert all_keys(s3) == [quarantined]
    assert s3.get_object(Bucket=BUCKET, Key=quarantined)["Body"].read() == b""


def test_removal_events_are_ignored() -> None:
    body = s3_notification("staging/u/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a.pdf", event_name="ObjectRemoved:Delete")
    assert notifications(body) == []


@pytest.mark.parametrize(
    "key",
    [
        "files/alice/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a.pdf",
        "quarantine/alice/documents/01M88A9NNXFE5G0HW0G2XWHCYD/a.pdf",
        "staging/not-our-layout.pdf",
    ],
)
def test_processor_never_acts_on_its_own_output_or_foreign_keys(processor: Processor, key: str) -> None:
    # Given an event for a key outside staging/ or outside our layout
    # When processed, Then it is ignored (so the processor can never trigger itself)
    assert processor.process(key).action is Action.IGNORED


def test_placeholder_of_running_multipart_is_ignored(api: Api, s3: Any, processor: Processor) -> None:
    # Given a multipart upload in progress (its placeholder emits a creation event)
    response = api.call(
        "POST",
        "/v1/uploads",
        body={
            "filename": "a.mp3",
            "content_type": "audio/mpeg",
            "size": 11 * 1024 * 1024,
            "category": "audio",
            "checksums": {"crc64nvme": "AAAAAAAAAAA="},
        },
    )
    key = all_keys(s3)[0]
    # When the placeholder's event is processed, Then it stays pending
    assert processor.process(key).action is Action.IGNORED
    assert api.call("GET", f"/v1/files/{response.body['file_id']}").body["status"] == "pending"


def test_sam_fixture_event_parses() -> None:
    # Given the untouched sam-generated SQS event, When its body is parsed, Then its key comes out decoded
    record = load_event("sqs-s3-put.json")["Records"][0]
    assert notifications(record["body"])[0].key.startswith("staging/")


class RejectEverything:
    """A stand-in malware scanner that flags every object."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def scan(self, store: Any, obj: Any, leading: bytes) -> str | None:
        self.seen.append(obj.key)
        return "malware signature EICAR found"


def test_scanner_hook_can_reject_valid_content(api: Api, s3: Any, settings: Any, store: Any) -> None:
    # Given a processor with a scanner plugged in, and a genuine PDF staged
    scanner = RejectEverything()
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename="a.pdf")
    # When processed
    outcome = Processor(store, scanner=scanner).process(key)
    # Then the scanner saw it after validation passed, and its verdict quarantined the file
    assert scanner.seen == [key]
    assert outcome.action is Action.QUARANTINED
    assert all_keys(s3) == [key.replace("staging/", "quarantine/", 1)]
    assert api.call("GET", f"/v1/files/{key.split('/')[3]}").body["reason"] == "malware signature EICAR found"


def test_pending_files_are_listed_as_pending(api: Api, s3: Any) -> None:
    # Given an uploaded but unprocessed file
    key = stage(api, SAMPLES["application/pdf"], content_type="application/pdf", s3=s3, filename="a.pdf")
    # When listing pending files, Then it is there, and not among ready ones
    pending = api.call("GET", "/v1/files", query="status=pending").body["items"]
    assert [item["file_id"] for item in pending] == [key.split("/")[3]]
    assert api.call("GET", "/v1/files", query="status=ready").body["items"] == []


@pytest.mark.parametrize(
    ("declared", "completed_with"),
    [(None, None), ("AAAAAAAAAAA=", "true")],
    ids=["no full-object CRC64NVME stored", "stored CRC64NVME differs from the declared one"],
)
def test_multipart_object_without_its_verified_crc64nvme_is_not_promoted(
    s3: Any, processor: Processor, declared: str | None, completed_with: str | None
) -> None:
    # Given a staged object whose declaration says it is multipart (storage must hold its
    # full-object CRC64NVME), written without one, or completed with another value than declared
    data = SAMPLES["audio/mpeg"] + b"\x00" * (5 * 1024 * 1024)
    key = f"staging/alice/audio/{new_file_id(Category.AUDIO)}/a.mp3"
    metadata = {"upvault-name": "a.mp3", "upvault-size": str(len(data)), "upvault-verified-by": "crc64nvme"}
    if declared:
        metadata["upvault-crc64nvme"] = declared
    if completed_with is None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="audio/mpeg", Metadata=metadata)
    else:
        upload = s3.create_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            ContentType="audio/mpeg",
            Metadata=metadata,
            ChecksumAlgorithm="CRC64NVME",
            ChecksumType="FULL_OBJECT",
        )["UploadId"]
        part = s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=data, ChecksumCRC64NVME=crc64nvme_b64(data)
        )
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC64NVME": crc64nvme_b64(data)}]
            },
        )
    # When it is processed
    outcome = processor.process(key, event="ObjectCreated:CompleteMultipartUpload")
    # Then it is quarantined without its bytes: nothing proves these are the declared upload's
    assert outcome.action is Action.QUARANTINED
    assert "CRC64NVME" in (outcome.reason or "") or "declared checksum" in (outcome.reason or "")
    quarantined = key.replace("staging/", "quarantine/", 1)
    assert all_keys(s3) == [quarantined]
    assert s3.head_object(Bucket=BUCKET, Key=quarantined)["ContentLength"] == 0
