"""Uppy, both majors, in headless Chromium against real MinIO and the API, on three origins.

``web/uppy.html`` loads ``web/dist/uppy-v{5,6}-example.js``: Uppy core + ``@uppy/aws-s3`` +
Golden Retriever at the versions ``web/package-lock.json`` pins, wired to Upvault with the
package's adapters (``awsS3V5Options`` / ``awsS3V6Options``), bundled by esbuild (no CDN).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Route

from tests.e2e.conftest import PART_SIZE, Stack
from tests.e2e.test_browser_upload import fetch_bytes, part_number, record_requests, storage_puts

MAJORS = [5, 6]

#: Runs in the page: adds a deterministic PDF to Uppy and uploads it. With ``stopAfterPart``
#: it returns once that many parts are stored, after cancelling the upload (``cancel``) or
#: leaving it running (``leave``: the test then reloads the page mid-upload).
UPPY_UPLOAD = """
async ({ size, name, stopAfterPart = 0, action = "leave" }) => {
  const { uppy, upvault, fileIdOf } = await window.upvaultUppy;
  const bytes = new Uint8Array(size);
  let seed = 20261201;
  for (let i = 0; i < size; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; bytes[i] = seed >>> 24; }
  bytes.set(new TextEncoder().encode("%PDF-1.7\\n"), 0);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = btoa(String.fromCharCode(...digest));
  const id = uppy.addFile({ name, type: "application/pdf", source: "e2e",
                            data: new File([bytes], name, { type: "application/pdf", lastModified: 1764547200000 }) });
  const parts = [];
  let stop;
  const stopped = new Promise((resolve) => { stop = resolve; });
  uppy.on("s3-multipart:part-uploaded", (file, part) => {
    parts.push(part.PartNumber);
    if (stopAfterPart && parts.length === stopAfterPart) {
      if (action === "cancel") uppy.removeFile(id);
      stop();
    }
  });
  const running = uppy.upload();
  if (stopAfterPart) {
    await stopped;
    if (action === "cancel") await new Promise((resolve) => setTimeout(resolve, 1000));  // the abort goes out
    else await new Promise((resolve) => setTimeout(resolve, 600));  // Golden Retriever saves (throttled)
    return { parts: [...parts], fileId: fileIdOf({ id }) ?? null, sha256 };
  }
  const result = await running;
  const fileId = fileIdOf({ id });
  const failed = (result?.failed ?? []).map((file) => String(file.error));
  if (failed.length || !fileId) return { failed, parts };
  const processed = await upvault.waitUntilProcessed(fileId, { timeout: 30000 });
  return { parts, fileId, processed, url: await upvault.downloadUrl(fileId), sha256 };
}
"""

#: After a reload: waits for Golden Retriever to restore the paused file, then confirms the
#: restore as Uppy's Dashboard does ("restore-confirmed": resume the recovered upload).
UPPY_RESUME = """
async () => {
  const { uppy, upvault, fileIdOf } = await window.upvaultUppy;
  for (let i = 0; i < 100 && !uppy.getFiles().some((file) => file.data && !file.isGhost); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const [file] = uppy.getFiles();
  if (!file) return { error: "Golden Retriever restored nothing" };
  const parts = [];
  uppy.on("s3-multipart:part-uploaded", (_, part) => parts.push(part.PartNumber));
  const completed = new Promise((resolve) => uppy.once("complete", resolve));
  uppy.emit("restore-confirmed");
  const result = await completed;
  const failed = (result?.failed ?? []).map((item) => String(item.error));
  const key = file.s3Multipart?.key ?? "";
  const fileId = fileIdOf(file) ?? key.split("/")[3];
  if (failed.length || !fileId) return { failed, parts, key, resumedFrom: file.s3Multipart ?? null };
  const processed = await upvault.waitUntilProcessed(fileId, { timeout: 30000 });
  return { parts, fileId, processed, url: await upvault.downloadUrl(fileId) };
}
"""


def uppy_url(stack: Stack, token: str, major: int) -> str:
    """The Uppy example page for one major, told where the API is and whom to act for."""
    return f"{stack.web_origin}/uppy.html?{urlencode({'major': major, 'api': stack.api_url, 'token': token})}"


def console_errors(page: Page) -> list[str]:
    """Console errors of the page (a refused unsafe header, a CORS refusal, ...)."""
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", record)
    return errors


def api_requests(page: Page, stack: Stack) -> list[Request]:
    """Upload requests the page sends to the API (``/v1/uploads...``; not preflights)."""
    return record_requests(
        page, lambda request: request.url.startswith(f"{stack.api_url}/v1/uploads") and request.method != "OPTIONS"
    )


@pytest.mark.parametrize("major", MAJORS)
def test_single_put_through_uppy_becomes_ready(page: Page, stack: Stack, user: str, major: int) -> None:
    # Given Uppy (this major) with Upvault's adapter, cross-origin to the API and storage
    errors = console_errors(page)
    puts = storage_puts(page)
    page.goto(uppy_url(stack, stack.token(user), major))

    # When a 200 KiB PDF is uploaded (below the threshold: one PUT)
    out: dict[str, Any] = page.evaluate(UPPY_UPLOAD, {"size": 200 * 1024, "name": f"uppy{major}.pdf"})

    # Then it went in one PUT with the SHA-256 storage checked, and became ready
    assert "failed" not in out or not out["failed"], out
    assert out["processed"]["status"] == "ready", out
    assert len(puts) == 1
    assert puts[0].headers["x-amz-checksum-sha256"] == out["sha256"]
    # And the browser never complained (no refused Content-Length, no CORS error)
    assert errors == []


@pytest.mark.parametrize("major", MAJORS)
def test_multipart_through_uppy_signs_each_part_with_its_crc(page: Page, stack: Stack, user: str, major: int) -> None:
    # Given Uppy (this major) and an ~11 MiB file: three 5 MiB parts, as the API's limits say
    errors = console_errors(page)
    puts = storage_puts(page)
    calls = api_requests(page, stack)
    page.goto(uppy_url(stack, stack.token(user), major))

    # When it is uploaded
    size = 2 * PART_SIZE + 1024 * 1024
    out: dict[str, Any] = page.evaluate(UPPY_UPLOAD, {"size": size, "name": f"big-uppy{major}.pdf"})

    # Then every part went straight to storage once, each carrying its own CRC64NVME
    assert not out.get("failed"), out
    parts = sorted(part_number(request) for request in puts)
    assert parts == [1, 2, 3]
    assert all(len(base64.b64decode(request.headers["x-amz-checksum-crc64nvme"])) == 8 for request in puts)
    # And the upload took at most N + 2 API calls: declare (Uppy 6: with the presigned create),
    # at most one signature per part (each part is hashed as Uppy sends it), complete with the
    # whole file's CRC64NVME
    paths = [f"{c.method} {urlparse(c.url).path}" for c in calls]
    assert 3 <= len(calls) <= 3 + 2, paths
    completion = calls[-1]
    assert urlparse(completion.url).path.endswith(("/complete", "/s3-complete")), paths
    # And the file became ready, with exactly the bytes the page had
    assert out["processed"]["status"] == "ready"
    assert out["processed"]["size"] == size
    assert base64.b64encode(hashlib.sha256(fetch_bytes(out["url"])).digest()).decode() == out["sha256"]
    assert errors == []


@pytest.mark.parametrize("major", MAJORS)
def test_cancelling_in_uppy_aborts_the_multipart_upload(page: Page, stack: Stack, user: str, major: int) -> None:
    # Given a multipart upload through Uppy, cancelled once one part is stored
    page.goto(uppy_url(stack, stack.token(user), major))
    size = 2 * PART_SIZE + 1024 * 1024
    args = {"size": size, "name": f"cancel-uppy{major}.pdf", "stopAfterPart": 1, "action": "cancel"}

    # When the user removes the file mid-upload
    out: dict[str, Any] = page.evaluate(UPPY_UPLOAD, args)

    # Then storage holds no multipart upload for it any more, and no placeholder either
    assert len(out["parts"]) == 1, out  # Uppy 5 sends parts in parallel: any one may finish first
    listed = stack.s3.list_multipart_uploads(Bucket=stack.settings.bucket).get("Uploads", [])
    assert not [upload for upload in listed if out["fileId"] in upload["Key"]], listed
    staged = stack.s3.list_objects_v2(Bucket=stack.settings.bucket, Prefix="staging/").get("Contents", [])
    assert not [item for item in staged if out["fileId"] in item["Key"]]


@pytest.mark.parametrize("major", MAJORS)
def test_uppy_resumes_after_a_reload_with_golden_retriever(page: Page, stack: Stack, user: str, major: int) -> None:
    # Given a multipart upload through Uppy, interrupted by a reload once part 1 is stored
    # (the other parts are held back on the way, as on a slow line)
    held: list[Route] = []
    holding = [True]

    def hold_later_parts(route: Route) -> None:
        if holding[0] and "partNumber=1&" not in route.request.url + "&":
            held.append(route)
            return
        route.continue_()

    page.route(lambda url: "partNumber=" in url, hold_later_parts)
    puts = storage_puts(page)
    page.goto(uppy_url(stack, stack.token(user), major))
    size = 2 * PART_SIZE + 1024 * 1024
    first: dict[str, Any] = page.evaluate(
        UPPY_UPLOAD, {"size": size, "name": f"resume-uppy{major}.pdf", "stopAfterPart": 1}
    )
    assert first["parts"], first

    # When the page is reloaded mid-upload and Uppy resumes what Golden Retriever restored
    page.reload()
    holding[0] = False
    listed = stack.s3.list_multipart_uploads(Bucket=stack.settings.bucket).get("Uploads", [])
    [running] = [upload for upload in listed if first["fileId"] in upload["Key"]]
    stored = {
        part["PartNumber"]
        for part in stack.s3.list_parts(
            Bucket=stack.settings.bucket, Key=running["Key"], UploadId=running["UploadId"]
        ).get("Parts", [])
    }
    puts.clear()
    second: dict[str, Any] = page.evaluate(UPPY_RESUME)

    # Then the parts storage held were not sent again, and the file became ready with the original bytes
    assert not second.get("failed") and "error" not in second, second
    assert stored and {part_number(request) for request in puts} == {1, 2, 3} - stored
    assert second["processed"]["status"] == "ready"
    assert base64.b64encode(hashlib.sha256(fetch_bytes(second["url"])).digest()).decode() == first["sha256"]
