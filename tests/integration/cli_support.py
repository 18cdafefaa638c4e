"""Helpers to drive the real ``upvault`` CLI process against a local stack, and to watch its traffic.

:class:`ForwardProxy` is a plain HTTP forward proxy the CLI reaches through ``HTTP_PROXY`` (httpx
honours it, as it would a corporate proxy). Presigned URLs keep their Host, so signatures stay
valid; the proxy records every request (API and storage), and can hold chosen part uploads
so that a test kills the CLI at a known point and then drops them, unsent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from local.devstack import LocalStack

#: The console script (.venv/bin/upvault) of this interpreter's venv.
UPVAULT = str(Path(sys.executable).parent / "upvault")
#: Headers a proxy must not pass on (RFC 9110 hop-by-hop, and the proxy's own).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding"}
)


@dataclass
class Seen:
    """One request that went through the proxy."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # 0: held and dropped (never forwarded)

    @property
    def part_number(self) -> int | None:
        """For a part PUT, its number."""
        values = parse_qs(urlsplit(self.url).query).get("partNumber")
        return int(values[0]) if values else None

    @property
    def path(self) -> str:
        """The URL's path."""
        return urlsplit(self.url).path


@dataclass
class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 that records, and can hold, requests."""

    seen: list[Seen] = field(default_factory=list)
    #: Requests for which this returns True wait until :meth:`drop_held` (then they fail unsent).
    hold: Callable[[Seen], bool] | None = None
    in_flight_parts: int = 0
    max_in_flight_parts: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._drop = threading.Event()
        self.held = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            do_PUT = do_POST = do_DELETE = do_HEAD = do_GET  # noqa: N815 - http.server names them so

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._http = httpx.Client(trust_env=False, timeout=120)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (for ``HTTP_PROXY``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving (held requests are dropped)."""
        self._drop.set()
        self.server.shutdown()
        self.server.server_close()
        self._http.close()

    def drop_held(self) -> None:
        """Fail every held request without forwarding it, and hold nothing from now on."""
        self.hold = None
        self._drop.set()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        """Record, maybe hold, forward, answer."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        seen = Seen(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.seen.append(seen)
            part = seen.part_number is not None
            if part:
                self.in_flight_parts += 1
                self.max_in_flight_parts = max(self.max_in_flight_parts, self.in_flight_parts)
        try:
            if self.hold is not None and self.hold(seen):
                with self._lock:
                    self.held += 1
                self._drop.wait(120)
                handler.close_connection = True
                return
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                response = self._http.request(handler.command, handler.path, headers=headers, content=body)
            except httpx.TransportError as exc:
                response = httpx.Response(502, text=f"proxy: {exc}")
        finally:
            if part:
                with self._lock:
                    self.in_flight_parts -= 1
        seen.status = response.status_code
        handler.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in HOP_BY_HOP | {"content-length", "content-encoding"}:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(response.content)

    def parts(self, status: int = 200) -> list[int]:
        """Numbers of part PUTs that got ``status`` (0: held and dropped), in order."""
        return [s.part_number for s in self.seen if s.method == "PUT" and s.part_number and s.status == status]

    def api(self, method: str, suffix: str) -> list[Seen]:
        """API requests of one kind."""
        return [s for s in self.seen if s.method == method and "/v1/" in s.path and s.path.endswith(suffix)]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        """Block until ``condition()`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy never saw it; seen: {[(s.method, s.path, s.status) for s in self.seen]}")
            time.sleep(0.05)


def cli_env(stack: LocalStack, user: str, home: Path, proxy: ForwardProxy | None = None) -> dict[str, str]:
    """The environment of a user at a terminal: the stack's URL, their token, their own dirs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("UPVAULT_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        UPVAULT_API_URL=stack.api_url,
        UPVAULT_TOKEN=stack.token(user),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        PYTHONUNBUFFERED="1",
    )
    if proxy is not None:
        env["HTTP_PROXY"] = proxy.url
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``upvault ARGS`` to the end (stdin closed, output captured: not a terminal)."""
    return subprocess.run(
        [UPVAULT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``upvault ARGS`` in the background."""
    return subprocess.Popen(
        [UPVAULT, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
