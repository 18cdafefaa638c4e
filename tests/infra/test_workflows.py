"""GitHub workflows: actionlint-clean, the test workflow runs `make test`, deploys use OIDC only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.infra.conftest import ROOT, tool_path_file

WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    loaded: dict = yaml.safe_load((WORKFLOWS / name).read_text())  # type: ignore[type-arg]
    return loaded


def test_actionlint_accepts_every_workflow() -> None:
    # Given actionlint built by scripts/tools/actionlint.sh
    actionlint = Path(tool_path_file("actionlint").read_text().strip())
    assert actionlint.is_file()
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 3
    # When it checks the workflows
    result = subprocess.run([str(actionlint), "-color=false", *files], capture_output=True, text=True, check=False)
    # Then it finds nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_workflow_runs_the_readme_test_command() -> None:
    # Given the test workflow
    steps = _load("test.yml")["jobs"]["test"]["steps"]
    # Then it runs exactly `make test`, with only read access to the repository
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
    assert _load("test.yml")["permissions"] == {"contents": "read"}


def test_deploys_assume_a_role_through_oidc_and_never_use_keys() -> None:
    # Given the deploy workflows
    texts = {name: (WORKFLOWS / name).read_text() for name in ("deploy.yml", "deploy-environment.yml")}
    # Then no long-lived key appears anywhere
    for text in texts.values():
        assert "aws-access-key-id" not in text and "aws-secret-access-key" not in text
        assert "secrets.AWS" not in text
    # And the deploy job may request an OIDC token and assumes the environment's role with it
    job = _load("deploy-environment.yml")["jobs"]["deploy"]
    assert _load("deploy-environment.yml")["permissions"]["id-token"] == "write"
    (credentials,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    # And dev -> staging -> prod run in order after the tests, each as a GitHub environment
    jobs = _load("deploy.yml")["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["prod"]["needs"]) == ("test", "dev", "staging")
    assert job["environment"] == "${{ inputs.environment }}"
