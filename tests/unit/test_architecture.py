"""The layers, checked from the source so the architecture cannot rot.

core (``src/upvault``) ← ``functions/`` ← (``infra/`` | ``local/``): imports point inward only,
the core ships only what the Lambdas run, and every ``UPVAULT_*`` variable has one reader.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from local.powertools_env import POWERTOOLS_ENVIRONMENT
from local.settings import DevSettings
from upvault.settings import Settings
from upvault_client.config import ClientSettings

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "upvault"

#: What the core must never import: the web framework, the Lambda adapters, PyJWT (absent on
#: Lambda), and every outer layer.
CORE_FORBIDDEN = (
    "functions",
    "infra",
    "local",
    "migration",
    "tests",
    "fastapi",
    "starlette",
    "mangum",
    "jwt",
    "aws_lambda_powertools.event_handler",
)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Each absolute module name ``path`` imports (``from x import y`` gives ``x`` and ``x.y``)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def offending(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line module`` for every import under ``folder`` of ``forbidden`` or below it."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in imports(path):
            if any(module == name or module.startswith(name + ".") for name in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} {module}")
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("src/upvault", CORE_FORBIDDEN),
        ("functions", ("infra", "local", "migration", "tests", "jwt")),
        ("infra", ("local", "migration", "tests")),
        # The migration tool reads the core's layout rules; it is no part of the service.
        ("migration", ("functions", "infra", "local", "tests", "fastapi", "mangum", "jwt")),
        # The Python client speaks HTTP only: no service code, no AWS SDK, no web framework.
        ("clients/python/upvault_client", (*CORE_FORBIDDEN, "upvault", "boto3", "botocore", "aws_lambda_powertools")),
    ],
)
def test_imports_point_inward_only(layer: str, forbidden: tuple[str, ...]) -> None:
    # Given every module of a layer
    # When its imports are read from the source
    # Then none reaches an outer layer (or a library that layer must not depend on)
    assert offending(ROOT / layer, forbidden) == []


def runtime_modules() -> set[str]:
    """Top-level modules of requirements.txt (what the Lambda layer holds) and their dependencies."""
    wanted = [
        Requirement(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    distributions: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name in distributions:
            continue
        distributions.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                wanted.append(dependency)
    return {
        module
        for module, owners in importlib.metadata.packages_distributions().items()
        if any(re.sub(r"[-_.]+", "-", owner).lower() in distributions for owner in owners)
    }


def test_the_core_imports_only_the_standard_library_and_runtime_dependencies() -> None:
    # Given what the Lambda layer ships (requirements.txt and what it pulls in)
    allowed = runtime_modules() | set(sys.stdlib_module_names) | {"upvault"}
    # When the core's imports are read
    outside = [
        f"{path.relative_to(ROOT)}:{line} {module}"
        for path in sorted(CORE.rglob("*.py"))
        for line, module in imports(path)
        if module.split(".")[0] not in allowed and not module.startswith("__future__")
    ]
    # Then each is there: nothing the core imports is missing on Lambda
    assert outside == []


def test_each_upvault_variable_has_one_reader() -> None:
    # Given the service's settings, the local stack's and the Python client's, all read from UPVAULT_*
    readers = (Settings, DevSettings, ClientSettings)
    assert {reader.model_config["env_prefix"] for reader in readers} == {"UPVAULT_"}
    # Then no field (so no variable) belongs to two of them
    for index, reader in enumerate(readers):
        for other in readers[index + 1 :]:
            assert set(reader.model_fields) & set(other.model_fields) == set(), (reader, other)


def test_the_core_settings_hold_only_what_the_lambdas_read() -> None:
    # Given the token issuer settings, read only by the local authorizer (API Gateway does it on AWS)
    # Then the core's Settings neither has them nor mentions them
    assert not {"auth_issuer", "auth_audience", "auth_jwks_url"} & set(Settings.model_fields)
    assert [
        path.name for path in CORE.rglob("*.py") if re.search(r"auth_(issuer|audience|jwks)", path.read_text())
    ] == []


def test_the_local_stack_configures_powertools_as_infra_does() -> None:
    # Given the service name and metrics namespace the CDK function helper sets on Lambda
    # (read from its source: importing it would start CDK's node process in this tier)
    tree = ast.parse((ROOT / "infra" / "functions.py").read_text())
    constants = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in ("SERVICE_NAME", "METRICS_NAMESPACE")
    }
    # Then the local stack sets the same values
    assert POWERTOOLS_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"] == constants["SERVICE_NAME"]
    assert POWERTOOLS_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"] == constants["METRICS_NAMESPACE"]
