"""What browser upload UIs need from the API: public limits, the client's own plan, cheap part
signing, Uppy's forwarded meta, and raw S3 requests presigned for Uppy 6 (issue 12)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest

from functions.api.app import create_app
from functions.api.handler import make_handler
from tests.support import SAMPLES
from tests.unit.conftest import Api
from upvault.settings import MIB, Settings
from upvault.storage import S3Clients

AUDIO = SAMPLES["audio/mpeg"]
CRC = base64.b64encode(b"\x01\x02\x03\x04\x05\x06\x07\x08").decode()


def signed_headers(url: str) -> set[str]:
    """The header names a presigned URL's signature covers."""
    return set(parse_qs(urlparse(url).query)["X-Amz-SignedHeaders"][0].split(";"))


SHA256 = base64.b64encode(bytes(32)).decode()


def declare(api: Api, size: int, *, user: str = "alice", **extra: Any) -> Any:
    """Declare an MP3 of ``size`` bytes, with the checksum its upload kind requires unless given."""
    multipart = extra.get("multipart", size > 5 * MIB)
    extra.setdefault("checksums", {"crc64nvme": CRC} if multipart else {"sha256": SHA256})
    body = {"filename": "talk.mp3", "content_type": "audio/mpeg", "size": size, "category": "audio", **extra}
    return api.call("POST", "/v1/uploads", user=user, body=body)


