"""Per-user signing credentials: scoped by a session policy, cached while they outlive a URL, and
URLs byte-identical to boto3's for the same (temporary) credentials.

Storage's refusal of a bent URL is shown on MinIO (tests/integration/test_hostile_storage.py):
moto accepts every presigned request.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import pytest
from botocore.auth import S3SigV4QueryAuth

from upvault.errors import StorageUnavailable
from upvault.settings import Settings, SettingsError, load_settings
from upvault.signing import MAX_CACHED_USERS, SESSION_SECONDS, ScopedCredentials, session_name, session_policy
from upvault.storage import ObjectStore, make_clients

ROLE = "arn:aws:iam::123456789012:role/upvault-signing"
KEY = "staging/alice/documents/01M88A9NNXFE5G0HW0G2XWHCYD/statement.pdf"
FIXED = datetime(2026, 11, 25, 12, 0, 0)


class FakeSts:
    """STS as the store calls it: records each AssumeRole and issues distinct credentials."""

    def __init__(self, now: datetime) -> None:
        self.calls: list[dict[str, Any]] = []
        self.now = now

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIATEMP{n:04d}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token/{n}+=",
                "Expiration": self.now + timedelta(seconds=kwargs["DurationSeconds"]),
            }
        }


@pytest.fixture(autouse=True)
def _python_signer() -> Iterator[None]:
    """botocore's Python SigV4 signer, as on Lambda (see test_presign.py)."""
    with mock.patch.dict(botocore.auth.AUTH_TYPE_MAPS, {"s3v4-query": S3SigV4QueryAuth}):
        yield


def test_the_session_policy_allows_only_the_users_own_keys() -> None:
    # Given alice's session policy on AWS (with the KMS statement SSE-KMS needs)
    policy = json.loads(session_policy("upvault-test", "alice", kms=True))
    # Then it allows writes to her staged keys and reads of her files, nothing else, no wildcard action
    allowed = {(action, resource) for s in policy["Statement"] for action in s["Action"] for resource in s["Resource"]}
    assert allowed == {
        ("s3:PutObject", "arn:aws:s3:::upvault-test/staging/alice/*"),
        ("s3:AbortMultipartUpload", "arn:aws:s3:::upvault-test/staging/alice/*"),
        ("s3:ListMultipartUploadParts", "arn:aws:s3:::upvault-test/staging/alice/*"),
        ("s3:GetObject", "arn:aws:s3:::upvault-test/files/alice/*"),
        ("kms:Decrypt", "*"),
        ("kms:GenerateDataKey", "*"),
    }
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    # and MinIO's (which refuses kms actions) has no KMS statement
    assert "kms" not in session_policy("upvault-test", "alice", kms=False)


def test_session_names_fit_sts_limits() -> None:
    # Given the longest user segments keys allow (128 characters; hashed ids are 50)
    for user in ("alice", "a" * 128, "h-" + "0" * 48):
        # Then each session name fits STS's 64 characters, and long ones stay distinct
        assert 2 <= len(session_name(user)) <= 64
    assert session_name("a" * 128) != session_name("a" * 127 + "b")


def test_credentials_are_cached_per_user_while_they_outlive_a_url() -> None:
    # Given scoped credentials whose URLs live at most 900 s
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    sts = FakeSts(now[0])
    scoped = ScopedCredentials(sts, ROLE, bucket="b-1", longest_url_seconds=900, kms=False, clock=lambda: now[0])
    # When alice signs twice, and bob once
    first = scoped.for_user("alice")
    assert scoped.for_user("alice") is first
    scoped.for_user("bob")
    # Then STS was called once per user, with the role, a one-hour session and that user's policy
    assert [call["RoleSessionName"] for call in sts.calls] == ["upvault-alice", "upvault-bob"]
    assert {call["RoleArn"] for call in sts.calls} == {ROLE}
    assert {call["DurationSeconds"] for call in sts.calls} == {SESSION_SECONDS}
    assert "staging/bob/*" in sts.calls[1]["Policy"] and "alice" not in sts.calls[1]["Policy"]
    # When less than a URL's life (plus the margin) is left on alice's session
    now[0] += timedelta(seconds=SESSION_SECONDS - 900 - 59)
    # Then her next URL gets fresh credentials: a URL never outlives the session that signed it
    assert scoped.for_user("alice") is not first
    assert len(sts.calls) == 3


