"""Observability: alarms into an SNS topic, and one dashboard for the whole service.

Alarms cover what loses or delays a user's upload: anything in the dead-letter queue, the
oldest notification waiting too long, an upload that expired before validation, processor
errors, API 5xx rate, and throttling. The topic's policy lets CloudWatch alarms of this
account publish (a topic policy replaces SNS's default one); alarms reach an email
subscription and/or an existing topic given in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.functions import METRICS_NAMESPACE, SERVICE_NAME
from infra.keys import rotating_key
from infra.nag import acknowledge

#: Business metrics the code emits through Powertools (dimension ``service``).
BUSINESS_METRICS = ("UploadsStarted", "UploadsCompleted", "UploadsRejected", "BytesUploaded")
#: Emitted by the processor for an upload whose staged object was gone before validation.
EXPIRED_METRIC = "UploadsExpired"
PERIOD = Duration.minutes(5)


def business_metric(name: str) -> cloudwatch.Metric:
    """A metric the code emits through Powertools, summed per period."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic="Sum",
        period=PERIOD,
    )


@dataclass(frozen=True)
class Watched:
    """What the observability construct watches."""

    api: apigwv2.HttpApi
    api_function: lambda_.IFunction
    processor: lambda_.IFunction
    queue: sqs.IQueue
    dead_letters: sqs.IQueue


class Observability(Construct):
    """Alarm topic, alarms and dashboard."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, watched: Watched) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch can only publish to an encrypted topic whose key policy allows it.
        self.key = rotating_key(
            self, "TopicKey", config=config, encrypts="alarm notifications", removal_policy=RemovalPolicy.DESTROY
        )
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self, "Alarms", display_name=f"Upvault {config.name} alarms", master_key=self.key, enforce_ssl=True
        )
        # The TLS-only statement makes CDK write a topic policy, and a topic policy replaces the
        # default one: without this statement no alarm could publish ("no resource-based policy allows").
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if config.alarm_email:
            email = subscriptions.EmailSubscription(config.alarm_email)
            self.topic.add_subscription(email)
            for child in self.topic.node.children:
                if isinstance(child, sns.Subscription):
                    acknowledge(
                        child,
                        [
                            (
                                "Serverless-SNSRedrivePolicy",
                                "Email notification of an alarm: an undelivered copy would land in a queue nobody "
                                "reads; the alarm state itself stays on the dashboard and in CloudWatch.",
                            )
                        ],
                    )
        self._actions = [actions.SnsAction(self.topic)]
        if config.alarm_topic_arn:
            # An existing topic (the on-call tool's): its owner's policy must let CloudWatch publish.
            existing = sns.Topic.from_topic_arn(self, "ForwardTo", config.alarm_topic_arn)
            self._actions.append(actions.SnsAction(existing))
        self.alarms: list[cloudwatch.Alarm] = []

        self._alarm(
            "DeadLetters",
            watched.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            description="Uploads the processor gave up on are waiting in the dead-letter queue.",
        )
        self._alarm(
            "OldestMessage",
            watched.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            threshold=config.oldest_message_alarm_seconds,
            description="Upload notifications wait too long: uploads stay pending.",
        )
        self._alarm(
            "ExpiredUploads",
            business_metric(EXPIRED_METRIC),
            threshold=0,
            description="An upload's staged object was gone before the processor validated it: the user sees it "
            "rejected. Notifications waited longer than staged objects are kept.",
        )
        self._alarm(
            "ProcessorErrors",
            watched.processor.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=0,
            description="The processor function failed (whole invocations, not single records).",
        )
        self._alarm(
            "ApiErrors",
            watched.api_function.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=0,
            description="The API function crashed: every 5xx should be a handled problem response.",
        )
        server_errors = cloudwatch.MathExpression(
            expression="IF(requests > 0, errors / requests, 0)",
            using_metrics={
                "errors": watched.api.metric_server_error(period=PERIOD, statistic="Sum"),
                "requests": watched.api.metric_count(period=PERIOD, statistic="Sum"),
            },
            label="API 5xx rate",
            period=PERIOD,
        )
        self._alarm(
            "Api5xxRate",
            server_errors,
            threshold=config.api_5xx_rate_threshold,
            description="More than the allowed share of API requests answered 5xx.",
        )
        throttles = cloudwatch.MathExpression(
            expression="api + processor",
            using_metrics={
                "api": watched.api_function.metric_throttles(period=PERIOD, statistic="Sum"),
                "processor": watched.processor.metric_throttles(period=PERIOD, statistic="Sum"),
            },
            label="Lambda throttles",
            period=PERIOD,
        )
        self._alarm(
            "Throttles",
            throttles,
            threshold=0,
            description="Lambda throttled invocations: raise reserved concurrency or the account limit.",
        )

        self.dashboard = self._dashboard(watched)

    def _alarm(self, name: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            # No data means no traffic, not a failure.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(*self._actions)
        alarm.add_ok_action(*self._actions)
        self.alarms.append(alarm)

    def _dashboard(self, watched: Watched) -> cloudwatch.Dashboard:
        # No fixed name: CloudFormation derives a unique one, so dev and prod can share an account.
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        business = [business_metric(name) for name in (*BUSINESS_METRICS, EXPIRED_METRIC)]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Uploads", left=[*business[:3], business[4]], right=[business[3]], width=12),
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    watched.api.metric_count(period=PERIOD, statistic="Sum"),
                    watched.api.metric_client_error(period=PERIOD),
                    watched.api.metric_server_error(period=PERIOD),
                ],
                right=[watched.api.metric_latency(period=PERIOD, statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Functions",
                left=[
                    watched.api_function.metric_errors(period=PERIOD),
                    watched.processor.metric_errors(period=PERIOD),
                    watched.api_function.metric_throttles(period=PERIOD),
                    watched.processor.metric_throttles(period=PERIOD),
                ],
                right=[
                    watched.api_function.metric_duration(period=PERIOD, statistic="p99"),
                    watched.processor.metric_duration(period=PERIOD, statistic="p99"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Processing queue",
                left=[
                    watched.queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                    watched.dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD),
                ],
                right=[watched.queue.metric_approximate_age_of_oldest_message(period=PERIOD)],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )
        return dashboard
