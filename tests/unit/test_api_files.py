"""Listing, reading, downloading, deleting and restoring files."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import requests

from tests.support import SAMPLES
from tests.unit.conftest import Api, all_keys, put_presigned

PDF = SAMPLES["application/pdf"]
PNG = SAMPLES["image/png"]


def test_file_details_after_processing(api: Api, ready_file: Any) -> None:
    # Given a processed upload with client metadata
    file_id = ready_file(PDF, filename="Kontoauszug Oktober.pdf")
    # When its owner reads it
    response = api.call("GET", f"/v1/files/{file_id}")
    # Then every documented field is there
    assert response.status == 200
    body = response.body
    assert body["file_id"] == file_id
    assert body["name"] == "Kontoauszug Oktober.pdf"
    assert (body["category"], body["status"], body["size"]) == ("documents", "ready", len(PDF))
    assert body["content_type"] == "application/pdf"
    assert body["created_at"].startswith("20")
    assert body["reason"] is None


def test_list_shows_only_own_files_with_filters(api: Api, ready_file: Any) -> None:
    # Given alice has a document and an image, and bob has a document
    doc = ready_file(PDF)
    img = ready_file(PNG, content_type="image/png", filename="cheque.png", category="images")
    ready_file(PDF, user="bob")
    # When alice lists all, then only images, then only ready
    everything = api.call("GET", "/v1/files")
    images = api.call("GET", "/v1/files", query="category=images")
    rejected = api.call("GET", "/v1/files", query="status=rejected")
    # Then she sees exactly her files
    assert {item["file_id"] for item in everything.body["items"]} == {doc, img}
    assert [item["file_id"] for item in images.body["items"]] == [img]
    assert rejected.body["items"] == []


def test_list_paginates_with_a_cursor(api: Api, ready_file: Any) -> None:
    # Given five files
    ids = [ready_file(PDF) for _ in range(5)]
    # When listing two at a time
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", "/v1/files", query=query).body
        seen += [item["file_id"] for item in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    # Then every file appears once, newest first
    assert seen == sorted(ids, reverse=True)


def test_list_is_newest_first_across_statuses_and_categories(api: Api, s3: Any, ready_file: Any) -> None:
    # Given a ready document, then a pending image, then a rejected document (in that order)
    ready = ready_file(PDF)
    response = api.upload(PNG, content_type="image/png", filename="cheque.png", category="images")
    assert put_presigned(response.body["upload"], PNG).status_code == 200
    pending = response.body["file_id"]
    rejected = ready_file(PNG, content_type="application/pdf")
    # When listing everything, and then one item per page
    everything = [item["file_id"] for item in api.call("GET", "/v1/files").body["items"]]
    paged: list[str] = []
    cursor = ""
    for _ in range(4):
        page = api.call("GET", "/v1/files", query="limit=1" + (f"&cursor={cursor}" if cursor else "")).body
        paged += [item["file_id"] for item in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    # Then both are newest first, whatever the status or category, and paging ends exactly
    assert everything == paged == [rejected, pending, ready]
    assert cursor is None


def test_download_is_an_attachment_with_the_original_name(api: Api, ready_file: Any) -> None:
    # Given a ready file with a non-ASCII name
    file_id = ready_file(PDF, filename="Überweisung 10€.pdf")
    # When downloading
    response = api.call("GET", f"/v1/files/{file_id}/download")
    # Then a short-lived GET URL forces an attachment with an RFC 6266 filename*
    assert response.status == 200
    query = parse_qs(urlparse(response.body["url"]).query)
    disposition = query["response-content-disposition"][0]
    assert disposition.startswith('attachment; filename="Uberweisung_10.pdf"')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Überweisung 10€.pdf"
    assert query["X-Amz-Expires"] == ["300"]
    # and the bytes come back equal
    assert requests.get(response.body["url"], timeout=10).content == PDF


def test_download_of_a_pending_file_is_409(api: Api) -> None:
    # Given a declared and uploaded, not yet processed, file
    response = api.upload(PDF, content_type="application/pdf")
    from tests.unit.conftest import put_presigned

    put_presigned(response.body["upload"], PDF)
    # When downloading it
    download = api.call("GET", f"/v1/files/{response.body['file_id']}/download")
    # Then 409: only ready files can be downloaded
    assert download.status == 409
    assert download.body["status"] == 409


def test_other_users_ids_are_404_everywhere(api: Api, ready_file: Any, s3: Any) -> None:
    # Given alice's file
    file_id = ready_file(PDF)
    before = all_keys(s3)
    # When bob tries every operation on it
    statuses = [
        api.call("GET", f"/v1/files/{file_id}", user="bob").status,
        api.call("GET", f"/v1/files/{file_id}/download", user="bob").status,
        api.call("DELETE", f"/v1/files/{file_id}", user="bob").status,
        api.call("POST", f"/v1/files/{file_id}/restore", user="bob").status,
    ]
    # Then all are 404 (no existence oracle) and nothing changed
    assert statuses == [404, 404, 404, 404]
    assert all_keys(s3) == before


def test_user_ids_that_look_like_paths_cannot_reach_other_prefixes(api: Api, ready_file: Any) -> None:
    # Given alice's file
    file_id = ready_file(PDF)
    # When tokens with crafted subjects look for it
    for sub in ["alice/../alice", "../alice", "ALICE", "alice\x00", "alice/", "h-alice"]:
        # Then none of them sees it
        assert api.call("GET", f"/v1/files/{file_id}", user=sub).status == 404, sub


def test_delete_then_restore_brings_the_file_back(api: Api, ready_file: Any) -> None:
    # Given a ready file
    file_id = ready_file(PDF)
    # When it is deleted
    assert api.call("DELETE", f"/v1/files/{file_id}").status == 204
    # Then it is gone from reads and lists
    assert api.call("GET", f"/v1/files/{file_id}").status == 404
    assert api.call("GET", "/v1/files").body["items"] == []
    # When it is restored
    restored = api.call("POST", f"/v1/files/{file_id}/restore")
    # Then it is back, with the same bytes
    assert restored.status == 200
    assert restored.body["status"] == "ready"
    url = api.call("GET", f"/v1/files/{file_id}/download").body["url"]
    assert requests.get(url, timeout=10).content == PDF
    # and restoring again is a conflict: nothing is deleted
    again = api.call("POST", f"/v1/files/{file_id}/restore")
    assert again.status == 409


def test_restore_of_an_unknown_file_is_404(api: Api) -> None:
    assert api.call("POST", "/v1/files/01M88A9NNXFE5G0HW0G2XWHCYD/restore").status == 404


def test_delete_unknown_is_404(api: Api) -> None:
    assert api.call("DELETE", "/v1/files/01M88A9NNXFE5G0HW0G2XWHCYD").status == 404


def test_health_is_200(api: Api) -> None:
    response = api.call("GET", "/v1/health", user=None)
    assert response.status == 200
    assert response.body == {"status": "ok"}


def test_openapi_is_public_and_describes_problems(api: Api) -> None:
    response = api.call("GET", "/v1/openapi.json", user=None)
    assert response.status == 200
    assert "/v1/uploads" in response.body["paths"]
    responses = response.body["paths"]["/v1/uploads"]["post"]["responses"]
    assert {"201", "401", "413", "415", "422"} <= set(responses)
