"""cdk-nag AwsSolutions and Serverless: zero unacknowledged findings, each acknowledgement reasoned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from infra.nag import apply_checks
from tests.infra.conftest import Assembly

PACKS = {"AwsSolutions", "Serverless"}


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


def test_both_packs_fail_the_synth_on_a_new_finding(tmp_path: Path, assembly: Assembly) -> None:
    # Given an app with our checks (as build_app applies them) and a queue without a DLQ
    app = cdk.App(outdir=str(tmp_path))
    sqs.Queue(cdk.Stack(app, "Bad"), "NoDeadLetters")
    apply_checks(app)
    # When it synthesizes
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    # Then the synth fails, and both packs name their rule
    assert "AwsSolutions-SQS3" in str(failure.value)
    assert "Serverless-SQSRedrivePolicy" in str(failure.value)
