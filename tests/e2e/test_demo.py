"""The demo page as a newcomer meets it: served by the API at its own origin (as ``make dev``
prints it), files dropped on it, each one's fate shown; a screenshot is kept for people."""

from __future__ import annotations

import logging
import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, PART_SIZE, Stack
from tests.e2e.test_browser_upload import PDF

log = logging.getLogger("e2e")

#: Runs in the page: drops files on the drop zone as a drag from the desktop does.
DROP = """
({ files }) => {
  const transfer = new DataTransfer();
  for (const { name, type, text, size } of files) {
    const body = text ?? new Uint8Array(size).fill(32);
    transfer.items.add(new File([body], name, { type }));
  }
  const zone = document.getElementById("drop");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}
"""


def open_demo(page: Page, stack: Stack, user: str) -> None:
    """The demo at the API's origin with the token in the fragment, as make dev prints it."""
    page.goto(f"{stack.api_url}/#token={stack.token(user)}")
    expect(page.locator("#limits")).to_contain_text("Allowed:")


def test_two_dropped_files_one_ready_one_rejected_screenshot(page: Page, stack: Stack, user: str) -> None:
    # Given the demo at the API's origin, the token taken from the address it was opened with
    open_demo(page, stack, user)
    assert "token" not in page.url

    # When a real PDF and a "PDF" that is text are dropped on it together
    files: list[dict[str, Any]] = [
        {"name": "Kontoauszug.pdf", "type": "application/pdf", "text": PDF.decode("latin-1")},
        {"name": "fake-invoice.pdf", "type": "application/pdf", "text": "only text pretending to be a PDF\n"},
    ]
    page.evaluate(DROP, {"files": files})

    # Then each upload row ends with its own outcome: ready, and rejected with the reason
    uploads = page.locator("#uploads")
    expect(uploads.locator("tr", has_text="Kontoauszug.pdf").locator(".status")).to_have_text("ready", timeout=30_000)
    rejected = uploads.locator("tr", has_text="fake-invoice.pdf").locator(".status")
    expect(rejected).to_contain_text("rejected", timeout=30_000)
    expect(rejected.locator(".reason")).to_contain_text("pdf")
    # And the file list shows both, with Download only for the ready one
    listed = page.locator("#files")
    expect(listed.locator("tr", has_text="Kontoauszug.pdf").locator(".status")).to_have_text("ready")
    expect(listed.locator("tr", has_text="fake-invoice.pdf").locator(".status")).to_contain_text("rejected")
    expect(listed.get_by_role("button", name=re.compile("^Download fake"))).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo-two-files.png"
    page.screenshot(path=str(shot), full_page=True)
    log.info("demo screenshot: %s", shot)
    assert shot.stat().st_size > 10_000


def test_the_demo_refuses_before_uploading_what_the_limits_forbid(page: Page, stack: Stack, user: str) -> None:
    # Given the demo, which read the API's public limits
    open_demo(page, stack, user)
    puts: list[str] = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)

    # When an HTML file is dropped (a type no category allows)
    page.evaluate(DROP, {"files": [{"name": "page.html", "type": "text/html", "text": "<script>1</script>"}]})

    # Then it is shown rejected with the reason, and nothing was sent anywhere
    row = page.locator("#uploads tr", has_text="page.html")
    expect(row.locator(".status")).to_contain_text("rejected")
    expect(row.locator(".reason")).to_contain_text("checked before uploading")
    assert puts == []


def test_pause_resume_delete_and_restore_in_the_demo(page: Page, stack: Stack, user: str) -> None:
    # Given the demo and a multipart-sized text file (three parts), its parts slowed down
    open_demo(page, stack, user)
    page.route(lambda url: "partNumber=" in url, lambda route: (page.wait_for_timeout(300), route.continue_()))
    size = 2 * PART_SIZE + 1024
    page.evaluate(DROP, {"files": [{"name": "notes.txt", "type": "text/plain", "size": size}]})
    row = page.locator("#uploads tr", has_text="notes.txt")

    # When the user pauses it once it is uploading, then resumes it
    expect(row.locator(".status")).to_contain_text("uploading", timeout=20_000)
    row.get_by_role("button", name="Pause notes.txt").click()
    expect(row.locator(".status")).to_contain_text("paused")
    row.get_by_role("button", name="Resume notes.txt").click()

    # Then it completes and becomes ready
    expect(row.locator(".status")).to_have_text("ready", timeout=30_000)

    # When it is deleted, Then it leaves the list and can be restored from "Recently deleted"
    files = page.locator("#files")
    files.get_by_role("button", name="Delete notes.txt").click()
    expect(files).not_to_contain_text("notes.txt")
    page.locator("#deleted").get_by_role("button", name="Restore notes.txt").click()
    expect(files.locator("tr", has_text="notes.txt").locator(".status")).to_have_text("ready")
