"""A small pool of daemon worker threads for transfers.

``ThreadPoolExecutor`` joins its threads when the interpreter exits, and a thread blocked on a
socket read (a part PUT waiting for storage) cannot be woken by closing the socket elsewhere.
After Ctrl-C that would keep the process alive for up to a read timeout. Transfers lose
nothing by being dropped (the journal and storage's parts list make them resumable), so these
threads are daemons: the process exits when its main thread is done.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonPool:
    """Runs submitted callables on up to ``workers`` daemon threads, returning futures."""

    def __init__(self, workers: int, name: str = "upvault-transfer") -> None:
        self.workers = workers
        self.name = name
        self._queue: SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, call: Callable[[], T]) -> Future[T]:
        """Queue ``call``; a thread is started for it if none is idle and the pool is not full.

        The call runs in a copy of the caller's context (as ``asyncio.to_thread`` does), so a
        ``token_provider`` reading a context variable sees the caller's value in the workers.
        """
        future: Future[T] = Future()
        context = contextvars.copy_context()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._queue.put((future, lambda: context.run(call)))
            if self._idle == 0 and len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
        return future

    def shutdown(self) -> None:
        """Cancel queued work and let the threads end (running calls finish on their own)."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, call = item
            if self._closed:
                future.cancel()
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1
