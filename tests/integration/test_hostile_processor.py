"""The processor against a hostile uploader, on MinIO: what it publishes is exactly what it checked.

The core (API use cases and processor) runs in process on a real MinIO bucket; races are made
deterministic with a store whose hooks act at the exact step an attacker (or the owner) would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.minio import MinioServer
from tests.support import SAMPLES, sha256_b64
from upvault import object_metadata
from upvault.files import FileService
from upvault.keys import ObjectKey
from upvault.models import Category, Checksums, Status, UploadRequest
from upvault.processing import Action, Processor
from upvault.settings import Settings
from upvault.storage import ObjectStore, make_clients
from upvault.uploads import UploadService

PDF = SAMPLES["application/pdf"]
#: HTML of exactly the PDF's length: same size check, other bytes.
HTML = (b"<html><script>alert(document.cookie)</script>" + b" " * len(PDF))[: len(PDF) - 8] + b"</html>\n"


class HookedStore(ObjectStore):
    """The real store; ``before_read``/``before_copy``/``before_purge`` run at those steps,
    ``after_first_key`` after each one-key LIST (a lookup by id) with the prefix it listed."""

    before_read: Callable[[], None] = staticmethod(lambda: None)
    before_copy: Callable[[], None] = staticmethod(lambda: None)
    before_purge: Callable[[], None] = staticmethod(lambda: None)
    after_first_key: Callable[[str], None] = staticmethod(lambda prefix: None)

    def read_leading_bytes(self, key: str, length: int, *, version_id: str | None = None) -> bytes:
        self.before_read()
        return super().read_leading_bytes(key, length, version_id=version_id)

    def copy(self, source_key: str, dest_key: str, **kwargs: Any) -> None:
        if kwargs.get("metadata") is not None:  # the processor's copy (restore copies too)
            self.before_copy()
        super().copy(source_key, dest_key, **kwargs)

    def first_key(self, prefix: str) -> str | None:
        found = super().first_key(prefix)
        self.after_first_key(prefix)
        return found

    def purge_up_to(self, key: str, version_id: str | None) -> None:
        self.before_purge()  # the processor's last step: its checks are all done
        super().purge_up_to(key, version_id)


@dataclass
class Core:
    """The core on one MinIO bucket, and an admin client to look behind it."""

    store: HookedStore
    uploads: UploadService
    files: FileService
    processor: Processor
    admin: Any
    bucket: str

    def stage(self, data: bytes, *, user: str = "alice", name: str = "statement.pdf") -> ObjectKey:
        """Declare ``data`` as a PDF and PUT it with the presigned request, as a browser does."""
        ticket = self.uploads.start_upload(
            user,
            UploadRequest(name, "application/pdf", len(data), Category.DOCUMENTS, Checksums(sha256=sha256_b64(data))),
        )
        assert ticket.single is not None
        headers = {k: v for k, v in ticket.single.headers.items() if k != "Content-Length"}
        assert httpx.put(ticket.single.url, content=data, headers=headers).status_code == 200
        return self.staged(user, ticket.file_id)

    def staged(self, user: str, file_id: str) -> ObjectKey:
        """The staged key of a file."""
        listed = self.admin.list_objects_v2(Bucket=self.bucket, Prefix=f"staging/{user}/").get("Contents", [])
        return ObjectKey.parse(next(o["Key"] for o in listed if f"/{file_id}/" in o["Key"]))

    def put_staged(self, key: ObjectKey, data: bytes, metadata: dict[str, str]) -> str:
        """Store another version at a staged key, declared and checksummed (as a re-used URL would)."""
        response = self.admin.put_object(
            Bucket=self.bucket,
            Key=str(key),
            Body=data,
            ContentType="application/pdf",
            Metadata={**metadata, object_metadata.SHA256: sha256_b64(data)},
            ChecksumSHA256=sha256_b64(data),
        )
        return str(response["VersionId"])

    def body(self, key: ObjectKey) -> bytes | None:
        """The current bytes at ``key``, or ``None``."""
        try:
            return bytes(self.admin.get_object(Bucket=self.bucket, Key=str(key))["Body"].read())
        except self.admin.exceptions.NoSuchKey:
            return None


@pytest.fixture
def core(minio: MinioServer, minio_s3: Any, bucket: str) -> Core:
    """The core on a fresh versioned bucket."""
    minio_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    settings = Settings(
        bucket=bucket,
        endpoint_url=minio.endpoint_url,
        access_key_id=minio.root_user,
        secret_access_key=minio.root_password,
    )
    store = HookedStore(settings, make_clients(settings))
    return Core(store, UploadService(settings, store), FileService(store), Processor(store), minio_s3, bucket)


def test_bytes_swapped_between_check_and_copy_are_never_published(core: Core) -> None:
    # Given a staged upload whose first version is an HTML page of the declared length
    key = core.stage(PDF)
    metadata = core.admin.head_object(Bucket=core.bucket, Key=str(key))["Metadata"]
    html_version = core.put_staged(key, HTML, metadata)
    # and an attacker who re-PUTs a valid PDF right after the processor HEADed the HTML
    core.store.before_read = lambda: core.put_staged(key, PDF, metadata) and None
    # When the HTML version's notification is processed
    outcome = core.processor.process(str(key), version_id=html_version)
    # Then the HTML is judged on its own bytes: rejected, and nothing under files/ holds it
    assert outcome.action is Action.QUARANTINED, outcome
    assert core.body(key.moved_to(Status.READY)) is None
    # and a later version of the same file (the PDF) cannot bring the file back to life
    core.store.before_read = lambda: None
    assert core.processor.process(str(key)).action is Action.ALREADY_DONE
    assert core.body(key.moved_to(Status.READY)) is None


@pytest.mark.parametrize("event", ["ObjectCreated:Copy", "ObjectCreated:Put"])
def test_a_server_side_copy_is_never_promoted_and_its_bytes_are_not_kept(core: Core, event: str) -> None:
    # Given Bob's ready file, and Alice's declaration of her own PDF
    bob = core.stage(PDF.replace(b"Catalog", b"Secrets"), user="bob")
    assert core.processor.process(str(bob)).action is Action.PROMOTED
    ticket = core.uploads.start_upload(
        "alice",
        UploadRequest("mine.pdf", "application/pdf", len(PDF), Category.DOCUMENTS, Checksums(sha256=sha256_b64(PDF))),
    )
    assert ticket.single is not None
    # When Alice sends her signed headers plus an unsigned copy of Bob's object (MinIO accepts it:
    # this core signs with its own keys, no signing role, so the processor's rule stands alone)
    headers = {k: v for k, v in ticket.single.headers.items() if k != "Content-Length"}
    headers.update(
        {"x-amz-copy-source": f"/{core.bucket}/{bob.moved_to(Status.READY)}", "x-amz-metadata-directive": "REPLACE"}
    )
    copied = httpx.put(ticket.single.url, content=PDF, headers=headers)
    assert copied.status_code == 200, copied.text
    assert "CopyObjectResult" in copied.text
    alice = core.staged("alice", ticket.file_id)
    # and the processor sees the copy's event (or a forged "Put" for it)
    outcome = core.processor.process(str(alice), event=event)
    # Then it is rejected, its quarantine entry holds no bytes, and Alice has nothing of Bob's
    assert outcome.action is Action.QUARANTINED, outcome
    assert core.body(alice.moved_to(Status.READY)) is None
    assert core.body(alice.moved_to(Status.REJECTED)) == b""
    assert core.files.get("alice", ticket.file_id).status is Status.REJECTED


def test_an_upload_for_a_finished_file_is_recorded_and_ignored(core: Core) -> None:
    # Given a ready file
    key = core.stage(PDF)
    assert core.processor.process(str(key)).action is Action.PROMOTED
    # When another version lands at its staged key (a URL replayed after processing)
    metadata = core.admin.head_object(Bucket=core.bucket, Key=str(key.moved_to(Status.READY)))["Metadata"]
    other = PDF.replace(b"Catalog", b"Forgery")
    version = core.put_staged(key, other, metadata)
    outcome = core.processor.process(str(key), version_id=version)
    # Then it is recorded as already done, removed, and the ready file is untouched
    assert outcome.action is Action.ALREADY_DONE, outcome
    assert core.body(key.moved_to(Status.READY)) == PDF
    assert core.body(key.moved_to(Status.REJECTED)) is None
    assert core.body(key) is None


@pytest.mark.parametrize("when", ["before the copy", "after the processor's last check"])
def test_a_delete_during_promotion_wins(core: Core, when: str) -> None:
    # Given a staged upload, and its owner deleting the file while the processor works on it
    key = core.stage(PDF)
    answered: list[str] = []

    def owner_deletes() -> None:
        core.files.delete("alice", key.file_id)
        answered.append("204")

    if when == "before the copy":
        core.store.before_copy = owner_deletes
    else:
        core.store.before_purge = owner_deletes
    # When the processor promotes it
    outcome = core.processor.process(str(key))
    # Then the delete (answered 204) wins: the file is gone and no copy of it is visible
    assert answered == ["204"]
    assert outcome.action in (Action.DELETED, Action.PROMOTED)
    assert core.body(key.moved_to(Status.READY)) is None
    with pytest.raises(Exception, match="no file"):
        core.files.get("alice", key.file_id)


def test_a_delete_looking_up_a_file_while_it_is_promoted_still_finds_it(core: Core) -> None:
    # Given a staged upload, and a delete whose lookup by id has just found nothing under files/
    # (the processor had not copied yet) when the processor promotes the file in one go
    key = core.stage(PDF)
    outcomes = []

    def processor_promotes(prefix: str) -> None:
        if prefix.startswith("files/") and not outcomes:
            outcomes.append(core.processor.process(str(key)))

    core.store.after_first_key = processor_promotes
    # When its owner's delete goes on looking (staging/: already purged by the processor)
    core.files.delete("alice", key.file_id)
    # Then the delete found the file where it moved to, and a 204 is final: nothing is visible
    assert [outcome.action for outcome in outcomes] == [Action.PROMOTED]
    assert core.body(key.moved_to(Status.READY)) is None
    assert core.body(key) is None
    with pytest.raises(Exception, match="no file"):
        core.files.get("alice", key.file_id)
