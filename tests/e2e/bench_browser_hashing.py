"""Benchmark (not collected by ``make test``): hashing in Chromium vs the upload itself.

``make bench-browser`` runs it on the browser tier's stack (real MinIO and API on loopback,
Debian's headless Chromium) and prints a Markdown table for docs/benchmarks.md. Question it
answers: is computing the checksums storage verifies (CRC64NVME per part + full object for
multipart, SHA-256 for a single PUT) ever the bottleneck next to sending the bytes?
"""

from __future__ import annotations

import json
import platform
from typing import Any

from playwright.sync_api import Page

from tests.e2e.conftest import ARTIFACTS, Stack

MIB = 1024 * 1024
SIZE = 256 * MIB
PART = 16 * MIB

MEASURE = """
async ({ apiUrl, token, size, part }) => {
  const { createClient, multipartChecksums, sha256Checksum } = await import("./dist/upvault.js");
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  const file = new File([bytes], "bench.mp3", { type: "audio/mpeg" });
  const rate = (ms) => Math.round(size / (1024 * 1024) / (ms / 1000));
  const time = async (fn) => { const t = performance.now(); await fn(); return performance.now() - t; };
  const out = { cores: navigator.hardwareConcurrency, size, part };
  await multipartChecksums(file.slice(0, 8 * 1024 * 1024), part, { workers: 1 });  // warm the Worker and wasm
  for (const workers of [0, 1, 2, 4]) {
    out[`crc64nvme_workers_${workers}`] = rate(await time(() => multipartChecksums(file, part, { workers })));
  }
  out.sha256_hashwasm_stream = rate(await time(() => sha256Checksum(file, { webCryptoMaxSize: 0, workers: 1 })));
  out.sha256_webcrypto_whole_file = rate(await time(() => sha256Checksum(file, { webCryptoMaxSize: Infinity })));
  const client = createClient({ apiUrl, getToken: () => token, concurrency: 4 });
  let hashingEnds = 0, uploadStarts = 0, uploadEnds = 0;
  const started = performance.now();
  await client.upload(file, { category: "audio", partSize: part, multipart: true, onProgress: ({ phase }) => {
    const now = performance.now();
    if (phase !== "hashing" && !hashingEnds) hashingEnds = now;
    if (phase === "uploading" && !uploadStarts) uploadStarts = now;
    if (phase === "completing" && !uploadEnds) uploadEnds = now;
  } });
  out.upload_hashing_phase = rate(hashingEnds - started);
  out.upload_parts_phase = rate(uploadEnds - uploadStarts);
  out.upload_total = rate(performance.now() - started);
  out.memory_mb = performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : null;
  return out;
}
"""


def test_hashing_vs_upload_in_chromium(page: Page, stack: Stack) -> None:
    # Given a page on the web origin and a 256 MiB file
    page.goto(f"{stack.web_origin}/demo.html")

    # When its checksums are computed in several ways, and it is uploaded (multipart, 16 MiB parts)
    out: dict[str, Any] = page.evaluate(
        MEASURE, {"apiUrl": stack.api_url, "token": stack.token("bench"), "size": SIZE, "part": PART}
    )

    # Then the figures are written out (MiB/s) for docs/benchmarks.md
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-browser-hashing.json").write_text(json.dumps(out, indent=2))
    rows = [f"| {name} | {value} |" for name, value in out.items()]
    print(f"\nChromium, {platform.machine()}, {out['cores']} cores\n| measure | MiB/s (or value) |\n|---|---|")
    print("\n".join(rows))
    assert out["upload_total"] > 0
