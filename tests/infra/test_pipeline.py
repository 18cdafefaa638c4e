"""Pipeline: source from a CodeStar connection, synth runs the tests, dev -> staging -> approval -> prod."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from infra.pipeline import CDK_ASSETS_VERSION, CDK_CLI, CDK_CLI_VERSION
from tests.infra.conftest import CONNECTION_ARN, ENVIRONMENT_BLOCKS, ROOT, run_at_root
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


def _synth_project(pipeline: Template) -> dict[str, Any]:
    (project,) = [
        res["Properties"]
        for res in resources(pipeline, "AWS::CodeBuild::Project").values()
        if "make test" in res["Properties"]["Source"].get("BuildSpec", "")
    ]
    return dict(project)


def _synth_commands(pipeline: Template) -> list[str]:
    commands: list[str] = json.loads(_synth_project(pipeline)["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    return commands


def test_synth_runs_the_test_suite_before_cdk_synth(pipeline: Template) -> None:
    # Given the synth CodeBuild project
    project = _synth_project(pipeline)
    commands = _synth_commands(pipeline)
    # Then the README's test command runs first, then the pinned CDK CLI synthesizes with the
    # pipeline's own settings passed explicitly (the same values it was deployed with)
    assert commands == [
        "make test",
        f"npx --yes aws-cdk@{CDK_CLI_VERSION} synth -c connection_arn={CONNECTION_ARN} "
        "-c repository=upvault/upvault -c branch=main",
    ]
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


def test_asset_jobs_install_a_pinned_cdk_assets(pipeline: Template) -> None:
    # Given every command of the pipeline's CodeBuild projects (asset jobs install their tool)
    installs = [
        command
        for res in resources(pipeline, "AWS::CodeBuild::Project").values()
        for phase in json.loads(res["Properties"]["Source"]["BuildSpec"])["phases"].values()
        for command in phase.get("commands", [])
        if "cdk-assets@" in command
    ]
    # Then each installs the pinned version: CDK Pipelines' default, @latest, changes under us
    assert installs
    assert all(f"cdk-assets@{CDK_ASSETS_VERSION}" in command and "@latest" not in command for command in installs)


def test_synth_exactly_as_the_pipeline_does_holds_the_pipeline_and_every_asset_it_publishes(
    pipeline: Template, tmp_path: Path, node_path: str
) -> None:
    # Given the synth step's command line as the deployed pipeline runs it, in the repository
    # (cdk.json) with the per-environment blocks a team keeps in its context; they are given
    # through the CLI's user context file here, the lowest-precedence context source
    (command,) = [c for c in _synth_commands(pipeline) if c.startswith(CDK_CLI)]
    argv = shlex.split(command.removeprefix(CDK_CLI))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cdk.json").write_text(json.dumps({"context": ENVIRONMENT_BLOCKS}))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    environ |= {
        "HOME": str(home),
        "PATH": f"{node_path}{os.pathsep}{environ['PATH']}",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    # When the same CLI version runs it (pinned in node.sh; only the output directory is added)
    out = tmp_path / "cdk.out"
    run_at_root(["cdk", *argv, "--quiet", "--no-notices", "-o", str(out)], environ, timeout=600)
    # Then the assembly holds the pipeline stack, so self-mutation finds what it updates
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"]["Upvault-Pipeline"]["type"] == "aws:cloudformation:stack"
    # And every asset manifest an asset job publishes from exists, holding the asset it names
    jobs = [
        (path, asset.split(":")[0])
        for res in resources(pipeline, "AWS::CodeBuild::Project").values()
        for command in json.loads(res["Properties"]["Source"]["BuildSpec"])["phases"]["build"]["commands"]
        for path, asset in re.findall(r'cdk-assets --path "([^"]+)" --verbose publish "([^"]+)"', command)
    ]
    assert len(jobs) >= 3
    for path, asset in jobs:
        assert (out / path).is_file(), path
        assert asset in json.loads((out / path).read_text())["files"], (path, asset)