@pytest.fixture
def storage_calls(clients: S3Clients) -> Iterator[list[str]]:
    """Names of the S3 operations the API's storage client makes."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    clients.api.meta.events.register("before-call.s3", record)
    yield calls
    clients.api.meta.events.unregister("before-call.s3", record)


def test_limits_are_public_cacheable_and_match_the_settings(api: Api, settings: Settings) -> None:
    # Given the API with its settings
    # When a page asks for the limits without a token
    response = api.call("GET", "/v1/limits", user=None)

    # Then it gets them, cacheable, with S3's part rules and each category's rules
    assert response.status == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    limits = response.body
    assert limits["multipart_threshold"] == settings.multipart_threshold
    assert limits["part_size"] == settings.part_size
    assert (limits["min_part_size"], limits["max_parts"]) == (5 * MIB, 10_000)
    documents = limits["categories"]["documents"]
    assert documents["max_size"] == settings.documents_max_size
    assert "application/pdf" in documents["types"]
    assert "pdf" in documents["extensions"]
    assert "mp3" in limits["categories"]["audio"]["extensions"]


def test_the_client_may_choose_multipart_and_its_part_size(api: Api) -> None:
    # Given a 4 MiB file, below the 5 MiB threshold
    # When the client asks for a multipart upload with 5 MiB parts (giving part 1's CRC)
    response = declare(api, 4 * MIB, multipart=True, part_size=5 * MIB, parts=[{"part_number": 1, "crc64nvme": CRC}])

    # Then it gets a one-part plan with the key and the first part's URL
    assert response.status == 201, response.body
    plan = response.body["multipart"]
    assert (plan["part_size"], plan["part_count"]) == (5 * MIB, 1)
    assert [part["part_number"] for part in plan["parts"]] == [1]
    assert response.body["key"].startswith("staging/alice/audio/")
    # When it asks for a single PUT of an 11 MiB file (above the threshold)
    single = declare(api, 11 * MIB, multipart=False)
    # Then it gets one PUT
    assert single.status == 201, single.body
    assert single.body["upload"]["method"] == "PUT"
    assert single.body["multipart"] is None


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        ({"multipart": True, "part_size": 1 * MIB}, "part_size"),
        ({"multipart": True, "part_size": 6 * 1024 * MIB}, "part_size"),
        ({"multipart": False, "part_size": 5 * MIB}, "part_size"),
    ],
)
def test_a_plan_s3_cannot_honour_is_a_422_with_the_limits(api: Api, choice: dict[str, Any], field: str) -> None:
    # Given a choice outside S3's multipart rules
    # When the client declares a file with it
    response = declare(api, 11 * MIB, **choice)

    # Then it is a 422 naming the field, and the problem carries the limits
    assert response.status == 422, response.body
    assert response.body["errors"][0]["field"] == field
    assert response.body["limits"]["min_part_size"] == 5 * MIB
    assert response.body["limits"]["max_parts"] == 10_000


def test_too_many_parts_is_a_422(api: Api, settings: Settings) -> None:
    # Given a 500 MiB audio file (the audio limit) cut in 5 MiB parts: 100 parts, fine;
    # and a part size that would need more than 10,000 parts is impossible below 5 GiB,
    # so the rule is checked on the core function directly
    from upvault.limits import PlanNotAllowed, choose_plan

    # When 60 GiB are cut in 5 MiB parts
    # Then the plan is refused with the smallest possible part size
    with pytest.raises(PlanNotAllowed, match="at least"):
        choose_plan(settings, 60 * 1024 * MIB, multipart=True, part_size=5 * MIB)
    assert choose_plan(settings, 60 * 1024 * MIB, multipart=True, part_size=None) == 7 * MIB


def test_uppy_file_meta_forwarded_as_metadata_is_ignored_not_refused(api: Api) -> None:
    # Given Uppy's own meta (relativePath may be null) next to the app's own entry
    metadata = {"relativePath": None, "name": "talk.mp3", "type": "audio/mpeg", "source": "uppy"}

    # When a client forwards it as metadata
    response = declare(api, len(AUDIO), metadata=metadata)

    # Then the declaration is accepted and only the app's entry is signed as metadata
    assert response.status == 201, response.body
    headers = response.body["upload"]["headers"]
    assert headers["x-amz-meta-c-source"] == "uppy"
    assert not any(name.startswith("x-amz-meta-c-") and name != "x-amz-meta-c-source" for name in headers)


def test_signing_parts_of_a_fresh_plan_makes_no_storage_call(api: Api, storage_calls: list[str]) -> None:
    # Given a freshly planned 11 MiB upload
    created = declare(api, 11 * MIB, checksums={"crc64nvme": CRC})
    upload_id = created.body["upload_id"]
    storage_calls.clear()

    # When the client signs all three parts, each with its CRC64NVME
    parts = [{"part_number": n, "crc64nvme": CRC} for n in (1, 2, 3)]
    signed = api.call("POST", f"/v1/uploads/{upload_id}/parts", body={"parts": parts})

    # Then no storage call was made, and each URL binds the part's length and CRC
    assert signed.status == 200, signed.body
    assert storage_calls == []
    assert [part["part_number"] for part in signed.body["missing"]] == [1, 2, 3]
    for part in signed.body["missing"]:
        assert signed_headers(part["url"]) == {"content-length", "host", "x-amz-checksum-crc64nvme"}
        assert part["headers"] == {"x-amz-checksum-crc64nvme": CRC}
    assert signed.body["missing"][2]["size"] == 1 * MIB


def test_another_process_signs_with_one_head_when_given_the_key(
    api: Api, settings: Settings, clients: S3Clients, storage_calls: list[str]
) -> None:
    # Given an upload planned by one API process, and another (cold) process
    created = declare(api, 11 * MIB)
    other = Api(make_handler(create_app(settings, clients)))
    storage_calls.clear()

    # When the other process signs a part, with the key from the plan
    body = {"parts": [{"part_number": 2}], "key": created.body["key"]}
    signed = other.call("POST", f"/v1/uploads/{created.body['upload_id']}/parts", body=body)

    # Then it made exactly one storage call (a HEAD of the placeholder)
    assert signed.status == 200, signed.body
    assert storage_calls == ["HeadObject"]
    # And another user's key never leads anywhere
    stolen = other.call("POST", f"/v1/uploads/{created.body['upload_id']}/parts", user="mallory", body=body)
    assert stolen.status == 404


def test_part_checksums_must_be_base64_crc64nvme(api: Api) -> None:
    # Given a planned upload
    created = declare(api, 11 * MIB)

    # When a part is signed with a 4-byte "CRC"
    body = {"parts": [{"part_number": 1, "crc64nvme": base64.b64encode(b"abcd").decode()}]}
    response = api.call("POST", f"/v1/uploads/{created.body['upload_id']}/parts", body=body)

    # Then it is a 422 naming the part's field
    assert response.status == 422
    assert response.body["errors"][0]["field"] == "parts.1.crc64nvme"


def test_s3_requests_are_presigned_for_the_declared_key_only(api: Api, s3: Any) -> None:
    # Given an 11 MiB upload declared for presigned S3 requests (Uppy 6)
    created = declare(api, 11 * MIB, presign="s3", checksums={"crc64nvme": CRC})
    assert created.status == 201, created.body
    key = created.body["key"]
    # (the API did not start the multipart upload: the client will, with the presigned
    # "create" the declaration carries)
    assert s3.list_multipart_uploads(Bucket="upvault-test").get("Uploads", []) == []
    carried = created.body["multipart"]["create"]
    assert carried["method"] == "POST"
    assert "uploads" in parse_qs(urlparse(carried["url"]).query, keep_blank_values=True)

    # When the client asks to presign "create", part 3, list, complete and abort
    def sign(**request: Any) -> Any:
        return api.call("POST", "/v1/uploads/s3-requests", body={"key": key, **request})

    create = sign(method="POST")
    part = sign(method="PUT", storage_upload_id="up-1", part_number=3, crc64nvme=CRC)
    listing = sign(method="GET", storage_upload_id="up-1")
    complete = sign(method="POST", storage_upload_id="up-1")
    abort = sign(method="DELETE", storage_upload_id="up-1")

    # Then "create" binds the type, the declaration's metadata and the full-object CRC algorithm
    assert create.status == 200, create.body
    query = parse_qs(urlparse(create.body["url"]).query, keep_blank_values=True)
    assert "uploads" in query
    assert {"content-type", "x-amz-checksum-algorithm", "x-amz-checksum-type"} <= signed_headers(create.body["url"])
    assert create.body["headers"]["x-amz-meta-upvault-size"] == str(11 * MIB)
    assert not any("placeholder" in name or "presign" in name for name in create.body["headers"])
    # And a part binds its exact length and CRC, completion the declared whole-object CRC
    assert signed_headers(part.body["url"]) == {"content-length", "host", "x-amz-checksum-crc64nvme"}
    assert "partNumber=3" in part.body["url"]
    assert complete.body["headers"] == {"x-amz-checksum-crc64nvme": CRC, "x-amz-checksum-type": "FULL_OBJECT"}
    assert listing.status == abort.status == 200
    assert (listing.body["method"], abort.body["method"]) == ("GET", "DELETE")

    # When another user asks for the same key, or a part outside the plan, or no upload id
    assert (
        api.call("POST", "/v1/uploads/s3-requests", user="mallory", body={"key": key, "method": "POST"}).status == 404
    )
    assert sign(method="PUT", storage_upload_id="up-1", part_number=4).status == 400
    assert sign(method="PUT", part_number=1).status == 422


def test_s3_requests_need_an_upload_declared_for_them(api: Api) -> None:
    # Given an upload the API itself runs (declared without presign)
    created = declare(api, 11 * MIB)

    # When a client asks to presign an S3 request for its key
    response = api.call("POST", "/v1/uploads/s3-requests", body={"key": created.body["key"], "method": "POST"})

    # Then it is a conflict: that upload's requests are the API's own
    assert response.status == 409


def _raw_call(api: Api, path: str, body: str, query: str = "") -> dict[str, Any]:
    """POST an XML body through the Lambda handler; the raw API Gateway result."""
    from local.lambda_context import LocalLambdaContext
    from tests.support import apigw_event

    claims = {"sub": "alice", "iss": "https://issuer.example", "aud": "upvault"}
    event = apigw_event(
        "POST", path, claims=claims, body=body, headers={"content-type": "application/xml"}, query=query
    )
    result: dict[str, Any] = api.handler(event, LocalLambdaContext(function_name="upvault-api"))
    return result


def test_s3_style_completion_takes_uppy_xml_and_answers_in_s3_format(api: Api, s3: Any) -> None:
    # Given an upload Uppy 6 created itself with the presigned create, and its two parts stored
    import requests

    data = AUDIO + b"\x00" * (6 * MIB - len(AUDIO))
    created = declare(api, len(data), presign="s3")
    key, upload_id = created.body["key"], created.body["upload_id"]
    storage_id = s3.create_multipart_upload(Bucket="upvault-test", Key=key)["UploadId"]
    etags = []
    for number, chunk in ((1, data[: 5 * MIB]), (2, data[5 * MIB :])):
        body = {"key": key, "method": "PUT", "storage_upload_id": storage_id, "part_number": number}
        signed = api.call("POST", "/v1/uploads/s3-requests", body=body)
        etags.append(requests.put(signed.body["url"], data=chunk, timeout=10).headers["ETag"])

    # When Uppy sends its completion body (ETags XML-escaped) to the API
    xml = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag.replace(chr(34), '&quot;')}</ETag></Part>"
        for n, etag in enumerate(etags, 1)
    )
    result = _raw_call(api, f"/v1/uploads/{upload_id}/s3-complete", xml + "</CompleteMultipartUpload>")

    # Then the upload is assembled at its key and the answer is S3's result document
    body = base64.b64decode(result["body"]).decode() if result.get("isBase64Encoded") else result["body"]
    assert result["statusCode"] == 200, body
    assert f"<Key>{key}</Key>" in body
    assert "<Location>" in body
    assert s3.head_object(Bucket="upvault-test", Key=key)["ContentLength"] == len(data)


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload><Part><PartNumber>1'
        "</PartNumber><ETag>&a;</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag><Evil/></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload></CompleteMultipartUpload>",
        "not xml at all",
    ],
)
def test_s3_style_completion_refuses_anything_but_a_plain_part_list(api: Api, body: str) -> None:
    # Given a running upload
    created = declare(api, 11 * MIB)

    # When its completion body has a DTD, unknown elements, no parts or is not XML
    result = _raw_call(api, f"/v1/uploads/{created.body['upload_id']}/s3-complete", body)

    # Then it is a 400 problem and nothing was assembled
    assert result["statusCode"] == 400
    assert "bad-part-list" in result["body"]


def test_the_plan_carries_part_urls_bound_to_the_crcs_the_client_declared(api: Api) -> None:
    # Given an 11 MiB file with a full-object CRC64NVME and the CRCs of parts 1 and 2
    parts = [{"part_number": 1, "crc64nvme": CRC}, {"part_number": 2, "crc64nvme": CRC}]

    # When it is declared with them
    with_parts = declare(api, 11 * MIB, checksums={"crc64nvme": CRC}, parts=parts)
    # and without them
    without = declare(api, 11 * MIB, checksums={"crc64nvme": CRC})

    # Then the plan carries exactly those URLs, each binding its part's CRC...
    urls = with_parts.body["multipart"]["parts"]
    assert [part["part_number"] for part in urls] == [1, 2]
    assert all("x-amz-checksum-crc64nvme" in signed_headers(part["url"]) for part in urls)
    # ...and none without them: storage refuses a bare part of an upload with a full-object CRC
    assert without.body["multipart"]["parts"] == []
    # And parts on a single PUT are a 422
    assert declare(api, 1024, parts=parts[:1]).status == 422


def test_s3_completion_binds_the_crc_the_client_gives(api: Api) -> None:
    # Given an upload declared for presigned S3 requests without the whole file's CRC64NVME
    created = declare(api, 11 * MIB, presign="s3", checksums={})
    assert created.status == 201, created.body
    key = created.body["key"]
    # (its create still asks storage for a full-object CRC64NVME)
    assert created.body["multipart"]["create"]["headers"]["x-amz-checksum-type"] == "FULL_OBJECT"

    def sign(**request: Any) -> Any:
        return api.call("POST", "/v1/uploads/s3-requests", body={"key": key, "method": "POST", **request})

    # When completion is signed with the CRC the client computed while sending the parts,
    # without one, and with a malformed one
    given = sign(storage_upload_id="up-1", crc64nvme=CRC)
    missing = sign(storage_upload_id="up-1")
    malformed = sign(storage_upload_id="up-1", crc64nvme="a\r\nb")
    # Then the signed completion binds the value given; without a usable one it is a 422 naming crc64nvme
    assert given.status == 200, given.body
    assert given.body["headers"] == {"x-amz-checksum-crc64nvme": CRC, "x-amz-checksum-type": "FULL_OBJECT"}
    assert "x-amz-checksum-crc64nvme" in signed_headers(given.body["url"])
    for refused in (missing, malformed):
        assert refused.status == 422, refused.body
        assert [error["field"] for error in refused.body["errors"]] == ["crc64nvme"]


def test_s3_style_completion_takes_the_whole_files_crc_in_its_query(api: Api, s3: Any) -> None:
    # Given an upload declared for presigned S3 requests without the whole file's CRC64NVME,
    # created by the client (Uppy 6)
    created = declare(api, 11 * MIB, presign="s3", checksums={})
    s3.create_multipart_upload(Bucket="upvault-test", Key=created.body["key"])
    path = f"/v1/uploads/{created.body['upload_id']}/s3-complete"
    xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"

    # When Uppy's completion comes without the CRC, with a malformed one, and with a well-formed one
    without = _raw_call(api, path, xml)
    malformed = _raw_call(api, path, xml, query="crc64nvme=abc")
    given = _raw_call(api, path, xml, query="crc64nvme=" + quote(CRC, safe=""))

    # Then the first two are 422 naming crc64nvme; the last gets past the CRC to the part list
    # check (part 1 of 3 was never uploaded: 400)
    for refused in (without, malformed):
        assert refused["statusCode"] == 422, refused["body"]
        assert '"field":"crc64nvme"' in refused["body"].replace(" ", "")
    assert given["statusCode"] == 400, given["body"]
    assert "bad-part-list" in given["body"]
