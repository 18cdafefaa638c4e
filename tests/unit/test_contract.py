"""Contracts others rely on: the committed OpenAPI document, health under outage, handler strings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from functions.api import handler as api_entry
from functions.api.app import create_app
from functions.api.handler import make_handler
from local.lambda_context import LocalLambdaContext
from tests.support import apigw_event
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
