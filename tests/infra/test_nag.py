"""cdk-nag AwsSolutions, Serverless and NIST 800-53 R5: zero unacknowledged findings, each reasoned and documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from infra.nag import apply_checks
from tests.infra.conftest import ROOT, Assembly

PACKS = {"AwsSolutions", "Serverless", "NIST.800.53.R5"}


def test_session_synth_has_no_unacknowledged_finding(assembly: Assembly) -> None:
    # Given the session synth, which ran with both packs (it would have raised on any finding)
    report = json.loads((assembly.outdir / "validation-report.json").read_text())
    # Then the validation report lists no violation at all
    assert [v for r in report["pluginReports"] for v in r.get("violations", [])] == []


def test_every_acknowledgement_names_an_exact_finding_and_gives_a_reason(assembly: Assembly) -> None:
    # Given every acknowledgement written into the templates' metadata
    acknowledgements = []
    for path in assembly.all_templates():
        for res in json.loads(path.read_text())["Resources"].values():
            acknowledgements += res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    assert acknowledgements
    for ack in acknowledgements:
        # Then each belongs to one of our packs, IAM4/IAM5 ones name the exact finding,
        # and the reason is a real sentence
        assert ack["id"].split("-")[0] in PACKS, ack
        if re.match(r"AwsSolutions-IAM[45]", ack["id"]):
            assert re.match(r"AwsSolutions-IAM[45]\[(Action|Resource|Policy)::.+\]$", ack["id"]), ack
        assert len(ack["reason"]) >= 40, ack


def test_every_pack_fails_the_synth_on_a_new_finding(tmp_path: Path, assembly: Assembly) -> None:
    # Given an app with our checks (as build_app applies them), a queue without a DLQ and a
    # bucket without versioning
    app = cdk.App(outdir=str(tmp_path))
    bad = cdk.Stack(app, "Bad")
    sqs.Queue(bad, "NoDeadLetters")
    s3.Bucket(bad, "Unversioned")
    apply_checks(app)
    # When it synthesizes
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    # Then the synth fails, and every pack names its rule in the report
    assert "ValidationFailed" in str(failure.value)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r.get("violations", [])}
    assert {"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy", "NIST.800.53.R5-S3BucketVersioningEnabled"} <= rules


def _acknowledgements(assembly: Assembly) -> dict[str, set[str]]:
    """Acknowledged finding id -> its reasons, over every template of the session synth."""
    found: dict[str, set[str]] = {}
    for path in assembly.all_templates():
        for res in json.loads(path.read_text())["Resources"].values():
            for ack in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                found.setdefault(ack["id"], set()).add(ack["reason"])
    return found


def test_docs_list_every_acknowledged_nist_finding(assembly: Assembly) -> None:
    # Given the NIST 800-53 R5 findings the constructs acknowledge
    acknowledged = {rule for rule in _acknowledgements(assembly) if rule.startswith("NIST.800.53.R5-")}
    assert acknowledged
    # When we read the NIST table of docs/infrastructure.md
    docs = (ROOT / "docs" / "infrastructure.md").read_text()
    documented = set(re.findall(r"^\| `(NIST\.800\.53\.R5-\w+)` \|", docs, re.M))
    # Then it lists exactly those rules, so the report stays true
    assert documented == acknowledged
