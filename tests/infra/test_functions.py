"""The function builder: every function's environment holds only variables the code reads."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, environment_config
from infra.functions import function_environment
from tests.infra.conftest import Assembly
from tests.infra.support import load, resources
from upvault.settings import ENV_PREFIX, Settings

READ_BY_SETTINGS = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def _is_read(variable: str) -> bool:
    """Settings reads UPVAULT_<FIELD>; Powertools and the AWS runtime read their own prefixes."""
    return variable in READ_BY_SETTINGS or variable.startswith(("POWERTOOLS_", "AWS_"))


def test_every_function_carries_only_variables_the_code_reads(assembly: Assembly) -> None:
    # Given every Lambda function of every synthesized template (all environments)
    functions = [
        (path.name, name, res["Properties"])
        for path in assembly.all_templates()
        for name, res in resources(load(path), "AWS::Lambda::Function").items()
    ]
    assert len([f for f in functions if f[2].get("Environment")]) >= 8
    for template, name, properties in functions:
        variables = properties.get("Environment", {}).get("Variables", {})
        # Then each variable is a Settings field, or Powertools' or AWS's own
        assert [v for v in variables if not _is_read(v)] == [], (template, name)
        # And no function is told an issuer or audience: API Gateway verifies tokens, not the code
        assert not [v for v in variables if v.startswith(f"{ENV_PREFIX}AUTH_")], (template, name)


def test_the_builder_writes_settings_as_upvault_variables() -> None:
    # Given Settings field names and values
    # When the builder writes a function's environment
    environment = function_environment(environment_config("dev"), {"bucket": "b", "storage_read_timeout": "60"})
    # Then each becomes UPVAULT_<FIELD>, next to Powertools' settings and the local-run
    # settings declared empty (so `sam local --env-vars` can set them; empty is unset on AWS)
    assert environment == {
        "POWERTOOLS_SERVICE_NAME": "upvault",
        "POWERTOOLS_METRICS_NAMESPACE": "Upvault",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "UPVAULT_ENDPOINT_URL": "",
        "UPVAULT_PUBLIC_ENDPOINT_URL": "",
        "UPVAULT_ACCESS_KEY_ID": "",
        "UPVAULT_SECRET_ACCESS_KEY": "",
        "UPVAULT_BUCKET": "b",
        "UPVAULT_STORAGE_READ_TIMEOUT": "60",
    }


def test_a_variable_settings_does_not_read_fails_the_synth() -> None:
    # Given a setting no Settings field reads
    # When the builder writes the environment (as every function's construction does)
    # Then the synth fails, naming the variable
    with pytest.raises(ConfigError, match=r"UPVAULT_NO_SUCH_SETTING: not read by upvault\.settings\.Settings"):
        function_environment(environment_config("dev"), {"bucket": "b", "no_such_setting": "x"})
