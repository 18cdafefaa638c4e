"""Storage refuses presigned PUTs that break what OUR API signed (MinIO, over HTTP).

moto accepts every presigned request, so these run on the live MinIO stack only. Each case
asserts the status and the *class* of error code: where MinIO and S3 differ (docs/minio.md),
the accepted codes are the ones either server gives. After a refusal nothing is stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.devstack import LocalStack
from tests.integration.live import Client, error_code, put_presigned, start_stack, storage_keys, unique_user
from tests.support import SAMPLES, md5_b64, sha256_b64

DATA = SAMPLES["application/pdf"]
SIGNATURE = {"SignatureDoesNotMatch"}
DIGEST = {"BadDigest", "XAmzContentChecksumMismatch"}


@pytest.fixture
def client(minio_stack: LocalStack) -> Iterator[Client]:
    """A fresh user on the MinIO stack."""
    client = Client(minio_stack, unique_user())
    yield client
    client.http.close()


def declared(client: Client, data: bytes = DATA) -> dict[str, Any]:
    """A single-PUT upload of a PDF declared with its SHA-256 and MD5."""
    response = client.declare(data, "application/pdf", checksums={"sha256": sha256_b64(data), "md5": md5_b64(data)})
    assert response.status_code == 201, response.text
    return dict(response.json())


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with one query parameter's value replaced."""
    head, _, query = url.partition("?")
    params = [p if not p.startswith(name + "=") else f"{name}={value}" for p in query.split("&")]
    return head + "?" + "&".join(params)


def other_signature(signature: str) -> str:
    """A different, well-formed signature."""
    return ("0" if signature[0] != "0" else "1") + signature[1:]


CASES: dict[str, Any] = {
    "body one byte shorter": lambda up: put_presigned(up, DATA[:-1], **{"Content-Length": str(len(DATA) - 1)}),
    "body one byte longer": lambda up: put_presigned(up, DATA + b"!", **{"Content-Length": str(len(DATA) + 1)}),
    "another content type": lambda up: put_presigned(up, DATA, **{"Content-Type": "text/plain"}),
    "another Content-MD5": lambda up: put_presigned(up, DATA, **{"Content-MD5": md5_b64(b"other")}),
    "tampered signature": lambda up: put_presigned(
        {
            **up,
            "url": with_query(
                up["url"], "X-Amz-Signature", other_signature(up["url"].rsplit("X-Amz-Signature=", 1)[1].split("&")[0])
            ),
        },
        DATA,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_storage_refuses_what_was_not_signed(client: Client, minio_stack: LocalStack, case: str) -> None:
    # Given an upload our API presigned (length, type and MD5 bound to the signature)
    created = declared(client)
    # When the browser sends something else than it declared
    response = CASES[case](created["upload"])
    # Then storage refuses it as a signature mismatch, and nothing is stored
    assert response.status_code == 403, response.text
    assert error_code(response) in SIGNATURE
    assert not [k for k in storage_keys(minio_stack, "") if created["file_id"] in k]


def test_storage_refuses_other_bytes_with_the_declared_md5(client: Client, minio_stack: LocalStack) -> None:
    # Given an upload presigned with the PDF's MD5
    created = declared(client)
    # When other bytes of the same length arrive with the signed headers
    forged = bytes(reversed(DATA))
    response = put_presigned(created["upload"], forged)
    # Then storage verifies the digest and refuses them (MinIO and S3: 400 BadDigest)
    assert response.status_code == 400, response.text
    assert error_code(response) in DIGEST
    assert not [k for k in storage_keys(minio_stack, "") if created["file_id"] in k]


def test_url_cannot_write_another_key(client: Client, minio_stack: LocalStack) -> None:
    # Given two uploads presigned for the same user
    first, second = declared(client), declared(client)
    # When the first URL's signature is used for the second file's key
    path_two = second["upload"]["url"].split("?")[0]
    query_one = first["upload"]["url"].split("?")[1]
    response = put_presigned({**first["upload"], "url": f"{path_two}?{query_one}"}, DATA)
    # Then storage refuses it and neither file is stored
    assert response.status_code == 403, response.text
    assert error_code(response) in SIGNATURE
    keys = storage_keys(minio_stack, "")
    assert not [k for k in keys if first["file_id"] in k or second["file_id"] in k]


def test_expired_url_is_refused(tmp_path: Path) -> None:
    # Given a stack whose PUT URLs live one second (UPVAULT_PUT_URL_EXPIRY=1)
    stack = start_stack(tmp_path, "minio", service={"put_url_expiry": 1})
    try:
        client = Client(stack, unique_user())
        created = declared(client)
        # When the browser uses the URL after it expired
        time.sleep(2.1)
        response = put_presigned(created["upload"], DATA)
        # Then storage refuses it (403 AccessDenied "Request has expired") and stores nothing
        assert response.status_code == 403, response.text
        assert error_code(response) == "AccessDenied"
        assert "expired" in response.text.lower()
        assert not [k for k in storage_keys(stack, "") if created["file_id"] in k]
    finally:
        stack.stop()
