"""Per-user signing credentials: a presigned URL can only touch its own user's keys.

A presigned request acts with the credentials that signed it, and storage checks those
credentials' permissions, not the URL's intent. Signed with the API's own credentials, a URL
could be bent (MinIO executes an unsigned ``x-amz-copy-source`` added to a presigned PUT) into
reading any object the API can read. So each URL is signed with short-lived credentials from
STS ``AssumeRole`` on a dedicated signing role, narrowed by a *session policy* to the keys of
the user the URL is for: writes under ``staging/<user>/``, reads under ``files/<user>/``,
nothing else. Storage itself then refuses a copy of another user's object (403 AccessDenied).

A URL signed with temporary credentials dies with their session, so credentials are reused
only while their remaining life covers the longest URL expiry plus a margin; a warm API makes
no STS call per request. Role chaining (the Lambda role assuming the signing role) caps a
session at one hour, which bounds the URL expiries (checked in settings).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.credentials import Credentials

from upvault.keys import FILES_PREFIX, STAGING_PREFIX

#: What a presigned request may do on its user's staged keys: single PUT, every multipart step
#: (create, upload part and complete are all ``s3:PutObject`` in IAM), list parts, abort.
STAGING_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
#: What a presigned request may do on its user's ready files: download.
FILES_ACTIONS = ("s3:GetObject",)
#: SSE-KMS: S3 calls KMS with the requester's session (writes need a data key, reads and
#: multipart uploads Decrypt); the role's own policy names the key. MinIO refuses ``kms:*``
#: actions in a session policy (its KMS is internal), so this statement is for AWS only.
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

#: STS's longest session for a chained role (the Lambda role assuming the signing role).
SESSION_SECONDS = 3600
#: Credentials are renewed once less than the longest URL expiry plus this margin is left.
RENEW_MARGIN_SECONDS = 60
#: Users whose credentials one process keeps (least recently used are dropped).
MAX_CACHED_USERS = 1024
#: STS allows 2..64 characters ``[\w+=,.@-]`` in a session name.
_MAX_SESSION_NAME = 64


def session_policy(bucket: str, user: str, *, kms: bool) -> str:
    """The session policy of ``user``'s signing credentials (JSON, as STS takes it).

    ``user`` is a key segment (:func:`upvault.keys.user_segment`: ``[a-z0-9_-]`` only), so it
    is safe inside an ARN: it can neither widen the pattern nor reach another user's prefix.
    """
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": list(STAGING_ACTIONS),
            "Resource": [f"arn:aws:s3:::{bucket}/{STAGING_PREFIX}{user}/*"],
        },
        {
            "Effect": "Allow",
            "Action": list(FILES_ACTIONS),
            "Resource": [f"arn:aws:s3:::{bucket}/{FILES_PREFIX}{user}/*"],
        },
    ]
    if kms:
        # Intersected with the role's policy, which names the bucket's key only.
        statements.append({"Effect": "Allow", "Action": list(KMS_ACTIONS), "Resource": ["*"]})
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def session_name(user: str) -> str:
    """The STS session name for ``user`` (shown in CloudTrail), within STS's 64 characters."""
    name = f"upvault-{user}"
    if len(name) <= _MAX_SESSION_NAME:
        return name
    return "upvault-h-" + hashlib.sha256(user.encode()).hexdigest()[: _MAX_SESSION_NAME - 10]


class ScopedCredentials:
    """Signing credentials per user from STS ``AssumeRole``, cached while they stay useful.

    Args:
        sts: A boto3 STS client (the API's own credentials call ``AssumeRole``).
        role_arn: The signing role (MinIO accepts any ARN and scopes the caller's own rights).
        bucket: The uploads bucket the session policy names.
        longest_url_seconds: The longest expiry of a URL signed with these credentials.
        kms: Whether the session policy allows the KMS calls SSE-KMS needs (AWS only).
        clock: Now, as an aware datetime (tests move it).
    """

    def __init__(
        self,
        sts: Any,
        role_arn: str,
        *,
        bucket: str,
        longest_url_seconds: int,
        kms: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sts = sts
        self._role_arn = role_arn
        self._bucket = bucket
        self._min_remaining = longest_url_seconds + RENEW_MARGIN_SECONDS
        self._kms = kms
        self._clock = clock
        self._cache: OrderedDict[str, tuple[Credentials, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def for_user(self, user: str) -> Credentials:
        """Credentials that may sign requests on ``user``'s own keys only (one STS call when cold)."""
        with self._lock:
            cached = self._cache.get(user)
            if cached and (cached[1] - self._clock()).total_seconds() >= self._min_remaining:
                self._cache.move_to_end(user)
                return cached[0]
        response = self._sts.assume_role(
            RoleArn=self._role_arn,
            RoleSessionName=session_name(user),
            DurationSeconds=SESSION_SECONDS,
            Policy=session_policy(self._bucket, user, kms=self._kms),
        )
        issued = response["Credentials"]
        credentials = Credentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
        with self._lock:
            self._cache[user] = (credentials, issued["Expiration"])
            self._cache.move_to_end(user)
            while len(self._cache) > MAX_CACHED_USERS:
                self._cache.popitem(last=False)
        return credentials
