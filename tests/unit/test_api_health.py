"""The public health check is cheap: one storage check answers for a few seconds."""

from __future__ import annotations

from typing import Any

import pytest

from functions.api.app import create_app
from functions.api.handler import make_handler as make_api_handler
from functions.api.health import HEALTH_CACHE_SECONDS, CachedHealth
from tests.unit.conftest import Api
from upvault.errors import StorageUnavailable
from upvault.settings import Settings
from upvault.storage import S3Clients


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Storage:
    """A storage check that counts its calls and fails while ``down``."""

    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def ping(self) -> None:
        self.calls += 1
        if self.down:
            raise StorageUnavailable("bucket not reachable: ConnectTimeoutError")


def test_one_check_answers_for_the_cache_lifetime_then_storage_is_asked_again() -> None:
    # Given a cached health check over storage that answers
    clock, storage = Clock(), Storage()
    health = CachedHealth(storage.ping, ttl=5, clock=clock)
    # When it is asked many times within five seconds
    for _ in range(50):
        health()
        clock.now += 0.09
    # Then storage was asked once
    assert storage.calls == 1
    # When the lifetime has passed and storage is down
    clock.now += 1
    storage.down = True
    # Then the next check asks storage and reports the outage, and so does every check after it
    # within the lifetime, without asking storage again (no pile of timeouts during an outage)
    for _ in range(3):
        with pytest.raises(StorageUnavailable, match="bucket not reachable"):
            health()
    assert storage.calls == 2
    # When storage is back and the lifetime has passed
    storage.down = False
    clock.now += 5
    # Then health is good again
    health()
    assert storage.calls == 3


def test_health_route_asks_storage_once_per_lifetime(settings: Settings, clients: S3Clients) -> None:
    # Given the API on moto, counting the HeadBucket calls its health check makes
    app = create_app(settings, clients)
    head_buckets: list[dict[str, Any]] = []
    clients.health.meta.events.register("before-call.s3.HeadBucket", lambda **kw: head_buckets.append(kw))
    api = Api(make_api_handler(app))
    # When anonymous callers hit /v1/health ten times in a row
    statuses = [api.call("GET", "/v1/health", user=None).status for _ in range(10)]
    # Then all get 200, and storage was asked once: the result answers for a few seconds
    assert statuses == [200] * 10
    assert len(head_buckets) == 1
    assert 0 < HEALTH_CACHE_SECONDS <= 10
