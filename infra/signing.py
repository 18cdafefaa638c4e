"""Signing: the role presigned URLs are signed as, one user at a time.

The API function assumes this role through STS with a per-user session policy
(:mod:`upvault.signing`) and signs each URL with those credentials, so a URL bent by an added
header (a server-side copy) can never reach another user's objects. The role may do exactly
what presigned requests do, in the areas they do it: uploads and every multipart step in
``staging/``, downloads in ``files/``, with the bucket key for SSE-KMS. Only the API
function's role may assume it.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import acknowledge
from infra.storage import Storage, StorageAccess
from upvault.keys import FILES_PREFIX, STAGING_PREFIX
from upvault.signing import FILES_ACTIONS, KMS_ACTIONS, SESSION_SECONDS, STAGING_ACTIONS

#: What a presigned request may do: the union of every user's session policy.
SIGNING_ACCESS = StorageAccess(
    objects=((STAGING_ACTIONS, (STAGING_PREFIX,)), (FILES_ACTIONS, (FILES_PREFIX,))),
    key=KMS_ACTIONS,
)


class SigningRole(Construct):
    """The signing role, trusted by ``signer`` (the API function's role) alone."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, signer: iam.IRole) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ArnPrincipal(signer.role_arn),
            description="Upvault presigned URLs: assumed per user with a session policy for that user's keys",
            # Role chaining (a Lambda role assuming this one) caps sessions at one hour anyway.
            max_session_duration=Duration.seconds(SESSION_SECONDS),
        )
        storage.grant(self.role, SIGNING_ACCESS)
        self.role.grant_assume_role(signer)
        acknowledge(
            self.role,
            [
                (
                    "NIST.800.53.R5-IAMNoInlinePolicy",
                    "CDK writes the role's exact grants as its own inline policy: unlike a managed policy, it "
                    "cannot be attached to any other principal.",
                )
            ],
        )
