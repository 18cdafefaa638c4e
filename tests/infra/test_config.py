"""The typed per-environment settings object: defaults, context overrides, validation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aws_cdk import RemovalPolicy

from infra.config import ENVIRONMENTS, ConfigError, config_from_context, environment_config
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
