"""Powertools metrics and correlation ids, as CloudWatch would receive them (EMF on stdout)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import SAMPLES
from tests.unit.conftest import Api, all_keys, put_presigned


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
