"""Benchmark (not collected by ``make test``): hashing in Chromium vs the upload itself.

``make bench-browser`` runs it on the browser tier's stack (real MinIO and API on loopback,
Debian's headless Chromium) and prints a Markdown table for docs/benchmarks.md. Question it
answers: is computing the checksums storage verifies (CRC64NVME per part, combined into the full
object's, for multipart; SHA-256 for a single PUT) ever the bottleneck next to sending the bytes?
Multipart parts are hashed in a Worker just before each is sent, so the client's upload rate is
compared with the same parts PUT with no hashing at all.
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
  let firstBytes = 0, uploadEnds = 0;
  const started = performance.now();
  // Each part is hashed in a Worker just before it is sent: no hashing phase comes first.
  await client.upload(file, { category: "audio", partSize: part, multipart: true, onProgress: ({ phase, loaded }) => {
    const now = performance.now();
    if (phase === "uploading" && loaded > 0 && !firstBytes) firstBytes = now;
    if (phase === "completing" && !uploadEnds) uploadEnds = now;
  } });
  out.upload_first_bytes_after_ms = Math.round(firstBytes - started);
  out.upload_parts_phase = rate(uploadEnds - started);
  out.upload_total = rate(performance.now() - started);
  // The same parts PUT with no hashing at all (URLs signed with CRCs computed beforehand): the
  // upload's own limit on this machine, to compare the hashing upload with.
  const sums = await multipartChecksums(file, part, { workers: 2 });
  const created = await client.declare(file, { category: "audio", filename: "raw.mp3", contentType: "audio/mpeg",
    multipart: true, partSize: part });
  const count = Math.ceil(size / part);
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  const signed = await client.signParts(created.upload_id, numbers.map((n) => ({ part_number: n,
    crc64nvme: sums.parts.get(n) })));
  const { putToStorage } = await import("./dist/upvault.js");
  const sendAll = async () => {
    const lanes = [...signed.missing];
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (lanes.length) {
        const p = lanes.shift();
        await putToStorage(p, file.slice((p.part_number - 1) * part, p.part_number * part), {});
      }
    }));
  };
  const rawStart = performance.now();
  await sendAll();
  out.upload_parts_without_hashing = rate(performance.now() - rawStart);
  // The same PUTs again while a Worker hashes the file beside them (nothing waits for it): what
  // the CPU the hashing takes costs the upload on this machine, whatever the client's design.
  const busyStart = performance.now();
  await Promise.all([sendAll(), multipartChecksums(file, part, { workers: 1 })]);
  out.upload_parts_beside_hashing = rate(performance.now() - busyStart);
  await client.abortUpload(created.upload_id);
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
