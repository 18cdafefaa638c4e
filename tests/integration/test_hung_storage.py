"""A hung store never freezes the API server: health still answers within its short timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from local.dev_issuer import DevIssuer
from local.devstack import build_api
from local.ports import free_port
from upvault.settings import Settings


@pytest.fixture
def hung_storage() -> Iterator[str]:
    """A TCP endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.integration
def test_health_answers_while_another_request_hangs_on_storage(hung_storage: str, tmp_path: Path) -> None:
    # Given the local API server (uvicorn, as `make dev` runs it) whose storage hangs
    issuer = DevIssuer(tmp_path)
    issuer.ensure_keys()
    settings = Settings(
        bucket="upvault-test",
        endpoint_url=hung_storage,
        access_key_id="k",
        secret_access_key="s",
        storage_read_timeout=5,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_api(settings, issuer.verifier()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    token = issuer.mint("alice")
    try:
        # When a listing is stuck waiting for storage (3 attempts x 5 s)
        stuck = threading.Thread(
            target=lambda: httpx.get(
                f"http://127.0.0.1:{port}/v1/files", timeout=60, headers={"Authorization": f"Bearer {token}"}
            ),
            daemon=True,
        )
        stuck.start()
        time.sleep(0.5)
        # Then a health check still answers 503 within its own short timeout
        started = time.monotonic()
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=30)
        assert health.status_code == 503
        assert health.headers["content-type"] == "application/problem+json"
        assert time.monotonic() - started < 4
        assert stuck.is_alive()  # the listing really was still hanging meanwhile
    finally:
        server.should_exit = True
        thread.join(30)
