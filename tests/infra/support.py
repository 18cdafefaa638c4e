"""Small readers for synthesized CloudFormation templates (plain dicts, no snapshots)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Template = dict[str, Any]


def resources(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    """All resources of one CloudFormation type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def only(template: Template, type_: str, contains: str = "") -> tuple[str, dict[str, Any]]:
    """The single resource of ``type_`` whose logical id contains ``contains``."""
    found = [(name, res) for name, res in resources(template, type_).items() if contains in name]
    assert len(found) == 1, f"expected one {type_} matching {contains!r}, found {[n for n, _ in found]}"
    return found[0]


def props(template: Template, type_: str, contains: str = "") -> dict[str, Any]:
    """Properties of the single resource of ``type_`` whose logical id contains ``contains``."""
    return dict(only(template, type_, contains)[1]["Properties"])


def ref_name(value: Any) -> str:
    """Render a Ref/GetAtt/Join as a short readable string, e.g. ``<StorageUploads.Arn>/staging/*``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}.{value['Fn::GetAtt'][1]}>"
    if "Fn::Join" in value:
        return value["Fn::Join"][0].join(ref_name(part) for part in value["Fn::Join"][1])
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    """CloudFormation allows a single value where a list is meant."""
    return value if isinstance(value, list) else [value]


def statements(policy_document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Statements of a policy document."""
    yield from as_list(policy_document["Statement"])


def allowed(template: Template, policy_contains: str) -> dict[tuple[str, str], Any]:
    """``{(action, resource): condition}`` for every Allow in the IAM policy named like ``policy_contains``."""
    pairs: dict[tuple[str, str], Any] = {}
    for name, res in resources(template, "AWS::IAM::Policy").items():
        if policy_contains not in name:
            continue
        for statement in statements(res["Properties"]["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    pairs[(action, ref_name(resource))] = statement.get("Condition")
    assert pairs, f"no IAM policy named like {policy_contains!r}"
    return pairs


def logical_id(template: Template, type_: str, contains: str) -> str:
    """Logical id of the single resource of ``type_`` whose id contains ``contains``."""
    return only(template, type_, contains)[0]


def env_of(template: Template, function_contains: str) -> dict[str, Any]:
    """Environment variables of one Lambda function."""
    return dict(props(template, "AWS::Lambda::Function", function_contains)["Environment"]["Variables"])


def load(path: Path) -> Template:
    """A synthesized template file."""
    loaded: Template = json.loads(path.read_text())
    return loaded
