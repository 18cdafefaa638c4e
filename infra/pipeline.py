"""Pipeline: CDK Pipelines deploying dev -> staging -> (manual approval) -> prod.

The source is a CodeStar (CodeConnections) connection to the repository, given in context
(``-c connection_arn=arn:aws:codeconnections:...``). The synth step runs the README's test
command, ``make test``, and only then ``cdk synth``: nothing untested reaches an environment.
Each environment's settings come from the same context as a manual deploy
(``upvault:<env>`` blocks in cdk.json), so the pipeline deploys what ``cdk synth -c env=<env>``
shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from constructs import Construct

from infra.config import EnvironmentConfig, config_from_context
from infra.nag import acknowledge_pipeline_findings
from infra.stack import UpvaultStage

#: The CDK CLI the pipeline synthesizes with; the same pin as scripts/tools/node.sh.
CDK_CLI_VERSION = "2.1148.1"
SYNTH_COMMANDS = (
    "make test",
    f"npx --yes aws-cdk@{CDK_CLI_VERSION} synth",
)
GO_TOOLCHAIN = "go1.26.8"
STAGES = (("Dev", "dev"), ("Staging", "staging"), ("Prod", "prod"))


def _blocks_only(get_context: Callable[[str], Any]) -> Callable[[str], Any]:
    """Context as the pipeline's stages see it: only the per-environment ``upvault:<env>`` blocks.

    A flat key (``-c cors_origins=...``) configures the one environment synthesized by hand;
    it must not leak into all three stages.
    """

    def get(key: str) -> Any:
        return get_context(key) if key.startswith("upvault:") else None

    return get


class PipelineStack(Stack):
    """The self-mutating delivery pipeline of all three environments."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        get_context: Callable[[str], Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="Upvault delivery pipeline", **kwargs)
        if not config.connection_arn:
            raise ValueError("the pipeline needs context connection_arn (a CodeStar connection ARN)")
        source = pipelines.CodePipelineSource.connection(
            config.repository, config.branch, connection_arn=config.connection_arn
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="upvault",
            synth=pipelines.ShellStep(
                "Synth",
                input=source,
                commands=list(SYNTH_COMMANDS),
                # The tools scripts build MinIO, RIE and actionlint with Go; the image's older Go
                # fetches this toolchain itself when GOTOOLCHAIN names it.
                env={"GOTOOLCHAIN": GO_TOOLCHAIN},
                primary_output_directory="cdk.out",
            ),
            # Test and synth need Python, Node and Go on an up-to-date image.
            synth_code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                    compute_type=codebuild.ComputeType.MEDIUM,
                ),
            ),
            cli_version=CDK_CLI_VERSION,
            # Key rotation on the artifact bucket's key; the bucket holds templates and code.
            enable_key_rotation=True,
            cross_account_keys=True,
        )
        self.stages: dict[str, UpvaultStage] = {}
        for stage_id, env in STAGES:
            stage = UpvaultStage(self, stage_id, config=config_from_context(_blocks_only(get_context), name=env))
            self.stages[env] = stage
            pre = [pipelines.ManualApprovalStep("PromoteToProd")] if env == "prod" else None
            self.pipeline.add_stage(stage, pre=pre)
        # Build now (instead of at synth) so the generated CodeBuild projects can be acknowledged.
        self.pipeline.build_pipeline()
        acknowledge_pipeline_findings(self)
