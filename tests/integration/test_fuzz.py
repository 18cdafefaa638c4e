"""Property-based fuzzing of the running local stack's API with schemathesis.

Every operation of the OpenAPI document the stack serves (on MinIO) gets generated requests,
valid ones and invalid ones, with a dev token: the API must never answer 5xx, and every answer
must match the documented status codes, content types and schemas. CI runs a bounded number of
examples per operation (``UPVAULT_FUZZ_EXAMPLES``, default 20); ``make fuzz`` runs 500.

(``schemathesis.pytest.from_fixture`` does not work with pytest 9, so each operation is a
parametrised test driving the operation's Hypothesis strategy itself.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.devstack import LocalStack

EXAMPLES = int(os.environ.get("UPVAULT_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Only for the test ids; the test itself fuzzes the document the running stack serves.
COMMITTED = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
OPERATIONS = [(method.upper(), path) for path, item in COMMITTED["paths"].items() for method in item]


@pytest.fixture(scope="session")
def api_schema(minio_stack: LocalStack) -> Any:
    """The OpenAPI document the running stack serves (not the committed copy)."""
    return schemathesis.openapi.from_url(f"{minio_stack.api_url}/v1/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz(api_schema: Any, minio_stack: LocalStack, method: str, path: str) -> None:
    # Given generated requests for one operation of the live document, valid and invalid
    # (an operation whose every input is valid yields no invalid ones), with a valid token
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {minio_stack.token('fuzzer')}"}
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=EXAMPLES <= 20,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        # When each reaches the running stack
        # Then the answer is never a server error and always matches the documented responses
        case.call_and_validate(base_url=minio_stack.api_url, headers=headers, checks=CHECKS, timeout=30)

    fuzz()
