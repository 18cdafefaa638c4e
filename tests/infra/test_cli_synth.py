"""The real CDK CLI (pinned, on Node 22, installed by scripts/tools/node.sh) synthesizes every environment."""

from __future__ import annotations

import json
import os
import subprocess
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
