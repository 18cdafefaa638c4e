"""POST /v1/uploads and the multipart endpoints, through the API Lambda handler on moto."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support import SAMPLES, crc64nvme_b64, md5_b64, sha256_b64
from tests.unit.conftest import Api, all_keys, put_presigned
from upvault.settings import MIB

#: A well-formed whole-file CRC64NVME (for requests refused before storage checks it).
CRC_ZERO = "AAAAAAAAAAA="

PDF = SAMPLES["application/pdf"]


def signed_headers(url: str) -> set[str]:
    return set(parse_qs(urlparse(url).query)["X-Amz-SignedHeaders"][0].split(";"))


def test_single_upload_returns_presigned_put_with_exact_headers(api: Api) -> None:
    # Given a small PDF with both checksums declared
    body = {"checksums": {"md5": md5_b64(PDF), "sha256": sha256_b64(PDF)}, "metadata": {"statement-month": "2026-10"}}
    # When the client declares it
    response = api.upload(PDF, content_type="application/pdf", filename="Kontoauszug Oktober.pdf", **body)
    # Then it gets a single presigned PUT whose signature binds size, type, checksums and metadata
    assert response.status == 201
    upload = response.body["upload"]
    assert response.body["multipart"] is None
    assert response.body["upload_id"] == response.body["file_id"]
    assert upload["method"] == "PUT"
    headers = {k.lower(): v for k, v in upload["headers"].items()}
    assert headers["content-type"] == "application/pdf"
    assert headers["content-md5"] == md5_b64(PDF)
    assert headers["x-amz-checksum-sha256"] == sha256_b64(PDF)
    assert headers["x-amz-meta-c-statement-month"] == "2026-10"
    # and every header the client must send is exactly the set the signature covers, plus the
    # length, which stays signed but is not listed: browsers refuse to set it (they send the body's)
    assert "content-length" not in headers
    assert signed_headers(upload["url"]) == set(headers) | {"host", "content-length"}
    # and it is SigV4 (SigV2 URLs are a classic SignatureDoesNotMatch cause)
    assert parse_qs(urlparse(upload["url"]).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    # and boto3's default CRC32 checksum is not baked into the URL
    assert "x-amz-checksum-crc32" not in upload["url"].lower()
    assert "/staging/alice/documents/" in upload["url"]


def test_presigned_put_expiry_is_the_configured_default(api: Api) -> None:
    # Given / When a declared upload
    response = api.upload(PDF, content_type="application/pdf")
    # Then the URL lives 900 s (the PUT default)
    assert parse_qs(urlparse(response.body["upload"]["url"]).query)["X-Amz-Expires"] == ["900"]


def test_uploaded_object_carries_the_declaration_as_metadata(api: Api, s3: Any) -> None:
    # Given a declared upload
    response = api.upload(PDF, content_type="application/pdf", filename="Ünïcode ☃.pdf")
    # When the browser PUTs it with the returned headers
    assert put_presigned(response.body["upload"], PDF).status_code == 200
    # Then the staged object records the original name and size for the processor
    key = all_keys(s3)[0]
    head = s3.head_object(Bucket="upvault-test", Key=key)
    assert key.endswith("/Unicode.pdf")
    assert head["Metadata"]["upvault-name"] == "%C3%9Cn%C3%AFcode%20%E2%98%83.pdf"
    assert head["Metadata"]["upvault-size"] == str(len(PDF))
    assert head["ContentType"] == "application/pdf"


def test_large_upload_gets_a_multipart_plan(api: Api, s3: Any) -> None:
    # Given a file over the (test) 5 MiB threshold
    size = 11 * MIB
    # When declared
    response = api.call(
        "POST",
        "/v1/uploads",
        body={
            "filename": "call.mp3",
            "content_type": "audio/mpeg",
            "size": size,
            "category": "audio",
            "checksums": {"crc64nvme": crc64nvme_b64(_audio(size))},
        },
    )
    # Then the answer is a plan: 5 MiB parts, 3 of them, and where to sign them (no part URL
    # yet: storage refuses a part without its CRC64NVME, which this declaration did not give)
    assert response.status == 201
    plan = response.body["multipart"]
    assert response.body["upload"] is None
    assert plan.pop("parts") == []
    assert plan.pop("create") is None  # the API runs this upload itself
    assert plan == {
        "part_size": 5 * MIB,
        "part_count": 3,
        "parts_url": f"/v1/uploads/{response.body['upload_id']}/parts",
    }
    # and only a placeholder exists yet (the upload is pending, not visible)
    listing = api.call("GET", "/v1/files", query="status=ready")
    assert listing.body["items"] == []


def _multipart(api: Api, data: bytes) -> tuple[str, dict[str, Any]]:
    # Declared without the whole file's CRC64NVME: the client gives it at completion.
    response = api.upload(
        data, content_type="audio/mpeg", category="audio", filename="call.mp3", multipart=True, checksums={}
    )
    assert response.status == 201, response.body
    upload_id = response.body["upload_id"]
    parts = api.call("GET", f"/v1/uploads/{upload_id}/parts")
    assert parts.status == 200, parts.body
    return upload_id, parts.body


def _audio(size: int) -> bytes:
    return SAMPLES["audio/mpeg"] + b"\x00" * (size - len(SAMPLES["audio/mpeg"]))


def _sign(api: Api, upload_id: str, data: bytes, numbers: list[int]) -> list[dict[str, Any]]:
    body = {
        "parts": [
            {"part_number": n, "crc64nvme": crc64nvme_b64(data[(n - 1) * 5 * MIB : n * 5 * MIB])} for n in numbers
        ]
    }
    signed = api.call("POST", f"/v1/uploads/{upload_id}/parts", body=body)
    assert signed.status == 200, signed.body
    return list(signed.body["missing"])


def test_multipart_upload_resumes_and_completes(api: Api, s3: Any, process: Any) -> None:
    # Given a multipart upload of 11 MiB with one part already uploaded
    data = _audio(11 * MIB)
    upload_id, progress = _multipart(api, data)
    assert progress["missing_parts"] == [1, 2, 3]
    assert progress["missing"] == []  # GET signs nothing: storage needs each part's CRC64NVME
    first = _sign(api, upload_id, data, [1])[0]
    etags = {1: put_presigned(first, data[: 5 * MIB]).headers["ETag"]}
    # When the client comes back (page reload) and asks what is missing
    resumed = api.call("GET", f"/v1/uploads/{upload_id}/parts")
    # Then part 1 is reported stored, parts 2 and 3 missing; it signs those with their checksums
    assert [p["part_number"] for p in resumed.body["parts"]] == [1]
    assert resumed.body["missing_parts"] == [2, 3]
    signed = _sign(api, upload_id, data, [2, 3])
    assert signed[1]["size"] == MIB
    for part in signed:
        start = (part["part_number"] - 1) * 5 * MIB
        put = put_presigned(part, data[start : start + part["size"]])
        etags[part["part_number"]] = put.headers["ETag"]
    # When it completes with the ETags and the whole file's CRC64NVME
    done = api.call(
        "POST",
        f"/v1/uploads/{upload_id}/complete",
        body={"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)], "crc64nvme": crc64nvme_b64(data)},
    )
    # Then the file is pending, and after processing it is ready with all bytes
    assert done.status == 200, done.body
    assert done.body["status"] == "pending"
    assert done.body["size"] == len(data)
    process(next(k for k in all_keys(s3) if k.startswith("staging/")))
    info = api.call("GET", f"/v1/files/{upload_id}")
    assert info.body["status"] == "ready"
    assert info.body["size"] == len(data)
    final = next(k for k in all_keys(s3) if k.startswith("files/"))
    assert s3.get_object(Bucket="upvault-test", Key=final)["Body"].read() == data
    # and completing twice is a conflict, not a second object
    again = api.call(
        "POST",
        f"/v1/uploads/{upload_id}/complete",
        body={"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)], "crc64nvme": crc64nvme_b64(data)},
    )
    assert again.status == 409
    assert again.body["type"] == "urn:upvault:problem:conflict"


def test_sign_parts_binds_the_part_checksums(api: Api) -> None:
    # Given a multipart upload
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When the client asks for part 2's URL with its CRC64NVME and MD5
    chunk = b"x" * 5 * MIB
    signed = api.call(
        "POST",
        f"/v1/uploads/{upload_id}/parts",
        body={"parts": [{"part_number": 2, "crc64nvme": crc64nvme_b64(chunk), "md5": md5_b64(chunk)}]},
    )
    # Then exactly that part is signed, with both checksums and its length in the signature
    assert signed.status == 200
    [part] = signed.body["missing"]
    assert part["part_number"] == 2
    assert signed_headers(part["url"]) == {"content-length", "content-md5", "host", "x-amz-checksum-crc64nvme"}
    assert part["headers"]["Content-MD5"] == md5_b64(chunk)
    assert part["headers"]["x-amz-checksum-crc64nvme"] == crc64nvme_b64(chunk)


@pytest.mark.parametrize(
    ("parts", "detail"),
    [
        ([{"part_number": 1, "etag": "x"}], "expected parts 1..3"),
        ([{"part_number": 0, "etag": "x"}, {"part_number": 2, "etag": "x"}, {"part_number": 3, "etag": "x"}], "1..3"),
        (
            [{"part_number": 1, "etag": "x"}, {"part_number": 2, "etag": "x"}, {"part_number": 10001, "etag": "x"}],
            "1..3",
        ),
        (
            [{"part_number": 1, "etag": "x"}, {"part_number": 2, "etag": "x"}, {"part_number": 3, "etag": "x"}],
            "not been uploaded",
        ),
        (
            [{"part_number": 2, "etag": "x"}, {"part_number": 1, "etag": "x"}, {"part_number": 3, "etag": "x"}],
            "ascending",
        ),
    ],
)
def test_complete_rejects_bad_part_lists(api: Api, parts: list[dict[str, Any]], detail: str) -> None:
    # Given a multipart upload with nothing uploaded yet
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When completing with a wrong part list
    response = api.call("POST", f"/v1/uploads/{upload_id}/complete", body={"parts": parts, "crc64nvme": CRC_ZERO})
    # Then 400 with a precise problem, and the upload is still resumable
    assert response.status == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.body["detail"]
    assert api.call("GET", f"/v1/uploads/{upload_id}/parts").status == 200


def test_complete_rejects_wrong_etags(api: Api) -> None:
    # Given all parts uploaded
    data = _audio(11 * MIB)
    upload_id, _ = _multipart(api, data)
    etags = {}
    for part in _sign(api, upload_id, data, [1, 2, 3]):
        start = (part["part_number"] - 1) * 5 * MIB
        etags[part["part_number"]] = put_presigned(part, data[start : start + part["size"]]).headers["ETag"]
    # When the client sends a wrong ETag for part 2
    etags[2] = '"00000000000000000000000000000000"'
    response = api.call(
        "POST",
        f"/v1/uploads/{upload_id}/complete",
        body={"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)], "crc64nvme": crc64nvme_b64(data)},
    )
    # Then 400 names the part
    assert response.status == 400
    assert "ETag of part 2" in response.body["detail"]


def test_sign_parts_rejects_out_of_range_numbers(api: Api) -> None:
    # Given a 3-part upload
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When asking for part 4 or 0
    for number in (0, 4, 10_001):
        response = api.call("POST", f"/v1/uploads/{upload_id}/parts", body={"parts": [{"part_number": number}]})
        # Then 400
        assert response.status == 400, number
        assert response.body["type"] == "urn:upvault:problem:bad-part-list"


def test_abort_removes_the_upload(api: Api, s3: Any) -> None:
    # Given a running multipart upload
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When aborted
    response = api.call("DELETE", f"/v1/uploads/{upload_id}")
    # Then 204, no multipart upload and no visible object remain, and a second abort is 404
    assert response.status == 204
    assert s3.list_multipart_uploads(Bucket="upvault-test").get("Uploads", []) == []
    assert all_keys(s3) == []
    assert api.call("DELETE", f"/v1/uploads/{upload_id}").status == 404


def test_another_user_cannot_see_or_touch_an_upload(api: Api) -> None:
    # Given alice's running multipart upload
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When bob asks for its parts, completes or aborts it
    responses = [
        api.call("GET", f"/v1/uploads/{upload_id}/parts", user="bob"),
        api.call(
            "POST", f"/v1/uploads/{upload_id}/complete", user="bob", body={"parts": [{"part_number": 1, "etag": "x"}]}
        ),
        api.call("DELETE", f"/v1/uploads/{upload_id}", user="bob"),
    ]
    # Then each is 404, exactly like an unknown id, and alice's upload is intact
    assert [r.status for r in responses] == [404, 404, 404]
    assert api.call("GET", f"/v1/uploads/{upload_id}/parts").status == 200


def test_parts_of_a_single_upload_is_conflict_after_upload(api: Api) -> None:
    # Given a single-PUT upload that has been uploaded
    response = api.upload(PDF, content_type="application/pdf")
    put_presigned(response.body["upload"], PDF)
    # When asking for its parts
    parts = api.call("GET", f"/v1/uploads/{response.body['upload_id']}/parts")
    # Then it is already complete
    assert parts.status == 409


def test_resume_keeps_the_part_size_the_upload_started_with(api: Api, settings: Any, clients: Any) -> None:
    # Given a multipart upload started with 5 MiB parts
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When the service is redeployed with another part size and the client resumes
    from functions.api.app import create_app
    from functions.api.handler import make_handler

    redeployed = Api(make_handler(create_app(settings.model_copy(update={"part_size": 8 * MIB}), clients)))
    resumed = redeployed.call("GET", f"/v1/uploads/{upload_id}/parts")
    # Then the plan is unchanged, so parts already uploaded still fit
    assert (resumed.body["part_size"], resumed.body["part_count"]) == (5 * MIB, 3)


def test_deleting_a_pending_multipart_file_aborts_its_upload(api: Api, s3: Any) -> None:
    # Given a running multipart upload (a pending file)
    upload_id, _ = _multipart(api, _audio(11 * MIB))
    # When the user deletes the file
    assert api.call("DELETE", f"/v1/files/{upload_id}").status == 204
    # Then the multipart upload is gone too, and the file is unknown
    assert s3.list_multipart_uploads(Bucket="upvault-test").get("Uploads", []) == []
    assert api.call("GET", f"/v1/files/{upload_id}").status == 404
    assert api.call("GET", f"/v1/uploads/{upload_id}/parts").status == 404
