"""The infra package's import graph: constructs import the nag mechanism, never the reverse, and no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.infra.conftest import ROOT

INFRA = ROOT / "infra"


def _infra_imports(path: Path) -> set[str]:
    """``infra.*`` modules a file imports anywhere (top level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "infra":
            found.add(node.module)
            # `from infra import storage` names a module too
            found |= {f"infra.{alias.name}" for alias in node.names if (INFRA / f"{alias.name}.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "infra"}
    return found - {"infra"}


def _graph() -> dict[str, set[str]]:
    return {f"infra.{path.stem}": _infra_imports(path) for path in sorted(INFRA.glob("*.py"))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, found by a depth-first walk from each module."""
    cycles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, set())):
            if target in path:
                cycle = [*path[path.index(target) :], target]
                if min(cycle[:-1]) == cycle[0]:  # report each cycle once, from its smallest name
                    cycles.append(cycle)
            else:
                walk(target, [*path, target])

    for start in graph:
        walk(start, [start])
    return cycles


def test_the_walk_finds_a_cycle_when_there_is_one() -> None:
    # Given a graph with nag -> stack -> pipeline -> nag (the cycle this package used to have)
    graph = {"infra.nag": {"infra.stack"}, "infra.stack": {"infra.pipeline"}, "infra.pipeline": {"infra.nag"}}
    # Then the walk reports it
    assert _cycles(graph) == [["infra.nag", "infra.stack", "infra.pipeline", "infra.nag"]]


def test_no_import_cycle_in_infra() -> None:
    # Given every import between infra modules, TYPE_CHECKING and function-level ones included
    graph = _graph()
    assert graph["infra.stack"], "the walk must see the stack's imports"
    # Then there is no cycle
    assert _cycles(graph) == []


def test_nag_is_only_the_mechanism() -> None:
    # Given the nag module
    # Then it imports no construct: each construct acknowledges its own findings through it
    assert _graph()["infra.nag"] == set()
