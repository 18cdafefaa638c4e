"""Pipeline: CDK Pipelines deploying dev -> staging -> (manual approval) -> prod.

The source is a CodeStar (CodeConnections) connection to the repository. Its settings
(``connection_arn``, ``repository``, ``branch``) live in cdk.json's context, where a manual
``cdk deploy Upvault-Pipeline`` reads them, and the synth step passes the values the pipeline
was built with explicitly (``-c connection_arn=... -c repository=... -c branch=...``), so its
cloud assembly always holds the pipeline stack (self-mutation) and the stages' asset
manifests. The synth step runs the README's test command, ``make test``, and only then
``cdk synth``: nothing untested reaches an environment. Each environment's settings come from
the same ``upvault:<env>`` blocks in cdk.json as a manual deploy, so the pipeline deploys what
``cdk synth -c env=<env>`` shows.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from aws_cdk import Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from constructs import Construct

from infra.config import EnvironmentConfig, config_from_context
from infra.nag import acknowledge, logical_id
from infra.stack import UpvaultStage

#: The CDK CLI the pipeline synthesizes with; the same pin as scripts/tools/node.sh.
CDK_CLI_VERSION = "2.1148.1"
CDK_CLI = f"npx --yes aws-cdk@{CDK_CLI_VERSION}"
#: cdk-assets the asset jobs install (CDK Pipelines' default is ``cdk-assets@latest``: unpinned).
CDK_ASSETS_VERSION = "4.7.3"
TEST_COMMAND = "make test"
GO_TOOLCHAIN = "go1.26.8"
STAGES = (("Dev", "dev"), ("Staging", "staging"), ("Prod", "prod"))
#: The context the pipeline itself is built from; the synth step passes it on explicitly.
PIPELINE_CONTEXT = ("connection_arn", "repository", "branch")


def synth_commands(config: EnvironmentConfig) -> list[str]:
    """The synth step's commands: the tests, then ``cdk synth`` with the pipeline's own context.

    Without ``connection_arn`` in its context the synth would build no pipeline stack: self-mutation
    would find nothing to update and the asset jobs would point at manifests that do not exist.
    """
    context = " ".join(f"-c {name}={shlex.quote(str(getattr(config, name)))}" for name in PIPELINE_CONTEXT)
    return [TEST_COMMAND, f"{CDK_CLI} synth {context}"]


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
                commands=synth_commands(config),
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
            cdk_assets_cli_version=CDK_ASSETS_VERSION,
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
        self._acknowledge_generated_findings()

    def _acknowledge_generated_findings(self) -> None:
        """The findings of CDK Pipelines' generated resources we accept (CDK builds them, not us).

        CDK Pipelines writes these roles itself; the wildcards are in the grants it generates for
        the artifact bucket and key, CodeBuild logs and reports, and the cross-account deploy roles
        of the bootstrap stack. Each id below is an exact finding; anything new still fails.
        """
        generated = "Generated by CDK Pipelines for "
        findings: list[tuple[str, str]] = [
            (
                f"AwsSolutions-IAM5[Action::{action}]",
                generated + "the pipeline artifact bucket and its KMS key (CDK's grantReadWrite/grantEncryptDecrypt).",
            )
            for action in (
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
                "s3:Abort*",
                "s3:DeleteObject*",
                "s3:GetBucket*",
                "s3:GetObject*",
                "s3:List*",
            )
        ]
        artifacts = logical_id(self.pipeline.pipeline.artifact_bucket)
        findings += [
            (
                f"AwsSolutions-IAM5[Resource::<{artifacts}.Arn>/*]",
                generated + "the artifact bucket: every pipeline execution writes objects with generated names.",
            ),
            (
                "AwsSolutions-IAM5[Resource::*]",
                generated + "self-mutation and asset publishing: they describe CloudFormation stacks and assume the "
                "bootstrap roles of target accounts that are unknown at synth time.",
            ),
            (
                "AwsSolutions-IAM5[Resource::arn:*:iam::<AWS::AccountId>:role/*]",
                generated + "self-mutation: it assumes the CDK bootstrap roles (cdk-*-role) to update the pipeline.",
            ),
            (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:"
                "report-group/*]",
                generated + "asset publishing CodeBuild projects, whose report groups are named at run time.",
            ),
            (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                "log-group:/aws/codebuild/*]",
                generated + "asset publishing CodeBuild projects, whose log groups are named at run time.",
            ),
        ]
        for project in self.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                name = str(self.resolve(self.get_logical_id(project)))
                findings += [
                    (
                        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:"
                        f"report-group/<{name}>-*]",
                        generated + "a CodeBuild project's own report groups.",
                    ),
                    (
                        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                        f"log-group:/aws/codebuild/<{name}>:*]",
                        generated + "a CodeBuild project's own log streams.",
                    ),
                ]
        findings.append(
            ("NIST.800.53.R5-IAMNoInlinePolicy", generated + "its roles: CDK writes each role's grants inline.")
        )
        acknowledge(self.pipeline, findings)
        build_outputs = "Pipeline artifact bucket (CDK Pipelines): it holds build outputs, not user data"
        acknowledge(
            self.pipeline.pipeline.artifact_bucket,
            [
                (
                    "AwsSolutions-S1",
                    f"{build_outputs}; access is audited by CloudTrail data events of the pipeline roles.",
                ),
                (
                    "NIST.800.53.R5-S3BucketLoggingEnabled",
                    f"{build_outputs}; access is audited by CloudTrail data events of the pipeline roles.",
                ),
                (
                    "NIST.800.53.R5-S3BucketVersioningEnabled",
                    f"{build_outputs}; every run writes new objects, and the source stays in the repository.",
                ),
                (
                    "NIST.800.53.R5-S3BucketReplicationEnabled",
                    f"{build_outputs}; a lost artifact is rebuilt by running the pipeline again.",
                ),
            ],
        )
