"""cdk-nag: the rule packs every synth runs, and the mechanism to acknowledge a finding.

cdk-nag 3 plugs into CDK's policy validation (``Validations.of(app).add_plugins``), not into
Aspects; an unacknowledged finding fails the synth. Each construct acknowledges its own
findings next to the resource they are about, with its reason, through :func:`acknowledge`.
Acknowledgements name exact finding ids (``AwsSolutions-IAM5[Action::s3:Abort*]``), never a
whole rule, so a new wildcard still fails.

This module imports no other ``infra`` module: every construct may import it.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct

#: The packs every synth runs; a finding of any of them fails the synth unless acknowledged.
#: NIST 800-53 rev. 5 is what a bank's auditors map controls to; its acknowledged findings are
#: listed with their reasons in docs/infrastructure.md ("cdk-nag").
PACKS = (AwsSolutionsChecks, ServerlessChecks, NIST80053R5Checks)


def apply_checks(app: App) -> None:
    """Run the AwsSolutions, Serverless and NIST 800-53 R5 packs on everything the app synthesizes."""
    # Acknowledgements are also written into each resource's template Metadata (cdk_nag), so the
    # reasons travel with the template and the tests can check every one of them.
    Validations.of(app).add_plugins(*(pack(app, write_suppressions_to_cloud_formation=True) for pack in PACKS))


def acknowledge(scope: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge ``(finding id, reason)`` pairs on ``scope`` and everything below it."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in findings))


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource, as cdk-nag prints it in finding ids."""
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]