def test_the_cache_is_bounded() -> None:
    # Given more users than the cache holds
    sts = FakeSts(datetime.now(UTC))
    scoped = ScopedCredentials(sts, ROLE, bucket="b-1", longest_url_seconds=900, kms=False)
    for n in range(MAX_CACHED_USERS + 1):
        scoped.for_user(f"user-{n}")
    # When the first (least recently used) signs again
    scoped.for_user("user-0")
    # Then it was dropped (a new STS call), while the most recent one is still cached
    scoped.for_user(f"user-{MAX_CACHED_USERS}")
    assert len(sts.calls) == MAX_CACHED_USERS + 2


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9000"])
def test_scoped_urls_are_identical_to_boto3_with_the_same_credentials(endpoint: str | None) -> None:
    # Given a store with a signing role (AWS, or MinIO with keys), and a fake STS
    settings = Settings(
        bucket="upvault-test",
        region="eu-central-1",
        endpoint_url=endpoint,
        access_key_id="k" if endpoint else None,
        secret_access_key="s" if endpoint else None,
        signing_role_arn=ROLE,
    )
    sts = FakeSts(datetime.now(UTC))
    with mock.patch.dict("os.environ", {"AWS_ACCESS_KEY_ID": "api", "AWS_SECRET_ACCESS_KEY": "api-secret"}):
        clients = make_clients(settings)
    store = ObjectStore(settings, dataclasses.replace(clients, sts=sts))
    # When it presigns a download of alice's file
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED):
        ours = store.presign_get(KEY.replace("staging/", "files/"), disposition="attachment", content_type="text/plain")
        # Then the URL is boto3's for alice's temporary credentials (token included), not the API's
        session = boto3.session.Session(
            aws_access_key_id="ASIATEMP0001", aws_secret_access_key="secret-1", aws_session_token="token/1+="
        )
        theirs = make_clients(settings.model_copy(update={"access_key_id": None}), session=session)
        expected = theirs.presign.generate_presigned_url(
            "get_object",
            ExpiresIn=300,
            Params={
                "Bucket": "upvault-test",
                "Key": KEY.replace("staging/", "files/"),
                "ResponseContentDisposition": "attachment",
                "ResponseContentType": "text/plain",
            },
        )
    assert ours.url == expected
    assert "X-Amz-Security-Token=token%2F1%2B%3D" in ours.url
    assert [call["RoleSessionName"] for call in sts.calls] == ["upvault-alice"]


def test_url_expiries_must_fit_in_a_signing_session() -> None:
    # Given a signing role and a download expiry longer than a session can back
    # Then the settings are refused, naming the variables
    with pytest.raises(SettingsError, match="UPVAULT_GET_URL_EXPIRY"):
        load_settings(bucket="upvault-test", signing_role_arn=ROLE, get_url_expiry=3600)
    # and without a role (the service's own credentials) it is allowed
    assert load_settings(bucket="upvault-test", get_url_expiry=3600).get_url_expiry == 3600


def test_the_sts_client_is_stss_own_and_only_made_with_a_signing_role() -> None:
    # Given a deployment on AWS with a signing role, and one without
    with_role = make_clients(Settings(bucket="upvault-test", region="eu-central-1", signing_role_arn=ROLE))
    without = make_clients(Settings(bucket="upvault-test", region="eu-central-1"))
    # Then STS is called at its regional endpoint with its own SigV4 signer (not S3's), and only
    # when URLs are signed per user
    assert with_role.sts.meta.endpoint_url == "https://sts.eu-central-1.amazonaws.com"
    assert with_role.sts.meta.config.signature_version != "s3v4"
    assert without.sts is None


def test_an_unreachable_sts_is_storage_unavailable() -> None:
    # Given a signing role on a store whose endpoint (and so its STS) does not answer
    settings = Settings(
        bucket="upvault-test",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="k",
        secret_access_key="s",
        signing_role_arn=ROLE,
        storage_connect_timeout=0.2,
        storage_max_attempts=1,
    )
    store = ObjectStore(settings, make_clients(settings))
    # When a URL is signed for a user whose session is not cached yet
    # Then it is the domain's "storage unavailable" (a 503 problem), never a bare botocore error
    with pytest.raises(StorageUnavailable):
        store.presign_get(KEY.replace("staging/", "files/"), disposition="attachment", content_type="text/plain")
