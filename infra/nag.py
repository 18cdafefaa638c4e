"""cdk-nag: the rule packs every synth runs, and each finding we accept with its reason.

cdk-nag 3 plugs into CDK's policy validation (``Validations.of(app).add_plugins``), not into
Aspects; an unacknowledged finding fails the synth. Acknowledgements name exact finding ids
(``AwsSolutions-IAM5[Action::s3:Abort*]``), never a whole rule, so a new wildcard still fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_codebuild as codebuild
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

from infra.storage import AREAS

if TYPE_CHECKING:  # the stacks import this module; only the type checker needs them here
    from infra.pipeline import PipelineStack
    from infra.stack import UpvaultStack


def apply_checks(app: App) -> None:
    """Run the AwsSolutions and Serverless packs on everything the app synthesizes."""
    # Acknowledgements are also written into each resource's template Metadata (cdk_nag), so the
    # reasons travel with the template and the tests can check every one of them.
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
    )


def acknowledge(scope: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge ``(finding id, reason)`` pairs on ``scope`` and everything below it."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in findings))


def acknowledge_service_findings(stack: UpvaultStack) -> None:
    """The findings of the service stack we accept, each on the narrowest construct."""
    storage, api, processing = stack.storage, stack.api, stack.processing
    bucket = _logical_id(storage.bucket)

    for function in (api.function, processing.function):
        role = function.role
        assert role is not None, "our function builder always passes a role"
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            [
                (
                    f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/{prefix}*]",
                    f"Object permissions are scoped to the {prefix} area; the key below it is per user and "
                    "per file, so a prefix wildcard is the narrowest resource possible.",
                )
                for prefix in AREAS
            ]
            + [
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
                    "permissions, AWS requires Resource '*'.",
                )
            ],
        )
        acknowledge(
            function,
            [
                ("AwsSolutions-L1", _RUNTIME_REASON),
                ("Serverless-LambdaLatestVersion", _RUNTIME_REASON),
                (
                    "Serverless-LambdaDLQ",
                    "Never invoked asynchronously: the API function is called synchronously by API Gateway and the "
                    "processor by an SQS event source mapping, whose failed messages go to the queue's DLQ.",
                ),
            ],
        )
    esm = next(child for child in processing.function.node.children if child.node.id.startswith("SqsEventSource"))
    acknowledge(
        esm,
        [
            (
                "Serverless-LambdaEventSourceMappingDestination",
                "On-failure destinations exist only for stream sources; for SQS the queue's redrive policy sends "
                "failed messages to the dead-letter queue (maxReceiveCount).",
            )
        ],
    )
    acknowledge(
        processing.dead_letters,
        [
            (
                "Serverless-SQSRedrivePolicy",
                "This queue is the dead-letter queue; a DLQ of the DLQ would only hide "
                "failures that the DeadLetters alarm reports.",
            )
        ],
    )
    for route in api.public_routes:
        acknowledge(
            route,
            [
                (
                    "AwsSolutions-APIG4",
                    "Health check and OpenAPI document are public by design (load balancers and client "
                    "generators); they expose no user data. Every other route needs a JWT.",
                )
            ],
        )
    if api.identity is not None:
        pool = api.identity.user_pool
        if not stack.config.cognito_mfa_required:
            acknowledge(
                pool,
                [
                    (
                        "AwsSolutions-COG2",
                        "cognito_mfa_required is off for this environment: the default only in dev, where "
                        "test users sign in from scripts; staging and prod require TOTP unless overridden.",
                    )
                ],
            )
        acknowledge(
            pool,
            [
                (
                    "AwsSolutions-COG8",
                    "Cognito's Plus feature plan (threat protection) is billed per active user; "
                    "password policy, TOTP MFA and short-lived tokens are the baseline here.",
                )
            ],
        )
    handler = stack.node.try_find_child(_NOTIFICATIONS_HANDLER)
    if handler is not None:
        acknowledge(
            handler,
            [
                (
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    "CDK's own BucketNotificationsHandler (a deploy-time custom resource, not Upvault code) uses "
                    "the basic execution managed policy; CDK offers no way to replace it.",
                ),
                ("AwsSolutions-L1", "CDK's own BucketNotificationsHandler pins its runtime; it runs only at deploy."),
                ("Serverless-LambdaLatestVersion", "CDK's own BucketNotificationsHandler pins its runtime."),
                (
                    "Serverless-LambdaDLQ",
                    "CDK's BucketNotificationsHandler is a CloudFormation custom resource; "
                    "CloudFormation reports its failures.",
                ),
                ("Serverless-LambdaTracing", "CDK's BucketNotificationsHandler runs once per deployment."),
                ("Serverless-LambdaDefaultMemorySize", "CDK's BucketNotificationsHandler: CDK chooses its size."),
                ("Serverless-LambdaDefaultTimeout", "CDK's BucketNotificationsHandler: CDK chooses its timeout."),
            ],
        )


_RUNTIME_REASON = (
    "Python 3.13 is the runtime the issue fixes and the one the dependencies layer's wheels (cp313, arm64) "
    "are built and tested for; moving to a newer runtime is a deliberate upgrade of both together."
)
#: CDK creates this singleton Lambda for S3 bucket notifications.
_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def _logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource, as cdk-nag prints it."""
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]


def acknowledge_pipeline_findings(stack: PipelineStack) -> None:
    """The findings of CDK Pipelines' generated resources we accept (CDK builds them, not us).

    CDK Pipelines writes these roles itself; the wildcards are in the grants it generates for
    the artifact bucket and key, CodeBuild logs and reports, and the cross-account deploy roles
    of the bootstrap stack. Each id below is an exact finding; anything new still fails.
    """
    pipeline = stack.pipeline
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
    artifacts = _logical_id(pipeline.pipeline.artifact_bucket)
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
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/*]",
            generated + "asset publishing CodeBuild projects, whose report groups are named at run time.",
        ),
        (
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/*]",
            generated + "asset publishing CodeBuild projects, whose log groups are named at run time.",
        ),
    ]
    for project in stack.node.find_all():
        if isinstance(project, codebuild.CfnProject):
            name = str(stack.resolve(stack.get_logical_id(project)))
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
    acknowledge(pipeline, findings)
    acknowledge(
        pipeline.pipeline.artifact_bucket,
        [
            (
                "AwsSolutions-S1",
                "Pipeline artifact bucket (CDK Pipelines): it holds build outputs, not user data; "
                "access is audited by CloudTrail data events of the pipeline roles.",
            )
        ],
    )
