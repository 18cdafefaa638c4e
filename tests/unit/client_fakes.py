"""httpx transports that put the Python client in front of the unit tier's in-process AWS.

* :class:`LambdaApi`: each request becomes an API Gateway HTTP API event for the real API
  Lambda handler; the bearer token stands for the verified ``sub`` (the JWT authorizer's job).
* :class:`MotoStorage`: presigned requests go to moto (through ``requests``, which
  ``mock_aws`` intercepts), and a stored object's S3 event reaches the processor at once.

Both record what the client sent, so tests assert the bytes and headers on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import requests

from local.lambda_context import LocalLambdaContext
from tests.support import apigw_event

BUCKET = "upvault-test"
#: A token the fake authorizer refuses (no claims reach the function: 401).
BAD_TOKEN = "not-a-valid-token"


@dataclass
class Sent:
    """One request as the client sent it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        """The JSON body."""
        return json.loads(self.body)

    @property
    def part_number(self) -> int | None:
        """For a part PUT, its number."""
        values = self.query.get("partNumber")
        return int(values[0]) if values else None


@dataclass
class LambdaApi(httpx.BaseTransport):
    """The API Lambda handler behind a fake API Gateway."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    #: Called with the file id after a successful ``complete`` (the S3 event of the assembled object).
    on_complete: Callable[[str], None] | None = None
    #: Optional stand-in for another API answer: returns a response to send instead, or None.
    intercept: Callable[[Sent], httpx.Response | None] | None = None
    #: Optional change of a successful JSON answer (what a newer API would add to it).
    rewrite: Callable[[Sent, Any], Any] | None = None
    sent: list[Sent] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        claims = None if token in ("", BAD_TOKEN) else {"sub": token, "iss": "https://issuer.example", "aud": "upvault"}
        body = request.read()
        sent = Sent(request.method, request.url.path, parse_qs(request.url.query.decode()), dict(request.headers), body)
        self.sent.append(sent)
        replaced = self.intercept(sent) if self.intercept else None
        if replaced is not None:
            sent.status = replaced.status_code
            return replaced
        event = apigw_event(
            request.method,
            request.url.path,
            claims=claims,
            body=body or None,
            query=request.url.query.decode(),
        )
        _ensure_event_loop()  # Mangum wants one; part URLs are signed from the client's worker threads
        result = self.handler(event, LocalLambdaContext(function_name="upvault-api"))
        raw = result.get("body") or ""
        content = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        sent.status = result["statusCode"]
        if sent.status == 200 and request.url.path.endswith("/complete") and self.on_complete:
            self.on_complete(request.url.path.split("/")[-2])
        headers = result.get("headers", {})
        if self.rewrite is not None and sent.status < 300 and content:
            content = json.dumps(self.rewrite(sent, json.loads(content))).encode()
            headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        return httpx.Response(result["statusCode"], headers=headers, content=content)

    def calls(self, method: str, suffix: str) -> list[Sent]:
        """Requests of one kind (``"POST", "/parts"``)."""
        return [s for s in self.sent if s.method == method and s.path.endswith(suffix)]


@dataclass
class MotoStorage(httpx.BaseTransport):
    """Presigned requests to moto; a finished single PUT reaches the processor like an S3 event."""

    process: Callable[[str], Any]
    #: Optional failure injection: returns a response to send instead of forwarding, or None.
    fail: Callable[[Sent], httpx.Response | None] | None = None
    #: Optional change of a forwarded response's body (to corrupt a download).
    tamper: Callable[[bytes], bytes] | None = None
    #: Optional: forward the request, then answer 500 anyway (an answer lost on the way back).
    lose_answer: Callable[[Sent], bool] | None = None
    sent: list[Sent] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._forward(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(self, request: httpx.Request) -> httpx.Response:
        body = request.read()  # consumes the client's streamed body, as a socket would
        url = urlsplit(str(request.url))
        sent = Sent(request.method, unquote(url.path), parse_qs(url.query), dict(request.headers), body)
        with self._lock:
            self.sent.append(sent)
        injected = self.fail(sent) if self.fail else None
        if injected is not None:
            sent.status = injected.status_code
            return injected
        forwarded = requests.request(
            request.method, str(request.url), data=body, headers=dict(request.headers), timeout=30
        )
        sent.status = forwarded.status_code
        key = unquote(url.path).lstrip("/").removeprefix(f"{BUCKET}/")  # virtual-hosted or path style
        if request.method == "PUT" and forwarded.status_code == 200 and "partNumber" not in sent.query:
            self.process(key)
        if self.lose_answer is not None and self.lose_answer(sent):
            return s3_error(500, "InternalError", "the answer was lost")
        content = forwarded.content if self.tamper is None else self.tamper(forwarded.content)
        headers = {
            k: v for k, v in forwarded.headers.items() if k.lower() not in ("content-length", "content-encoding")
        }
        return httpx.Response(forwarded.status_code, headers=headers, content=content)

    def parts(self, status: int = 200) -> list[int]:
        """Part numbers PUT with this answer, in the order sent."""
        return [s.part_number for s in self.sent if s.method == "PUT" and s.part_number and s.status == status]


def _ensure_event_loop() -> None:
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def s3_error(status: int, code: str, message: str) -> httpx.Response:
    """An S3 XML error answer."""
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return httpx.Response(status, content=body.encode(), headers={"Content-Type": "application/xml"})
