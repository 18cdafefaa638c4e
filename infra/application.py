"""Build the CDK app: the environment's service stack, the pipeline when configured, cdk-nag.

``app.py`` and the infra tests both call :func:`build_app`, so what the tests assert is what
``cdk synth`` produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App

from infra.config import EnvironmentConfig, config_from_context
from infra.nag import apply_checks
from infra.stack import UpvaultStack, environment, stack_name

#: Context the CLI would otherwise add: asset paths and construct paths in template metadata, so
#: ``sam local invoke -t cdk.out/<stack>.template.json`` can find each function's code.
DEFAULT_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:enable-path-metadata": True,
    # Feature flags of a new CDK project, set here rather than in cdk.json so that a plain
    # `python app.py` and the tests synthesize exactly what the CLI does.
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:target-partitions": ["aws", "aws-cn"],
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:validateSnapshotRemovalPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption": True,
    "@aws-cdk/aws-apigateway:disableCloudWatchRole": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-iam:standardizedServicePrincipals": True,
    "@aws-cdk/aws-kms:aliasNameRef": True,
    "@aws-cdk/core:includePrefixInUniqueNameGeneration": True,
    "@aws-cdk/aws-lambda:useLatestRuntimeVersion": True,
    "@aws-cdk/aws-s3:keepNotificationInImportedBucket": True,
    "@aws-cdk/aws-lambda:sqsEventSourceMapping": True,
    "@aws-cdk/pipelines:reduceAssetRoleTrustScope": True,
    "@aws-cdk/aws-s3:setUniqueReplicationRoleName": True,
    "@aws-cdk/aws-s3:publicAccessBlockedByDefault": True,
}


def build_app(outdir: str | None = None, context: Mapping[str, Any] | None = None) -> App:
    """Create the app for the environment chosen by context ``env`` (default ``dev``)."""
    app = App(outdir=outdir, context={**DEFAULT_CONTEXT, **(context or {})})
    config: EnvironmentConfig = config_from_context(app.node.try_get_context)
    UpvaultStack(app, stack_name(config), config=config, env=environment(config))
    if config.connection_arn:
        # Imported here: the pipeline module is only needed when a source connection exists.
        from infra.pipeline import PipelineStack

        PipelineStack(app, "Upvault-Pipeline", config=config, get_context=app.node.try_get_context)
    apply_checks(app)
    return app
