"""Customer-managed KMS keys: one helper, so every key rotates and says what it encrypts."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import EnvironmentConfig


def rotating_key(
    scope: Construct, construct_id: str, *, config: EnvironmentConfig, encrypts: str, removal_policy: RemovalPolicy
) -> kms.Key:
    """A customer-managed key with yearly rotation, described as ``Upvault <env>: encrypts <encrypts>``."""
    return kms.Key(
        scope,
        construct_id,
        description=f"Upvault {config.name}: encrypts {encrypts}",
        enable_key_rotation=True,
        removal_policy=removal_policy,
    )
