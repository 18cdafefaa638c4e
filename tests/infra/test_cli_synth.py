"""The real CDK CLI (pinned, on Node 22, installed by scripts/tools/node.sh) synthesizes every environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import CONNECTION_ARN, ENVIRONMENT_BLOCKS, run_at_root


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_cdk_cli_synth_succeeds(env: str, tmp_path: Path, node_path: str) -> None:
    # Given the synth script (what `make synth` and CI run), with nag on and no credentials
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # When the CLI synthesizes the environment (prod also with the pipeline), with the real
    # origins and alarm subscriber staging and prod need (as a JSON block, like cdk.json's)
    extra = [arg for name, block in ENVIRONMENT_BLOCKS.items() for arg in ("-c", f"{name}={json.dumps(block)}")]
    extra += ["-c", f"connection_arn={CONNECTION_ARN}"] if env == "prod" else []
    result = run_at_root(["bash", "scripts/synth.sh", env, "-o", str(tmp_path), *extra], environ)
    # Then it succeeds, without Node's end-of-life banner, and writes the environment's stack
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
    run_at_root([sys.executable, "app.py"], environ)
    # Then it writes the dev stack (nag included) without touching AWS
    assert (tmp_path / "Upvault-dev.template.json").is_file()
