"""A cheap health check: storage is asked at most once per few seconds, per process.

``GET /v1/health`` is public. Without a cache every anonymous call would cost a HeadBucket on
top of the Lambda run; with it, a warm function answers from memory, and an outage shows
within :data:`HEALTH_CACHE_SECONDS`. Failures are cached too, so a flood of checks during an
outage does not pile one-second storage timeouts onto the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from upvault.errors import StorageUnavailable

#: How long one storage check answers for (docs/infrastructure.md, "API").
HEALTH_CACHE_SECONDS = 5.0


class CachedHealth:
    """Run ``check`` (raises :class:`StorageUnavailable` when storage is down) at most once per ``ttl``."""

    def __init__(
        self,
        check: Callable[[], None],
        ttl: float = HEALTH_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._valid_until = float("-inf")
        self._failure: StorageUnavailable | None = None

    def __call__(self) -> None:
        """Raise :class:`StorageUnavailable` when the last check (at most ``ttl`` ago) failed."""
        # The routes run in a thread pool: one thread checks, the others wait for its answer.
        with self._lock:
            if self._clock() >= self._valid_until:
                try:
                    self._check()
                    self._failure = None
                except StorageUnavailable as exc:
                    self._failure = exc
                self._valid_until = self._clock() + self._ttl
            failure = self._failure
        if failure is not None:
            raise StorageUnavailable(str(failure))
