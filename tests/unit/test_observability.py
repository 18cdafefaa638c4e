"""Powertools metrics and correlation ids, as CloudWatch would receive them (EMF on stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import SAMPLES
from tests.unit.conftest import Api, all_keys, put_presigned

ROOT = Path(__file__).resolve().parents[2]


def emitted(output: str) -> dict[str, float]:
    """Sum of every EMF metric printed, by name."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "Upvault"
            for metric in directive["Metrics"]:
                values = record[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    return totals


def test_upload_lifecycle_emits_metrics(api: Api, s3: Any, process: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given two declared and uploaded files, one genuine and one a PNG posing as a PDF
    pdf, png = SAMPLES["application/pdf"], SAMPLES["image/png"]
    for data in (pdf, png):
        response = api.upload(data, content_type="application/pdf", filename="a.pdf")
        put_presigned(response.body["upload"], data)
    # When both are processed
    process(*[k for k in all_keys(s3) if k.startswith("staging/")])
    # Then CloudWatch receives started, completed, rejected and the bytes of the accepted file
    totals = emitted(capsys.readouterr().out)
    assert totals == {"UploadsStarted": 2, "UploadsCompleted": 1, "UploadsRejected": 1, "BytesUploaded": len(pdf)}


def test_request_id_is_the_correlation_id(api: Api) -> None:
    # Given an API Gateway event (its requestContext.requestId is "id" in the sam fixture)
    # When it is served through the Lambda handler
    response = api.call("GET", "/v1/files")
    # Then the same id is echoed to the client (and set as the Powertools correlation id)
    assert response.headers["x-request-id"] == "id"


#: Imports every function module in a fresh interpreter and prints each Powertools object's
#: service (and namespace, for metrics) as JSON.
_REPORT_POWERTOOLS = """
import importlib, json
from aws_lambda_powertools import Logger, Metrics, Tracer

found = {}
for name in ("functions.api.app", "functions.api.handler", "functions.api.problems", "functions.api.routes",
             "functions.processor.handler"):
    module = importlib.import_module(name)
    for attr, value in vars(module).items():
        if isinstance(value, Logger):
            found[f"{name}.{attr}"] = value.service
        elif isinstance(value, Metrics):
            found[f"{name}.{attr}"] = f"{value.service}/{value.namespace}"
        elif isinstance(value, Tracer):
            found[f"{name}.{attr}"] = value.service
print(json.dumps(found))
"""


def test_powertools_is_configured_by_its_own_environment_variables() -> None:
    # Given the function modules imported where Powertools' variables name another service
    env = {
        **os.environ,
        "POWERTOOLS_SERVICE_NAME": "upvault-staging",
        "POWERTOOLS_METRICS_NAMESPACE": "UpvaultStaging",
    }
    result = subprocess.run(
        [sys.executable, "-c", _REPORT_POWERTOOLS], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # Then every logger, tracer and metrics object uses what the environment says, none overrides it
    assert found, "no Powertools object found in the function modules"
    assert {
        name: value
        for name, value in found.items()
        if value not in ("upvault-staging", "upvault-staging/UpvaultStaging")
    } == {}
