"""Hostile clients at the API, on the MinIO stack over plain HTTP, as an attacker would call it.

Every case is a precise 4xx ``application/problem+json`` (never a 5xx, never a header signed
from unchecked input), and storage holds nothing the refused request asked for.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.devstack import LocalStack
from tests.integration.live import Client, areas_of, put_presigned, settled_areas, storage_keys, unique_user
from tests.support import SAMPLES, crc64nvme_b64, md5_b64, sha256_b64

MIB = 1024 * 1024
PDF = SAMPLES["application/pdf"]
BIG = SAMPLES["audio/mpeg"] + b"\x00" * (6 * MIB)  # above the test stack's 5 MiB threshold


@pytest.fixture
def client(minio_stack: LocalStack) -> Iterator[Client]:
    """A fresh user on the MinIO stack."""
    client = Client(minio_stack, unique_user("hostile"))
    yield client
    client.http.close()


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` (and an error naming ``field``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem.get("errors") or []], problem
    return problem


def owned_keys(stack: LocalStack, user: str) -> list[str]:
    """Every object stored for ``user``, in any area."""
    return [key for key in storage_keys(stack, "") if f"/{user}/" in key]


# -- checksums: only what storage verifies, required for each upload kind ------------------------


@pytest.mark.parametrize(
    ("checksums", "field"),
    [
        ({}, "checksums.sha256"),
        ({"md5": md5_b64(PDF)}, "checksums.sha256"),
        ({"sha256": sha256_b64(PDF), "crc64nvme": crc64nvme_b64(PDF)}, "checksums.crc64nvme"),
    ],
    ids=["none", "md5 only", "crc64nvme on a single PUT"],
)
def test_single_put_needs_its_sha256(
    client: Client, minio_stack: LocalStack, checksums: dict[str, str], field: str
) -> None:
    # Given a small PDF (a single PUT) declared without a SHA-256, or with a multipart checksum
    # When it is declared
    response = client.declare(PDF, "application/pdf", filename="a.pdf", checksums=checksums)
    # Then 422 names the field and the threshold that decides the upload kind; nothing is stored
    problem = assert_problem(response, 422, field)
    assert problem["multipart_threshold"] == 5 * MIB
    assert owned_keys(minio_stack, client.user) == []


@pytest.mark.parametrize(
    ("checksums", "field"),
    [
        ({"crc64nvme": crc64nvme_b64(BIG), "sha256": sha256_b64(b"not these bytes")}, "checksums.sha256"),
        ({"sha256": sha256_b64(BIG)}, "checksums.sha256"),
        ({"crc64nvme": crc64nvme_b64(BIG), "md5": md5_b64(BIG)}, "checksums.md5"),
    ],
    ids=["sha256 storage cannot verify", "sha256 alone", "md5 storage cannot verify"],
)
def test_multipart_takes_nothing_storage_cannot_verify(
    client: Client, minio_stack: LocalStack, checksums: dict[str, str], field: str
) -> None:
    # Given a file above the threshold (multipart) declared with a whole-file checksum storage
    # cannot verify across parts
    # When it is declared
    response = client.declare(BIG, "audio/mpeg", category="audio", filename="a.mp3", checksums=checksums)
    # Then 422 names the field, and no upload was started
    assert_problem(response, 422, field)
    assert owned_keys(minio_stack, client.user) == []


MALFORMED = {
    "CR/LF": "a\r\nb",
    "space": sha256_b64(PDF)[:10] + " " + sha256_b64(PDF)[11:],
    "url-safe alphabet": base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
    "no padding": sha256_b64(PDF).rstrip("="),
    "non-canonical padding bits": sha256_b64(PDF)[:-2] + "9=",
    "wrong length": base64.b64encode(b"\x01" * 31).decode(),
}


@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_checksums_are_422_naming_the_field(client: Client, value: str) -> None:
    # Given a declaration whose sha256 is not the canonical base64 of 32 bytes
    # When it is declared
    response = client.declare(PDF, "application/pdf", filename="a.pdf", checksums={"sha256": value})
    # Then 422 names checksums.sha256: nothing unchecked is ever signed into a header
    assert_problem(response, 422, "checksums.sha256")


@pytest.mark.parametrize("field", ["md5", "crc64nvme"])
def test_part_checksums_are_validated_before_they_are_signed(client: Client, field: str) -> None:
    # Given a running multipart upload
    created = client.declare(BIG, "audio/mpeg", category="audio", filename="a.mp3").json()
    # When a part URL is asked for with a checksum carrying CR/LF (a header injection attempt)
    response = client.http.post(
        f"/uploads/{created['file_id']}/parts", json={"parts": [{"part_number": 1, field: "a\r\nb"}]}
    )
    # Then 422 names the part's field; no URL signs it
    assert_problem(response, 422, f"parts.1.{field}")


def test_a_single_put_url_uploads_once(client: Client, minio_stack: LocalStack) -> None:
    # Given a declared PDF whose bytes were PUT once
    created = client.declare(PDF, "application/pdf", filename="a.pdf").json()
    assert put_presigned(created["upload"], PDF).status_code == 200
    # When the same URL is replayed at once, before the processor is done with the first bytes
    replay = put_presigned(created["upload"], PDF)
    # Then storage refuses it (the signed If-None-Match: * holds while an object is there)
    assert replay.status_code == 412, replay.text
    assert "If-None-Match" in created["upload"]["headers"]


def test_a_file_reports_only_checksums_storage_verified(client: Client) -> None:
    # Given a multipart file uploaded and completed with its true CRC64NVME
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3")
    assert client.complete(file_id, etags).status_code == 200
    # When it is read
    final = client.wait_final(file_id)
    # Then it reports storage's full-object CRC64NVME of its bytes, and no SHA-256 (none was verified)
    assert final["status"] == "ready", final
    assert final["crc64nvme"] == crc64nvme_b64(BIG)
    assert final["sha256"] is None


# -- the whole file's CRC64NVME given at completion (hashed while the parts streamed) -----------


def test_multipart_declared_without_crc_completes_with_it_and_is_ready(client: Client, minio_stack: LocalStack) -> None:
    # Given a multipart upload declared with no whole-file checksum, its parts sent with their own
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3", checksums={})
    # When it is completed with the file's true CRC64NVME
    response = client.complete(file_id, etags, crc64nvme=crc64nvme_b64(BIG))
    # Then storage verified it, the processor promoted it, and the file reports storage's value
    assert response.status_code == 200, response.text
    final = client.wait_final(file_id)
    assert final["status"] == "ready", final
    assert final["crc64nvme"] == crc64nvme_b64(BIG)
    assert settled_areas(minio_stack, file_id) == ["files"]


def test_a_wrong_crc_at_completion_is_400_and_nothing_is_promoted(client: Client, minio_stack: LocalStack) -> None:
    # Given a multipart upload declared with no whole-file checksum, every part stored
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3", checksums={})
    # When it is completed with the CRC64NVME of other bytes
    response = client.complete(file_id, etags, crc64nvme=crc64nvme_b64(BIG[::-1]))
    # Then storage refuses: 400 checksum-mismatch, the upload is still running and nothing is
    # promoted; completing with the true value afterwards works
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("checksum-mismatch")
    assert client.file(file_id).json()["status"] == "pending"
    assert areas_of(minio_stack, file_id) == ["staging"]
    assert client.complete(file_id, etags, crc64nvme=crc64nvme_b64(BIG)).status_code == 200
    assert client.wait_final(file_id)["status"] == "ready"


@pytest.mark.parametrize(
    ("declared", "given"),
    [(None, None), (crc64nvme_b64(BIG), crc64nvme_b64(BIG[::-1])), (None, "a\r\nb")],
    ids=["neither declared nor given", "differs from the declared one", "malformed"],
)
def test_completion_without_a_usable_crc_is_422(
    client: Client, minio_stack: LocalStack, declared: str | None, given: str | None
) -> None:
    # Given a multipart upload with every part stored (declared with or without its CRC64NVME)
    checksums = {"crc64nvme": declared} if declared else {}
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3", checksums=checksums)
    # When it is completed without the whole file's CRC64NVME, with another one than declared,
    # or with one that is not base64 of 8 bytes
    response = client.complete(file_id, etags, crc64nvme=given)
    # Then 422 names crc64nvme, and storage still holds the running upload only
    assert_problem(response, 422, "crc64nvme")
    assert client.file(file_id).json()["status"] == "pending"
    assert areas_of(minio_stack, file_id) == ["staging"]
    assert client.http.get(f"/uploads/{file_id}/parts").json()["missing_parts"] == []


def test_listing_parts_signs_no_url_storage_would_refuse(client: Client) -> None:
    # Given a multipart upload whose first part is stored
    created = client.declare(BIG, "audio/mpeg", category="audio", filename="b.mp3", checksums={}).json()
    size = created["multipart"]["part_size"]
    first = client.sign_parts(created["file_id"], BIG, size, [1])[1]
    assert put_presigned(first, BIG[:size]).status_code == 200
    # When its parts are listed (GET, no checksums given)
    listed = client.http.get(f"/uploads/{created['file_id']}/parts")
    # Then the answer names the stored part and the missing ones, and signs no URL (a URL without
    # the part's CRC64NVME is refused by storage); POST with the checksum signs one that works
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [part["part_number"] for part in body["parts"]] == [1]
    assert body["missing"] == []
    assert body["missing_parts"] == [2]
    second = client.sign_parts(created["file_id"], BIG, size, [2])[2]
    assert put_presigned(second, BIG[size:]).status_code == 200


# -- names: what a downloaded file is called, and what storage can keep -------------------------

ACTIVE = [
    ("report.html", "text/plain", b"<html><script>alert(1)</script></html>"),
    ("logo.svg", "image/png", SAMPLES["image/png"]),
    ("run.js", "text/csv", b"fetch('/steal')\n"),
    ("invoice.hta", "application/pdf", PDF),
    ("invoice.exe", "application/pdf", PDF),
    ("statement", "application/pdf", PDF),
]


@pytest.mark.parametrize(("filename", "content_type", "data"), ACTIVE, ids=[name for name, _, _ in ACTIVE])
def test_active_content_names_are_refused_at_declaration(
    client: Client, minio_stack: LocalStack, filename: str, content_type: str, data: bytes
) -> None:
    # Given a name whose extension is not on its type's allow-list (or no extension at all)
    category = "images" if content_type.startswith("image/") else "documents"
    # When it is declared, even with genuine bytes of the declared type
    response = client.declare(data, content_type, category=category, filename=filename)
    # Then 415 lists the extensions that type allows, and nothing is stored
    problem = assert_problem(response, 415)
    assert problem["allowed_extensions"], problem
    assert owned_keys(minio_stack, client.user) == []


def test_markup_declared_as_text_is_quarantined(client: Client) -> None:
    # Given an HTML page under an allowed text name (it got past the declaration)
    data = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
    file_id = client.upload(data, "text/plain", filename="notes.txt")
    # When the processor is done with it, Then it is rejected as active content, never ready
    final = client.wait_final(file_id)
    assert final["status"] == "rejected", final
    assert "markup" in final["reason"]


@pytest.mark.parametrize(
    ("name", "multipart"),
    [("文" * 251 + ".pdf", True), ("文" * 251 + ".pdf", False)],
    ids=["multipart", "single PUT"],
)
def test_names_too_long_for_storage_metadata_are_422_at_declaration(
    client: Client, minio_stack: LocalStack, name: str, multipart: bool
) -> None:
    # Given a name within 255 characters whose percent-encoded UTF-8 overflows storage's 2 KiB
    data = SAMPLES["application/pdf"] + (b"\x00" * 6 * MIB if multipart else b"")
    # When it is declared
    response = client.declare(data, "application/pdf", filename=name)
    # Then 422 says so (before: a 500 for multipart, a URL whose PUT always failed for single)
    problem = assert_problem(response, 422, "filename")
    assert "encoded" in problem["errors"][0]["message"]
    assert owned_keys(minio_stack, client.user) == []


def test_the_longest_name_that_fits_uploads_on_minio(client: Client) -> None:
    # Given the longest 3-byte-character name the declaration accepts next to default metadata
    name = next(
        "文" * count + ".pdf"
        for count in range(251, 0, -1)
        if client.declare(PDF, "application/pdf", filename="文" * count + ".pdf").status_code == 201
    )
    # When it is uploaded through the URL the API signed
    file_id = client.upload(PDF, "application/pdf", filename=name)
    # Then MinIO stores it (the bound is storage's own) and the name comes back whole
    final = client.wait_final(file_id)
    assert final["status"] == "ready", final
    assert final["name"] == name


# -- listing, tokens, completion: exact input or a 4xx ------------------------------------------


def test_a_cursor_with_a_trailing_newline_is_refused(client: Client) -> None:
    # Given three files and the cursor after the first page of one
    for _ in range(3):
        client.upload(PDF, "application/pdf", filename="a.pdf")
    page = client.http.get("/files", params={"limit": "1"}).json()
    assert page["cursor"]
    # When the cursor comes back with a trailing newline (or another stray character)
    for tampered in (page["cursor"] + "\n", page["cursor"] + "=", " " + page["cursor"]):
        response = client.http.get("/files", params={"limit": "1", "cursor": tampered})
        # Then it is a 422: only the exact cursor the API issued continues a listing
        assert_problem(response, 422, "cursor")


@pytest.mark.parametrize("aud", [5, True, 1.5, {"upvault": 1}, None], ids=["int", "bool", "float", "object", "null"])
def test_a_signed_token_with_a_non_string_audience_is_401(minio_stack: LocalStack, aud: Any) -> None:
    # Given a validly signed token whose aud claim is not a string (nor a list of strings)
    token = minio_stack.issuer.mint("mallory", aud=aud)
    # When it calls the API
    response = httpx.get(f"{minio_stack.api_url}/v1/files", headers={"Authorization": f"Bearer {token}"})
    # Then 401 problem+json with a Bearer challenge, never a 500
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("mangle", [str.upper, lambda etag: f"  {etag}  "], ids=["upper case", "spaces"])
def test_complete_accepts_etags_in_any_case_or_padding(client: Client, mangle: Any) -> None:
    # Given every part of a multipart upload stored
    file_id, etags = client.upload_multipart(BIG, "audio/mpeg", category="audio", filename="a.mp3")
    # When the client completes with the ETags in upper case or wrapped in spaces
    response = client.complete(file_id, {number: mangle(etag) for number, etag in etags.items()})
    # Then the upload completes (storage gets its own ETags), and the file becomes ready
    assert response.status_code == 200, response.text
    assert client.wait_final(file_id)["status"] == "ready"


def test_complete_with_parts_that_do_not_match_the_declared_crc64nvme_is_400(client: Client) -> None:
    # Given a multipart upload declared with the CRC64NVME of other bytes, each part stored
    # with its own (correct) CRC64NVME
    declared = crc64nvme_b64(BIG[::-1])
    file_id, etags = client.upload_multipart(
        BIG, "audio/mpeg", category="audio", filename="a.mp3", checksums={"crc64nvme": declared}
    )
    # When it is completed
    response = client.complete(file_id, etags)
    # Then storage's verification refuses it: a 400 problem naming the mismatch, no file appears
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("checksum-mismatch")
    assert client.file(file_id).json()["status"] == "pending"
