"""Races a hostile (or unlucky) client can start, on the MinIO stack over HTTP: bounded in count
and time, each ending in answers that say what happened and a state that matches them.

The deterministic versions of the delete race (a hook at the exact step) are in
``test_hostile_processor.py``; here the real event path runs them as a client would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from local.devstack import LocalStack
from tests.integration.live import Client, put_presigned, settled_areas, unique_user
from tests.support import SAMPLES

MIB = 1024 * 1024
PDF = SAMPLES["application/pdf"]
BIG = SAMPLES["audio/mpeg"] + b"\x03" * (6 * MIB)
#: Bounds: trials per race and the wall time they may take together.
TRIALS = 6
BUDGET_SECONDS = 60


@pytest.fixture
def client(minio_stack: LocalStack) -> Iterator[Client]:
    """A fresh user on the MinIO stack."""
    client = Client(minio_stack, unique_user("racer"))
    yield client
    client.http.close()


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Start ``calls`` together (one thread each) and return their answers in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_concurrent_completes_make_exactly_one_file(client: Client, minio_stack: LocalStack) -> None:
    # Given a multipart upload with every part stored
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3")
    # When four completes race
    answers = at_once(*[lambda: client.complete(file_id, etags)] * 4)
    # Then exactly one completes (200), the others are told it is already complete (409), none 5xx
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    # and exactly one file results: ready, once
    assert client.wait_final(file_id)["status"] == "ready"
    assert settled_areas(minio_stack, file_id) == ["files"]


def test_complete_racing_abort_answers_what_happened(client: Client) -> None:
    started = time.monotonic()
    for _ in range(TRIALS):
        # Given a multipart upload with every part stored
        file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3")
        # When complete and abort race
        done, aborted = at_once(
            lambda file_id=file_id, etags=etags: client.complete(file_id, etags),  # type: ignore[misc]
            lambda file_id=file_id: client.http.delete(f"/uploads/{file_id}"),  # type: ignore[misc]
        )
        # Then one wins and the other says so (never a 5xx), and the state is the winner's
        outcome = (done.status_code, aborted.status_code)
        assert outcome in {(200, 409), (404, 204)}, (done.text, aborted.text)
        if outcome == (200, 409):
            assert client.wait_final(file_id)["status"] == "ready"
        else:
            assert client.file(file_id).status_code == 404
        assert time.monotonic() - started < BUDGET_SECONDS


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.006, 0.012, 0.025, 0.05])
def test_a_delete_racing_the_processor_is_final(client: Client, minio_stack: LocalStack, delay: float) -> None:
    # Given an upload whose bytes just arrived (the processor starts on it within milliseconds)
    created = client.declare(PDF, "application/pdf", filename="a.pdf").json()
    assert put_presigned(created["upload"], PDF).status_code == 200
    file_id = created["file_id"]
    # When its owner deletes it a few milliseconds later, while the processor may be mid-flight
    time.sleep(delay)
    deleted = client.http.delete(f"/files/{file_id}")
    # Then a 204 is final: once the processor is done, the file is in no area and unknown. (A
    # delete whose lookup ran while the file moved from staging/ to files/ used to find it in
    # neither and answer 404, leaving it ready: made deterministic in test_hostile_processor.py,
    # test_a_delete_looking_up_a_file_while_it_is_promoted_still_finds_it.)
    assert deleted.status_code == 204, deleted.text
    final = _settle(lambda: client.file(file_id))
    assert final.status_code == 404, final.text
    assert settled_areas(minio_stack, file_id) == []
    assert file_id not in client.listed()


def _settle(read: Callable[[], httpx.Response], seconds: float = 5.0) -> Any:
    """The last of several reads over ``seconds``: a late promotion would show up in one."""
    deadline = time.monotonic() + seconds
    answer = read()
    while time.monotonic() < deadline:
        answer = read()
        if answer.status_code != 404:
            return answer
        time.sleep(0.25)
    return answer
