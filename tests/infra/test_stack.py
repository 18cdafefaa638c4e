"""One stack, two ways to deploy it (`cdk deploy` and the pipeline): same logical ids, same protection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.application import build_app
from tests.infra.conftest import ENVIRONMENT_BLOCKS, Assembly
from tests.infra.support import Template, load

STAGES = {"dev": "Dev", "staging": "Staging", "prod": "Prod"}


@pytest.fixture(scope="module")
def manual(assembly: Assembly, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Cloud assemblies as `cdk synth -c env=<env>` writes them, with the same cdk.json blocks.

    The session synth already holds dev's; staging and prod are synthesized here, without the pipeline.
    """
    outdirs = {"dev": assembly.outdir}
    for env in ("staging", "prod"):
        outdir = tmp_path_factory.mktemp(f"manual-{env}")
        build_app(outdir=str(outdir), context={**ENVIRONMENT_BLOCKS, "env": env}).synth()
        outdirs[env] = outdir
    return outdirs


def _artifact(manifest_dir: Path, template_name: str) -> dict[str, Any]:
    """The manifest entry of the stack whose template file is ``template_name``."""
    manifest = json.loads((manifest_dir / "manifest.json").read_text())
    (artifact,) = [
        a for a in manifest["artifacts"].values() if a.get("properties", {}).get("templateFile") == template_name
    ]
    return dict(artifact)


def _pipeline_stage(assembly: Assembly, env: str) -> tuple[Path, Path]:
    """(assembly dir, template) of the pipeline's stage for ``env``."""
    (template,) = (assembly.outdir / f"assembly-Upvault-Pipeline-{STAGES[env]}").glob("*.template.json")
    return template.parent, template


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_both_deploy_paths_give_every_resource_the_same_logical_id(
    env: str, assembly: Assembly, manual: dict[str, Path]
) -> None:
    # Given the stack as `cdk deploy -c env=<env>` and as the pipeline's stage synthesize it
    by_hand: Template = load(manual[env] / f"Upvault-{env}.template.json")
    _, stage_template = _pipeline_stage(assembly, env)
    by_pipeline: Template = load(stage_template)
    # Then every resource has the same logical id (and type) both ways: switching a stack from
    # one path to the other replaces nothing (Lambda refuses a second mapping for one queue)
    assert {k: v["Type"] for k, v in by_hand["Resources"].items()} == {
        k: v["Type"] for k, v in by_pipeline["Resources"].items()
    }
    assert len(by_hand["Resources"]) > 40


@pytest.mark.parametrize(("env", "protected"), [("dev", False), ("staging", False), ("prod", True)])
def test_only_the_prod_stack_has_termination_protection(
    env: str, protected: bool, assembly: Assembly, manual: dict[str, Path]
) -> None:
    # Given the stack's entry in the cloud assembly, both ways
    stage_dir, stage_template = _pipeline_stage(assembly, env)
    by_hand = _artifact(manual[env], f"Upvault-{env}.template.json")
    by_pipeline = _artifact(stage_dir, stage_template.name)
    # Then prod cannot be deleted until someone turns protection off; dev and staging can
    for artifact in (by_hand, by_pipeline):
        assert artifact["properties"].get("terminationProtection", False) is protected
