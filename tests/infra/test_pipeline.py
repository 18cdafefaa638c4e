"""Pipeline: source from a CodeStar connection, synth runs the tests, dev -> staging -> approval -> prod."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.pipeline import CDK_CLI_VERSION
from tests.infra.conftest import CONNECTION_ARN, ROOT
from tests.infra.support import Template, props, resources


def _stages(pipeline: Template) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = props(pipeline, "AWS::CodePipeline::Pipeline")["Stages"]
    return stages


def test_source_is_the_codestar_connection_from_context(pipeline: Template) -> None:
    # Given the pipeline's first stage
    (action,) = _stages(pipeline)[0]["Actions"]
    # Then it pulls the repository through the connection ARN given in context
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"]["ConnectionArn"] == CONNECTION_ARN
    assert action["Configuration"]["BranchName"] == "main"


def test_synth_runs_the_test_suite_before_cdk_synth(pipeline: Template) -> None:
    # Given the synth CodeBuild project
    (project,) = [
        res["Properties"]
        for res in resources(pipeline, "AWS::CodeBuild::Project").values()
        if "make test" in res["Properties"]["Source"].get("BuildSpec", "")
    ]
    spec = json.loads(project["Source"]["BuildSpec"])
    commands = spec["phases"]["build"]["commands"]
    # Then the README's test command runs first, then the pinned CDK CLI synthesizes
    assert commands == ["make test", f"npx --yes aws-cdk@{CDK_CLI_VERSION} synth"]
    # And Go is new enough for the tools the tests build
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["GOTOOLCHAIN"].startswith("go1.26")


def test_stages_deploy_dev_then_staging_then_prod_after_manual_approval(pipeline: Template) -> None:
    # Given the pipeline's stages
    stages = _stages(pipeline)
    names = [stage["Name"] for stage in stages]
    # Then the environments follow the build in order
    assert names[-3:] == ["Dev", "Staging", "Prod"]
    assert names[:2] == ["Source", "Build"]
    # And prod starts with a manual approval, before any deploy action
    prod = stages[-1]["Actions"]
    approval = [a for a in prod if a["ActionTypeId"]["Category"] == "Approval"]
    assert len(approval) == 1
    first_deploy = min(a["RunOrder"] for a in prod if a["ActionTypeId"]["Category"] == "Deploy")
    assert approval[0]["RunOrder"] < first_deploy
    # And no approval gates dev or staging
    for stage in stages[-3:-1]:
        assert all(a["ActionTypeId"]["Category"] != "Approval" for a in stage["Actions"])
    # And each stage deploys the stack with the same name a manual deploy uses
    for stage, env in zip(stages[-3:], ("dev", "staging", "prod"), strict=True):
        assert {
            a["Configuration"]["StackName"] for a in stage["Actions"] if "StackName" in a.get("Configuration", {})
        } == {f"Upvault-{env}"}


def test_pipeline_cli_version_matches_the_tools_script() -> None:
    # Given the CLI pinned by scripts/tools/node.sh
    pinned = re.search(r"^CDK_CLI_VERSION=(\S+)$", (ROOT / "scripts" / "tools" / "node.sh").read_text(), re.M)
    # Then the pipeline synthesizes with the same CLI the tests use
    assert pinned and pinned.group(1) == CDK_CLI_VERSION
