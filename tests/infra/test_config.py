"""The typed per-environment settings object: defaults, context overrides, validation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aws_cdk import RemovalPolicy

from infra.application import build_app
from infra.config import ENVIRONMENTS, STAGING_MARGIN_DAYS, ConfigError, config_from_context, environment_config
from tests.infra.conftest import ROOT
from upvault.bucket_rules import bucket_rules


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_each_environment_is_valid_and_its_bucket_rules_come_from_the_core(name: str) -> None:
    # Given an environment's config
    config = environment_config(name)
    # Then its bucket rules are bucket_rules() with its own origins and retention
    assert config.bucket_rules() == bucket_rules(
        cors_origins=config.cors_origins,
        noncurrent_retention_days=config.noncurrent_retention_days,
        staging_expiry_days=config.staging_retention,
        intelligent_tiering_days=config.intelligent_tiering_days,
    )
    assert config.queue_visibility_timeout_seconds >= 6 * config.processor_timeout_seconds


def test_only_dev_may_lose_data() -> None:
    # Given the three environments
    # Then only dev deletes its data with the stack; staging and prod retain it
    assert [environment_config(n).retain_data for n in ENVIRONMENTS] == [False, True, True]
    # And every stateful construct reads that from one property of the config
    assert [environment_config(n).removal_policy for n in ENVIRONMENTS] == [
        RemovalPolicy.DESTROY,
        RemovalPolicy.RETAIN,
        RemovalPolicy.RETAIN,
    ]
    assert environment_config("prod").noncurrent_retention_days == 365


def test_context_chooses_the_environment_and_overrides_fields() -> None:
    # Given CDK context as the CLI passes it (strings) and a cdk.json block
    context = {
        "env": "prod",
        "upvault:prod": {"noncurrent_retention_days": 400, "alarm_email": "a@example.com"},
        "alarm_email": "b@example.com",
        "cors_origins": "https://a.example.com, https://b.example.com",
    }
    # When the config is built from it
    config = config_from_context(context.get)
    # Then flat keys win over the block, which wins over the defaults, and values are typed
    assert config.name == "prod"
    assert config.noncurrent_retention_days == 400
    assert config.alarm_email == "b@example.com"
    assert config.cors_origins == ("https://a.example.com", "https://b.example.com")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cors_origins": "*"}, "cors_origins"),
        ({"auth_issuer": "https://issuer.example.com"}, "auth_issuer and auth_audience"),
        ({"log_retention_days": 10}, "log_retention_days"),
        ({"api_timeout_seconds": 60}, "api_timeout_seconds"),
        ({"connection_arn": "arn:aws:s3:::bucket"}, "connection_arn"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_settings_fail_the_synth_with_the_setting_named(overrides: dict[str, object], message: str) -> None:
    # Given a bad or unknown setting
    # When the config is built
    # Then it fails, naming what is wrong
    with pytest.raises(ConfigError, match=message):
        environment_config("dev", overrides)


def test_unknown_environment_is_refused() -> None:
    # Given a typo in -c env=...
    # Then the error lists the valid environments
    with pytest.raises(ConfigError, match="dev, staging, prod"):
        config_from_context({"env": "production"}.get)


def test_config_imports_without_aws_cdk() -> None:
    # Given a fresh interpreter, as the local MinIO bootstrap runs it
    code = (
        "import sys\n"
        "from infra.config import environment_config\n"
        "rules = environment_config('dev').bucket_rules()\n"
        "assert rules.cors.allowed_origins\n"
        "assert not [m for m in sys.modules if m.startswith(('aws_cdk', 'jsii', 'constructs'))], 'cdk imported'\n"
    )
    # When it imports infra.config and builds dev's bucket rules
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'src'}", "PATH": "/usr/bin:/bin"},
    )
    # Then no CDK module was loaded
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_shared_environment_without_real_origins_or_alarm_subscriber_fails_the_synth(name: str) -> None:
    # Given staging or prod as shipped: placeholder origins, nobody subscribed to alarms
    # When the app is built for it (what `cdk synth -c env=<name>` and the pipeline both do)
    with pytest.raises(ConfigError) as failure:
        build_app(context={"env": name})
    # Then the synth stops with a message naming each setting to change and where
    message = str(failure.value)
    assert message.startswith(f"{name} cannot be deployed")
    assert "cors_origins: https://" in message and "reserved example domain" in message
    assert "alarm_email or alarm_topic_arn" in message
    assert f"upvault:{name}" in message


@pytest.mark.parametrize(
    "origin",
    ["https://app.upvault.example", "https://example.com", "https://www.example.org:8443", "http://upvault.test"],
)
def test_an_origin_on_a_reserved_example_domain_is_refused_outside_dev(origin: str) -> None:
    # Given prod with an alarm subscriber and one placeholder origin among real ones
    overrides = {"alarm_email": "ops@bank.co", "cors_origins": ["https://app.bank.co", origin]}
    # Then prod refuses it, naming the origin and the setting; dev accepts the same origins
    problems = environment_config("prod", overrides).deployment_problems()
    assert len(problems) == 1 and problems[0].startswith(f"cors_origins: {origin} ")
    assert environment_config("dev", overrides).deployment_problems() == []
    # And real origins with a subscriber (email or existing topic) are deployable
    real = {"cors_origins": ["https://app.bank.co"]}
    for subscriber in (
        {"alarm_email": "ops@bank.co"},
        {"alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:oncall"},
    ):
        environment_config("prod", real | subscriber).require_deployable()


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_staged_objects_outlive_the_longest_wait_of_their_notification(name: str) -> None:
    # Given an environment's config
    config = environment_config(name)
    # Then staged objects (current and noncurrent) are kept longer than a message can wait:
    # the whole queue retention, then the whole DLQ retention, plus the margin
    (staging,) = [rule for rule in config.bucket_rules().lifecycle if rule.prefix == "staging/"]
    wait = config.queue_retention_days + config.dead_letter_retention_days
    assert staging.expiration_days == staging.noncurrent_expiration_days == config.staging_retention
    assert config.staging_retention >= wait + STAGING_MARGIN_DAYS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"staging_retention_days": 1}, r"staging_retention_days \(1\) must be at least"),
        ({"queue_retention_days": 14, "staging_retention_days": 29}, r"staging_retention_days \(29\)"),
        ({"dead_letter_retention_days": 2}, "dead_letter_retention_days must be at least queue_retention_days"),
        ({"processor_reserved_concurrency": 3, "processor_max_concurrency": 4}, "processor_max_concurrency"),
        ({"processor_max_concurrency": 1}, "processor_max_concurrency"),
        ({"public_throttle_rate": 30, "public_throttle_burst": 30}, "public_throttle_rate/burst must not exceed"),
    ],
)
def test_inconsistent_retention_and_limits_fail_the_synth(overrides: dict[str, object], message: str) -> None:
    # Given retentions or limits that contradict each other
    # When the config is built (at synth)
    # Then it fails, naming the setting
    with pytest.raises(ConfigError, match=message):
        environment_config("dev", overrides)
