"""The ``upvault`` console script's entry point: local-stack commands and the client's, one CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from functions.api.app import create_app
from local.cli import main
from local.powertools_env import POWERTOOLS_ENVIRONMENT
from upvault.settings import Settings


@pytest.fixture(autouse=True)
def _powertools_environment_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI sets Powertools' variables for its own process (metrics off, as `upvault dev` wants);
    in this shared test process they must not leak into later tests that count metrics."""
    for name in POWERTOOLS_ENVIRONMENT:
        monkeypatch.setenv(name, os.environ.get(name, ""))
        monkeypatch.delenv(name)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local stack's state dir of this test."""
    monkeypatch.setenv("UPVAULT_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_local_stack_commands_keep_their_surface(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When a dev token is minted, dead letters listed, and the OpenAPI printed
    assert main(["dev-token", "--user", "bob", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["dlq", "list", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    assert main(["dlq", "list"]) == 0
    listed = capsys.readouterr().out
    assert main(["openapi"]) == 0
    document = json.loads(capsys.readouterr().out)
    # Then each answers as before
    assert token.count(".") == 2
    assert letters == [] and listed.strip() == "no dead letters"
    assert document == create_app(Settings(bucket="openapi-example")).openapi()


def test_usage_errors_exit_2(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When a required option is missing, or a client command has no API configured
    assert main(["dev-token"]) == 2
    assert "--user" in capsys.readouterr().err
    # Then the exit code is 2 with a message naming the fix
    assert main(["ls", "--api-url", "ftp://nowhere"]) == 2
    assert "api_url" in capsys.readouterr().err


def test_every_command_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    # When help is asked for
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    # Then the local-stack commands and the client's are all there
    for command in ("dev", "dev-token", "dlq", "openapi", "upload", "ls", "get", "info", "rm", "restore", "login"):
        assert f"  {command} " in text
