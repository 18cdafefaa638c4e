"""The Upvault service stack: it reads like the architecture diagram.

browser --JWT--> HTTP API --> API function --presigned URLs--> browser --PUT--> S3 staging/
S3 staging/ --ObjectCreated--> SQS (+DLQ) --> processor --> files/ | quarantine/
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack, Stage
from constructs import Construct

from infra.api import Api
from infra.config import EnvironmentConfig
from infra.observability import Observability, Watched
from infra.processing import Processing
from infra.storage import Storage


class UpvaultStack(Stack):
    """Storage, API, processing and observability of one environment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        # Both deploy paths build this stack: a shared environment with placeholder origins or
        # alarms to no one fails here, at synth, naming the setting.
        config.require_deployable()
        super().__init__(
            scope,
            construct_id,
            description=f"Upvault file upload service ({config.name})",
            termination_protection=config.termination_protection,
            **kwargs,
        )
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        self.api = Api(self, "Api", config=config, storage=self.storage)
        self.processing = Processing(self, "Processing", config=config, storage=self.storage)
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            watched=Watched(
                api=self.api.http_api,
                api_function=self.api.function,
                processor=self.processing.function,
                queue=self.processing.queue,
                dead_letters=self.processing.dead_letters,
            ),
        )

        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL; routes live under /v1")
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "AlarmTopicArn", value=self.observability.topic.topic_arn)
        if self.api.identity:
            CfnOutput(self, "UserPoolId", value=self.api.identity.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=self.api.identity.client.user_pool_client_id)


def stack_name(config: EnvironmentConfig) -> str:
    """CloudFormation stack name of an environment, the same whether deployed by hand or by the pipeline."""
    return f"Upvault-{config.name}"


class UpvaultStage(Stage):
    """One deployable environment, as the pipeline deploys it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id, env=environment(config))
        self.service = UpvaultStack(self, "Service", config=config, stack_name=stack_name(config))


def environment(config: EnvironmentConfig) -> Environment | None:
    """The CDK env of a config: explicit when account and region are set, else agnostic (no lookups)."""
    if config.account or config.region:
        return Environment(account=config.account, region=config.region)
    return None
