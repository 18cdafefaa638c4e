"""Contracts others rely on: the committed OpenAPI document, health under outage, handler strings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functions.api import handler as api_entry
from functions.api.app import create_app
from functions.api.handler import make_handler
from local.lambda_context import LocalLambdaContext
from tests.support import SAMPLES, apigw_event
from tests.unit.conftest import Api, put_presigned
from upvault.settings import MIB, Settings
from upvault.storage import make_clients

ROOT = Path(__file__).resolve().parents[2]
_OPENAPI = json.loads((ROOT / "docs" / "openapi.json").read_text())


@pytest.fixture(scope="module")
def down_api() -> Api:
    """The API with storage on a port nothing listens on (one attempt: refused at once)."""
    settings = Settings(
        bucket="upvault-test",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="k",
        secret_access_key="s",
        storage_max_attempts=1,
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
    )
    return Api(make_handler(create_app(settings, make_clients(settings))))


def test_committed_openapi_is_current() -> None:
    # Given the app's OpenAPI and the committed docs/openapi.json
    live = create_app(Settings(bucket="openapi-example")).openapi()
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    # Then they are equal (regenerate with `make openapi`)
    assert committed == json.loads(json.dumps(live)), "docs/openapi.json is stale: run `make openapi`"


def test_health_is_503_quickly_when_storage_is_unreachable() -> None:
    # Given storage on a port nothing listens on
    settings = Settings(
        bucket="upvault-test", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"
    )
    api = Api(make_handler(create_app(settings, make_clients(settings))))
    # When health is checked
    started = time.monotonic()
    response = api.call("GET", "/v1/health", user=None)
    # Then 503 problem within the short health timeout, and no stack trace
    assert response.status == 503
    assert response.body["type"] == "urn:upvault:problem:storage-unavailable"
    assert time.monotonic() - started < 5
    # and any other call that needs storage is a 503 problem too, not a 500
    files = api.call("GET", "/v1/files")
    assert files.status == 503


def test_no_network_at_import_and_handler_strings_resolve() -> None:
    # Given the handler strings the CDK stack uses, When imported (no storage exists), Then they resolve
    from importlib import import_module

    for dotted in ("functions.api.handler.handler", "functions.processor.handler.handler"):
        module, _, name = dotted.rpartition(".")
        assert callable(getattr(import_module(module), name))


# -- the OpenAPI documents exactly the problems each route answers -----------------------------

UNKNOWN = "01M88A9NNXFE5G0HW0G2XWHCYD"  # a well-formed id nobody was issued
DECLARE = {
    "filename": "a.pdf",
    "content_type": "application/pdf",
    "size": 100,
    "category": "documents",
    "checksums": {"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
}
BIG_AUDIO = {
    "filename": "a.mp3",
    "content_type": "audio/mpeg",
    "size": 11 * MIB,
    "category": "audio",
    "checksums": {"crc64nvme": "AAAAAAAAAAA="},
}
PARTS = {"parts": [{"part_number": 1, "etag": "x"}]}
SIGN = {"parts": [{"part_number": 1}]}
UNKNOWN_KEY = f"staging/alice/documents/{UNKNOWN}/a.pdf"
S3_CREATE = {"method": "POST", "key": UNKNOWN_KEY}
S3_COMPLETE = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"


class World:
    """Files in each state a route can meet, created on demand."""

    def __init__(self, api: Api, ready_file: Any) -> None:
        self.api = api
        self._ready_file = ready_file

    def ready(self) -> str:
        return str(self._ready_file(SAMPLES["application/pdf"]))

    def multipart(self) -> str:
        return str(self.multipart_declared()["file_id"])

    def multipart_key(self) -> str:
        """The key of a multipart upload the API runs itself (not one for presigned S3 requests)."""
        return str(self.multipart_declared()["key"])

    def multipart_declared(self) -> Any:
        response = self.api.call("POST", "/v1/uploads", body=BIG_AUDIO)
        assert response.status == 201, response.body
        return response.body

    def staged(self) -> str:
        """A single-PUT upload whose bytes are stored, not yet processed (pending)."""
        data = SAMPLES["application/pdf"]
        response = self.api.upload(data, content_type="application/pdf", filename="a.pdf")
        assert put_presigned(response.body["upload"], data).status_code == 200
        return str(response.body["file_id"])


Request = tuple[str, Any, str]  # (path, body, query)
Case = tuple[str, str, int, Callable[[World], Request]]

#: For each route and each problem status it can answer, one request that gets it.
CASES: list[Case] = [
    ("POST", "/v1/uploads", 400, lambda w: ("/v1/uploads", b"{not json", "")),
    ("POST", "/v1/uploads", 413, lambda w: ("/v1/uploads", {**DECLARE, "size": 10**12}, "")),
    ("POST", "/v1/uploads", 415, lambda w: ("/v1/uploads", {**DECLARE, "content_type": "text/html"}, "")),
    ("POST", "/v1/uploads", 422, lambda w: ("/v1/uploads", {**DECLARE, "size": 0}, "")),
    ("GET", "/v1/uploads/{upload_id}/parts", 404, lambda w: (f"/v1/uploads/{UNKNOWN}/parts", None, "")),
    ("GET", "/v1/uploads/{upload_id}/parts", 409, lambda w: (f"/v1/uploads/{w.staged()}/parts", None, "")),
    ("POST", "/v1/uploads/{upload_id}/parts", 400, lambda w: (f"/v1/uploads/{UNKNOWN}/parts", b"{", "")),
    ("POST", "/v1/uploads/{upload_id}/parts", 404, lambda w: (f"/v1/uploads/{UNKNOWN}/parts", SIGN, "")),
    ("POST", "/v1/uploads/{upload_id}/parts", 409, lambda w: (f"/v1/uploads/{w.ready()}/parts", SIGN, "")),
    ("POST", "/v1/uploads/{upload_id}/parts", 422, lambda w: (f"/v1/uploads/{UNKNOWN}/parts", {"parts": []}, "")),
    ("POST", "/v1/uploads/{upload_id}/complete", 400, lambda w: (f"/v1/uploads/{w.multipart()}/complete", PARTS, "")),
    ("POST", "/v1/uploads/{upload_id}/complete", 404, lambda w: (f"/v1/uploads/{UNKNOWN}/complete", PARTS, "")),
    ("POST", "/v1/uploads/{upload_id}/complete", 409, lambda w: (f"/v1/uploads/{w.ready()}/complete", PARTS, "")),
    ("POST", "/v1/uploads/{upload_id}/complete", 422, lambda w: (f"/v1/uploads/{UNKNOWN}/complete", {}, "")),
    ("POST", "/v1/uploads/s3-requests", 400, lambda w: ("/v1/uploads/s3-requests", b"{", "")),
    ("POST", "/v1/uploads/s3-requests", 404, lambda w: ("/v1/uploads/s3-requests", S3_CREATE, "")),
    (
        "POST",
        "/v1/uploads/s3-requests",
        409,
        lambda w: ("/v1/uploads/s3-requests", {"method": "POST", "key": w.multipart_key()}, ""),
    ),
    (
        "POST",
        "/v1/uploads/s3-requests",
        422,
        lambda w: ("/v1/uploads/s3-requests", {**S3_CREATE, "method": "HEAD"}, ""),
    ),
    ("POST", "/v1/uploads/{upload_id}/s3-complete", 400, lambda w: (f"/v1/uploads/{UNKNOWN}/s3-complete", "<x/>", "")),
    (
        "POST",
        "/v1/uploads/{upload_id}/s3-complete",
        404,
        lambda w: (f"/v1/uploads/{UNKNOWN}/s3-complete", S3_COMPLETE, ""),
    ),
    (
        "POST",
        "/v1/uploads/{upload_id}/s3-complete",
        409,
        lambda w: (f"/v1/uploads/{w.ready()}/s3-complete", S3_COMPLETE, ""),
    ),
    (
        "POST",
        "/v1/uploads/{upload_id}/s3-complete",
        422,
        lambda w: (f"/v1/uploads/{UNKNOWN}/s3-complete", S3_COMPLETE, "crc64nvme=" + "A" * 65),
    ),
    ("DELETE", "/v1/uploads/{upload_id}", 404, lambda w: (f"/v1/uploads/{UNKNOWN}", None, "")),
    ("DELETE", "/v1/uploads/{upload_id}", 409, lambda w: (f"/v1/uploads/{w.ready()}", None, "")),
    ("GET", "/v1/files", 422, lambda w: ("/v1/files", None, "limit=0")),
    ("GET", "/v1/files/{file_id}", 404, lambda w: (f"/v1/files/{UNKNOWN}", None, "")),
    ("GET", "/v1/files/{file_id}/download", 404, lambda w: (f"/v1/files/{UNKNOWN}/download", None, "")),
    ("GET", "/v1/files/{file_id}/download", 409, lambda w: (f"/v1/files/{w.staged()}/download", None, "")),
    ("DELETE", "/v1/files/{file_id}", 404, lambda w: (f"/v1/files/{UNKNOWN}", None, "")),
    ("POST", "/v1/files/{file_id}/restore", 404, lambda w: (f"/v1/files/{UNKNOWN}/restore", None, "")),
    ("POST", "/v1/files/{file_id}/restore", 409, lambda w: (f"/v1/files/{w.ready()}/restore", None, "")),
]
ROUTES = [(method.upper(), path) for path, item in _OPENAPI["paths"].items() for method in item]
PUBLIC = {("GET", "/v1/health"), ("GET", "/v1/limits")}
#: Routes that never call storage: they publish settings.
NO_STORAGE = {("GET", "/v1/limits")}
#: Every other route calls storage; a multipart declaration does (a single PUT is only signed).
STORAGE_DOWN: dict[str, Any] = {
    "POST /v1/uploads": BIG_AUDIO,
    "POST /v1/uploads/{upload_id}/parts": SIGN,
    "POST /v1/uploads/{upload_id}/complete": PARTS,
    "POST /v1/uploads/s3-requests": S3_CREATE,
    "POST /v1/uploads/{upload_id}/s3-complete": S3_COMPLETE,
}


def documented(method: str, template: str) -> set[int]:
    """The problem statuses the committed OpenAPI documents for one route."""
    responses = _OPENAPI["paths"][template][method.lower()]["responses"]
    return {int(status) for status in responses if int(status) >= 400}


def reachable(method: str, template: str) -> set[int]:
    """The problem statuses this module shows the route answering."""
    statuses = {status for m, t, status, _ in CASES if (m, t) == (method, template)}
    if (method, template) not in NO_STORAGE:
        statuses.add(503)
    return statuses if (method, template) in PUBLIC else statuses | {401}


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_each_route_documents_exactly_the_problems_it_answers(method: str, template: str) -> None:
    # Given a route of the committed document, When its problem responses are compared with
    # the statuses the cases below reach, Then they are the same: none missing, none invented
    assert documented(method, template) == reachable(method, template)


@pytest.mark.parametrize(
    ("method", "template", "status", "request_of"), CASES, ids=[f"{m} {t} {s}" for m, t, s, _ in CASES]
)
def test_route_answers_its_documented_problem(
    api: Api, ready_file: Any, method: str, template: str, status: int, request_of: Callable[[World], Request]
) -> None:
    # Given a file in the state the case needs
    path, body, query = request_of(World(api, ready_file))
    # When the request is made
    response = api.call(method, path, body=body, query=query)
    # Then the route answers the status as a problem, and documents it
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert status in documented(method, template)


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_every_route_answers_401_without_a_token_unless_public(api: Api, method: str, template: str) -> None:
    # Given no authorizer claims
    path = template.format(upload_id=UNKNOWN, file_id=UNKNOWN)
    # When the route is called
    response = api.call(method, path, user=None, body=STORAGE_DOWN.get(f"{method} {template}", {}))
    # Then a protected route answers 401, the public one does not
    assert (response.status == 401) is ((method, template) not in PUBLIC), response.body


STORAGE_ROUTES = [route for route in ROUTES if route not in NO_STORAGE]


@pytest.mark.parametrize(("method", "template"), STORAGE_ROUTES, ids=[f"{m} {t}" for m, t in STORAGE_ROUTES])
def test_every_route_answers_503_when_storage_is_down(down_api: Api, method: str, template: str) -> None:
    # Given storage nothing answers for, When the route is called with valid input
    path = template.format(upload_id=UNKNOWN, file_id=UNKNOWN)
    response = down_api.call(method, path, body=STORAGE_DOWN.get(f"{method} {template}"))
    # Then it is a 503 problem, never a 500
    assert response.status == 503, response.body
    assert response.body["type"] == "urn:upvault:problem:storage-unavailable"


#: Imports both Lambda entry modules, then invokes the API's, in a fresh interpreter.
_IMPORT_THEN_INVOKE = """
import functions.api.handler, functions.processor.handler
print("imported", flush=True)
functions.api.handler.handler({}, None)
"""


def test_importing_a_handler_reads_no_configuration() -> None:
    # Given an environment without any UPVAULT_* variable (the bucket is required)
    env = {name: value for name, value in os.environ.items() if not name.startswith("UPVAULT_")}
    # When the handler modules are imported, then the API handler is invoked
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_THEN_INVOKE], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    # Then importing succeeds, and the first invocation is what validates the settings
    assert result.stdout.strip() == "imported", result.stderr
    assert result.returncode != 0
    assert "SettingsError" in result.stderr and "UPVAULT_BUCKET" in result.stderr


def test_the_api_handler_builds_the_app_once_per_cold_start() -> None:
    # Given a fresh execution environment (UPVAULT_BUCKET is set for the test session)
    api_entry.cold_start.cache_clear()
    try:
        context = LocalLambdaContext(function_name="upvault-api")
        # When two public requests arrive
        first = api_entry.handler(apigw_event("GET", "/v1/openapi.json"), context)
        second = api_entry.handler(apigw_event("GET", "/v1/openapi.json"), context)
        # Then both are answered by one app, built on the first call
        assert (first["statusCode"], second["statusCode"]) == (200, 200)
        assert api_entry.cold_start.cache_info().misses == 1
    finally:
        api_entry.cold_start.cache_clear()
