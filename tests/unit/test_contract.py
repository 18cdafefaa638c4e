"""Contracts others rely on: the committed OpenAPI document, health under outage, handler strings."""

from __future__ import annotations

import json
import time
from pathlib import Path

from functions.api.app import create_app
from functions.api.handler import make_handler
from tests.unit.conftest import Api
from upvault.settings import Settings
from upvault.storage import make_clients

ROOT = Path(__file__).resolve().parents[2]


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
