"""Infra tier: one synthesized cloud assembly per session, read as plain JSON.

The session app holds the dev stack (Cognito, data not retained) and the pipeline with its
three stages. The staging stage is configured with an external JWT issuer through the same
``upvault:<env>`` context block a user would put in cdk.json, so one synth covers both
identity options and every environment's settings.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.config import EnvironmentConfig, config_from_context
from tests.infra.support import load

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_ARN = "arn:aws:codeconnections:eu-west-1:123456789012:connection/11111111-2222-3333-4444-555555555555"
EXTERNAL_ISSUER = "https://issuer.example.com/realms/upvault"
EXTERNAL_AUDIENCE = "upvault-web"
ALARM_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:oncall"
#: What a team puts in cdk.json before its first deploy: real origins and an alarm subscriber
#: for staging and prod (see docs/infrastructure.md, "Before your first deploy").
ENVIRONMENT_BLOCKS: dict[str, Any] = {
    "upvault:staging": {
        "auth_issuer": EXTERNAL_ISSUER,
        "auth_audience": [EXTERNAL_AUDIENCE],
        "cors_origins": ["https://staging.upvault.app"],
        "alarm_topic_arn": ALARM_TOPIC_ARN,
    },
    "upvault:prod": {
        "cors_origins": ["https://app.upvault.app"],
        "alarm_email": "oncall@example.com",
        "api_reserved_concurrency": 50,
        "processor_reserved_concurrency": 5,
        "processor_max_concurrency": 5,
    },
}
SESSION_CONTEXT: dict[str, Any] = {"env": "dev", "connection_arn": CONNECTION_ARN, **ENVIRONMENT_BLOCKS}


def session_config(name: str) -> EnvironmentConfig:
    """The config the session synth gives environment ``name`` (defaults plus its cdk.json block)."""
    return config_from_context(SESSION_CONTEXT.get, name)


def run_at_root(command: list[str], environ: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run ``command`` at the repository root as CI would, and fail with its output's tail unless it succeeds."""
    result = subprocess.run(
        command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def tools_dir() -> Path:
    """The tools cache scripts/tools/*.sh fill (same default as scripts/tools/common.sh)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "upvault" / "tools"
    return Path(os.environ.get("UPVAULT_TOOLS_DIR", default))


def tool_path_file(name: str) -> Path:
    """A ``<name>.path`` file written by scripts/tools/<name>.sh; missing means a failed setup."""
    path = tools_dir() / f"{name}.path"
    assert path.is_file(), f"{path} is missing: run scripts/install-tools.sh (make tools) first"
    return path


@pytest.fixture(scope="session")
def node_path() -> str:
    """PATH entries for Node 22 and the pinned CDK CLI (installed by scripts/tools/node.sh)."""
    return tool_path_file("node").read_text().strip()


@dataclass(frozen=True)
class Assembly:
    """The synthesized cloud assembly of the session."""

    outdir: Path

    def template(self, name: str) -> dict[str, Any]:
        """Template of a top-level stack (``Upvault-dev``) or a pipeline stage (``Staging``)."""
        if name.startswith("Upvault-"):
            path = self.outdir / f"{name}.template.json"
        else:
            (path,) = (self.outdir / f"assembly-Upvault-Pipeline-{name}").glob("*.template.json")
        return load(path)

    def all_templates(self) -> list[Path]:
        """Every template in the assembly, nested stage assemblies included."""
        return sorted(self.outdir.rglob("*.template.json"))


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory, node_path: str) -> Assembly:
    """Synthesize the app once, with cdk-nag on, exactly as app.py does."""
    os.environ["PATH"] = f"{node_path}{os.pathsep}{os.environ['PATH']}"
    from infra.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(outdir=str(outdir), context=SESSION_CONTEXT).synth()
    return Assembly(outdir)


@pytest.fixture(scope="session")
def dev(assembly: Assembly) -> dict[str, Any]:
    """The dev service stack (the one `cdk deploy -c env=dev` deploys)."""
    return assembly.template("Upvault-dev")


@pytest.fixture(scope="session")
def staging(assembly: Assembly) -> dict[str, Any]:
    """The staging stage of the pipeline (external JWT issuer)."""
    return assembly.template("Staging")


@pytest.fixture(scope="session")
def prod(assembly: Assembly) -> dict[str, Any]:
    """The prod stage of the pipeline."""
    return assembly.template("Prod")


@pytest.fixture(scope="session")
def pipeline(assembly: Assembly) -> dict[str, Any]:
    """The pipeline stack."""
    return assembly.template("Upvault-Pipeline")
