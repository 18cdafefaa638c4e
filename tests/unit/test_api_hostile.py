"""Hostile input: every case is a precise 4xx problem, never a 500, and storage is untouched."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import SAMPLES, sha256_b64
from tests.unit.conftest import Api, all_keys
from upvault.settings import GIB, MIB

PDF = SAMPLES["application/pdf"]
GOOD = {
    "filename": "a.pdf",
    "content_type": "application/pdf",
    "size": len(PDF),
    "category": "documents",
    "checksums": {"sha256": sha256_b64(PDF)},
}


def declare(**change: Any) -> dict[str, Any]:
    body = dict(GOOD)
    body.update(change)
    return {k: v for k, v in body.items() if v is not ...}


HOSTILE_UPLOADS = [
    # (case, body, status, field or detail fragment)
    ("traversal is reduced to a plain name", declare(filename="../../etc/passwd.pdf"), 201, None),
    ("windows traversal", declare(filename="..\\..\\boot.pdf"), 201, None),
    ("bare dot-dot", declare(filename=".."), 422, "filename"),
    ("NUL byte", declare(filename="a\x00.pdf"), 422, "filename"),
    ("control character", declare(filename="a\x1b[31m.pdf"), 422, "filename"),
    ("RTL override hides .exe", declare(filename="invoice\u202efdp.exe"), 422, "filename"),
    ("10,000-char name", declare(filename="a" * 10_000 + ".pdf"), 422, "filename"),
    ("empty name", declare(filename=""), 422, "filename"),
    ("name is not a string", declare(filename=42), 422, "filename"),
    ("zero size", declare(size=0), 422, "size"),
    ("negative size", declare(size=-1), 422, "size"),
    ("size as string", declare(size="100"), 422, "size"),
    ("size as float", declare(size=1.5), 422, "size"),
    ("huge size", declare(size=10**15), 413, None),
    ("over the category limit", declare(size=51 * MIB), 413, None),
    ("over 5 GiB", declare(size=5 * GIB + 1, category="audio", content_type="audio/mpeg", filename="a.mp3"), 413, None),
    ("type not allowed for category", declare(content_type="application/x-msdownload"), 415, None),
    ("audio type in documents", declare(content_type="audio/mpeg", filename="a.mp3"), 415, None),
    ("extension contradicts type", declare(filename="photo.png"), 415, None),
    ("active content under a document type", declare(filename="invoice.exe"), 415, None),
    ("no extension", declare(filename="statement"), 415, None),
    ("name too long once encoded for storage", declare(filename="文" * 251 + ".pdf"), 422, "filename"),
    ("unknown category", declare(category="secrets"), 422, "category"),
    ("forged user_id", declare(user_id="bob"), 422, "user_id"),
    ("forged key", declare(key="files/bob/documents/x"), 422, "key"),
    ("md5 not base64", declare(checksums={"md5": "not base64!!"}), 422, "checksums.md5"),
    ("md5 wrong length", declare(checksums={"md5": "AAAA"}), 422, "checksums.md5"),
    ("sha256 wrong length", declare(checksums={"sha256": "AAAA"}), 422, "checksums.sha256"),
    ("unknown checksum", declare(checksums={"crc32": "AAAA"}), 422, "checksums.crc32"),
    ("metadata key with spaces", declare(metadata={"bad key": "v"}), 422, "metadata"),
    ("metadata non-ascii value", declare(metadata={"k": "wert ü"}), 422, "metadata"),
    ("metadata too large", declare(metadata={f"k{i}": "v" * 200 for i in range(8)}), 422, "metadata"),
    ("metadata not a map", declare(metadata=["a"]), 422, "metadata"),
    ("missing field", declare(size=...), 422, "size"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), HOSTILE_UPLOADS, ids=[c[0] for c in HOSTILE_UPLOADS])
def test_hostile_upload_declarations(
    api: Api, s3: Any, case: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    # Given an existing file
    before = all_keys(s3)
    # When a client declares a hostile upload
    response = api.call("POST", "/v1/uploads", body=body)
    # Then it gets exactly the expected status with a problem body (or a safe key)
    assert response.status == status, response.body
    if status == 201:
        assert "/staging/alice/documents/" in response.body["upload"]["url"]
        assert ".." not in response.body["upload"]["url"].split("?")[0]
        return
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.body
    assert problem["status"] == status
    assert problem["type"].startswith("urn:upvault:problem:")
    assert problem["title"] and problem["detail"]
    assert "Traceback" not in str(problem)
    if field:
        assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    # and nothing in storage changed
    assert all_keys(s3) == before


def test_malformed_json_is_400(api: Api) -> None:
    # Given / When a body that is not JSON
    response = api.call("POST", "/v1/uploads", body=b"{not json")
    # Then 400 problem
    assert response.status == 400
    assert response.body["type"] == "urn:upvault:problem:malformed-json"


def test_too_large_problem_names_the_limit(api: Api) -> None:
    # Given / When a 51 MiB document
    response = api.call("POST", "/v1/uploads", body=declare(size=51 * MIB))
    # Then 413 says the limit
    assert response.status == 413
    assert response.body["max_size"] == 50 * MIB


def test_type_problem_lists_allowed_types(api: Api) -> None:
    # Given / When an executable as a document
    response = api.call("POST", "/v1/uploads", body=declare(content_type="application/x-msdownload"))
    # Then 415 lists what is allowed
    assert response.status == 415
    assert "application/pdf" in response.body["allowed_types"]


@pytest.mark.parametrize("claims", [None, {}, {"sub": ""}, {"sub": 42}, {"sub": "x" * 5000}])
def test_missing_or_unusable_identity_is_401(api: Api, claims: dict[str, Any] | None) -> None:
    # Given a request without usable authorizer claims
    response = api.call("GET", "/v1/files", user=None, claims=claims)
    # Then 401 problem with a Bearer challenge
    assert response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.body["type"] == "urn:upvault:problem:unauthorized"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/not-an-id",
        "/v1/files/..%2F..%2Fetc",
        "/v1/files/01M88A9NNXFE5G0HW0G2XWHCYX",
        "/v1/files/" + "A" * 300,
        "/v1/nowhere",
    ],
)
def test_unknown_ids_and_paths_are_404_problems(api: Api, path: str) -> None:
    # Given / When unknown ids (malformed, wrong category code, long) or paths
    response = api.call("GET", path)
    # Then 404 problem, no 500
    assert response.status == 404
    assert response.body["status"] == 404


def test_wrong_method_is_405_problem(api: Api) -> None:
    response = api.call("PUT", "/v1/files")
    assert response.status == 405
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "status=lost", "category=secrets", "cursor=%%%", "cursor=ZG9jdW1lbnRz"],
)
def test_bad_list_queries_are_422(api: Api, query: str) -> None:
    response = api.call("GET", "/v1/files", query=query)
    assert response.status == 422, response.body
    assert response.body["errors"]
