// The checksums the client declares, computed the way the browser does (here without Workers).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import { multipartChecksums, partChecksums, sha256Checksum } from "../src/checksums.js";

const MIB = 1024 * 1024;

function randomBlob(size, seed = 3) {
  const data = new Uint8Array(size);
  let state = seed;
  for (let i = 0; i < size; i++) { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; data[i] = state >>> 24; }
  return { blob: new Blob([data]), data };
}

async function awsCrcBase64(data) {
  const hasher = new Crc64Nvme();
  hasher.update(data);
  return Buffer.from(await hasher.digest()).toString("base64");
}

test("multipart checksums: the whole file's CRC64/NVME and each part's, reading the file once", async () => {
  // Given a 12.5 MiB file cut in 5 MiB parts (5, 5, 2.5)
  const { blob, data } = randomBlob(12.5 * MIB);
  const progress = [];

  // When the client computes its multipart checksums
  const sums = await multipartChecksums(blob, 5 * MIB, { onProgress: (done, total) => progress.push([done, total]) });

  // Then the full-object CRC is AWS's CRC64/NVME of all bytes, and each part's is its own
  assert.equal(sums.crc64nvme, await awsCrcBase64(data));
  assert.deepEqual([...sums.parts.keys()], [1, 2, 3]);
  for (const n of [1, 2, 3]) {
    assert.equal(sums.parts.get(n), await awsCrcBase64(data.subarray((n - 1) * 5 * MIB, n * 5 * MIB)));
  }
  // And progress counted every byte once
  assert.deepEqual(progress.at(-1), [blob.size, blob.size]);
});

test("part checksums of a resumed upload cover only the parts asked for", async () => {
  // Given a 3-part file of which parts 1 and 3 are still to send
  const { blob, data } = randomBlob(11 * MIB, 9);

  // When their CRCs are computed
  const crcs = await partChecksums(blob, 5 * MIB, [3, 1]);

  // Then exactly those parts are hashed, with the right bytes
  assert.deepEqual([...crcs.keys()], [1, 3]);
  assert.equal(crcs.get(3), await awsCrcBase64(data.subarray(10 * MIB)));
});

test("an empty file has a CRC (one empty part)", async () => {
  // Given an empty file
  // When its multipart checksums are computed
  const sums = await multipartChecksums(new Blob([]), 5 * MIB);

  // Then it is AWS's CRC of no bytes
  assert.equal(sums.crc64nvme, await awsCrcBase64(new Uint8Array(0)));
});

test("SHA-256 for a single PUT: WebCrypto for small files, streamed hash-wasm above the limit", async () => {
  // Given a 3 MiB file
  const { blob, data } = randomBlob(3 * MIB, 5);
  const expected = createHash("sha256").update(data).digest("base64");

  // When it is hashed both ways
  // Then both give the SHA-256 storage will check
  assert.equal(await sha256Checksum(blob), expected);
  assert.equal(await sha256Checksum(blob, { webCryptoMaxSize: 0 }), expected);
});

test("hashing stops when aborted", async () => {
  // Given an aborted signal
  const controller = new AbortController();
  controller.abort(new DOMException("stop", "AbortError"));

  // When a file is hashed with it
  // Then hashing rejects with the abort reason
  await assert.rejects(multipartChecksums(randomBlob(6 * MIB).blob, 5 * MIB, { signal: controller.signal }),
    { name: "AbortError" });
});
