"""The real CDK CLI (pinned, on Node 22, installed by scripts/tools/node.sh) synthesizes every environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import CONNECTION_ARN, ROOT


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_cdk_cli_synth_succeeds(env: str, tmp_path: Path, node_path: str) -> None:
    # Given the synth script (what `make synth` and CI run), with nag on and no credentials
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # When the CLI synthesizes the environment (prod also with the pipeline)
    extra = ["-c", f"connection_arn={CONNECTION_ARN}"] if env == "prod" else []
    result = subprocess.run(
        ["bash", "scripts/synth.sh", env, "-o", str(tmp_path), *extra],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Then it succeeds, without Node's end-of-life banner, and writes the environment's stack
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "end-of-life" not in result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert f"Upvault-{env}" in manifest["artifacts"]
    assert (tmp_path / f"Upvault-{env}.template.json").is_file()
    if env == "prod":
        assert "Upvault-Pipeline" in manifest["artifacts"]


def test_plain_python_app_synthesizes_without_cli_or_credentials(tmp_path: Path, node_path: str) -> None:
    # Given no AWS credentials or profile, and no CDK CLI (CDK_OUTDIR is what the CLI would set)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    environ |= {"PATH": f"{node_path}{os.pathsep}{environ['PATH']}", "CDK_OUTDIR": str(tmp_path)}
    # When app.py runs on its own
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300, check=False
    )
    # Then it writes the dev stack (nag included) without touching AWS
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "Upvault-dev.template.json").is_file()
