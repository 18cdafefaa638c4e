"""Observability: the alarms that matter, an encrypted alarm topic, a dashboard, X-Ray."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import ALARM_TOPIC_ARN
from tests.infra.support import Template, logical_id, props, ref_name, resources, statements


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources(template, "AWS::CloudWatch::Alarm").items()}


def _alarm(template: Template, contains: str) -> dict[str, Any]:
    (found,) = [alarm for name, alarm in _alarms(template).items() if f"Observability{contains}" in name]
    return found


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    if "MetricName" in alarm:
        return {alarm["MetricName"]}
    return {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}


def test_every_alarm_notifies_the_topic(dev: Template) -> None:
    # Given the alarms and the alarm topic
    topic = f"<{logical_id(dev, 'AWS::SNS::Topic', 'ObservabilityAlarms')}>"
    alarms = _alarms(dev)
    # Then every alarm sends both ALARM and OK to the topic
    assert len(alarms) == 7
    for alarm in alarms.values():
        assert [ref_name(a) for a in alarm["AlarmActions"]] == [topic]
        assert [ref_name(a) for a in alarm["OKActions"]] == [topic]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_dead_letter_depth_alarm_fires_on_the_first_message(dev: Template) -> None:
    # Given the DLQ alarm
    alarm = _alarm(dev, "DeadLetters")
    dlq = logical_id(dev, "AWS::SQS::Queue", "ProcessingDeadLetters")
    # Then one visible message in the DLQ is enough
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert [ref_name(d["Value"]) for d in alarm["Dimensions"]] == [f"<{dlq}.QueueName>"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_oldest_message_processor_errors_5xx_rate_and_throttles_are_alarmed(dev: Template) -> None:
    # Given the other alarms
    # Then the queue's oldest message age, processor errors, API 5xx rate and throttles are covered
    assert _alarm(dev, "OldestMessage")["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert _alarm(dev, "OldestMessage")["Threshold"] == 900
    processor_errors = _alarm(dev, "ProcessorErrors")
    assert processor_errors["MetricName"] == "Errors"
    assert ref_name(processor_errors["Dimensions"][0]["Value"]) == (
        f"<{logical_id(dev, 'AWS::Lambda::Function', 'ProcessingFunction')}>"
    )
    rate = _alarm(dev, "Api5xxRate")
    assert _metric_names(rate) == {"5xx", "Count"}
    assert any("errors / requests" in q.get("Expression", "") for q in rate["Metrics"])
    assert 0 < rate["Threshold"] < 1
    assert _metric_names(_alarm(dev, "Throttles")) == {"Throttles"}


def test_alarm_topic_is_encrypted_tls_only_and_mails_when_configured(dev: Template, prod: Template) -> None:
    # Given the alarm topic
    topic = props(dev, "AWS::SNS::Topic", "ObservabilityAlarms")
    key = logical_id(dev, "AWS::KMS::Key", "ObservabilityTopicKey")
    # Then it is encrypted with a key CloudWatch may use, and refuses plain HTTP publishers
    assert ref_name(topic["KmsMasterKeyId"]) == f"<{key}.Arn>"
    key_policy = props(dev, "AWS::KMS::Key", "ObservabilityTopicKey")["KeyPolicy"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements(key_policy))
    topic_policy = next(iter(resources(dev, "AWS::SNS::TopicPolicy").values()))["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements(topic_policy)
    )
    # And the optional email from context becomes a subscription (prod has one, dev none)
    assert not resources(dev, "AWS::SNS::Subscription")
    assert props(prod, "AWS::SNS::Subscription")["Endpoint"] == "oncall@example.com"


def test_cloudwatch_alarms_of_this_account_may_publish_to_the_topic(dev: Template, prod: Template) -> None:
    for template in (dev, prod):
        # Given the alarm topic's policy (a topic policy replaces SNS's default one)
        topic = f"<{logical_id(template, 'AWS::SNS::Topic', 'ObservabilityAlarms')}>"
        (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
        assert [ref_name(t) for t in policy["Properties"]["Topics"]] == [topic]
        document = list(statements(policy["Properties"]["PolicyDocument"]))
        # Then CloudWatch may publish, only for alarms of this account and region
        (allow,) = [s for s in document if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert (allow["Action"], ref_name(allow["Resource"])) == ("sns:Publish", topic)
        assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        assert ref_name(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
            "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
        )
        # And anything not sent over TLS is still denied
        assert [s["Condition"] for s in document if s["Effect"] == "Deny"] == [
            {"Bool": {"aws:SecureTransport": "false"}}
        ]


def test_alarms_also_reach_an_existing_topic_when_configured(staging: Template) -> None:
    # Given staging, configured with an existing (on-call) topic instead of an email
    topic = f"<{logical_id(staging, 'AWS::SNS::Topic', 'ObservabilityAlarms')}>"
    # Then every alarm notifies both the stack's topic and that one, and no email is subscribed
    for alarm in _alarms(staging).values():
        assert [ref_name(a) for a in alarm["AlarmActions"]] == [topic, ALARM_TOPIC_ARN]
        assert [ref_name(a) for a in alarm["OKActions"]] == [topic, ALARM_TOPIC_ARN]
    assert not resources(staging, "AWS::SNS::Subscription")


def test_an_upload_that_expired_before_validation_is_alarmed(dev: Template) -> None:
    # Given the alarm on the processor's UploadsExpired metric
    alarm = _alarm(dev, "ExpiredUploads")
    # Then one expired upload is enough
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Upvault", "UploadsExpired")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "upvault"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == ("GreaterThanThreshold", 0, "Sum")


def test_dashboard_shows_business_metrics_and_alarms(dev: Template) -> None:
    # Given the dashboard body
    body = ref_name(props(dev, "AWS::CloudWatch::Dashboard")["DashboardBody"])
    # Then it graphs the metrics the code emits and shows the alarms
    for metric in ("UploadsStarted", "UploadsCompleted", "UploadsRejected", "BytesUploaded", "UploadsExpired"):
        assert f'"Upvault","{metric}","service","upvault"' in body
    assert '"type":"alarm"' in body


def test_both_functions_are_traced_with_xray(dev: Template) -> None:
    # Given our functions (CDK's notification helper excluded)
    for contains in ("ApiFunction", "ProcessingFunction"):
        # Then X-Ray tracing is active
        assert props(dev, "AWS::Lambda::Function", contains)["TracingConfig"] == {"Mode": "Active"}
