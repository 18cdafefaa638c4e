// The client's protocol with the API, against a scripted API and storage (no browser needed).
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { multipartChecksums, partChecksums } from "../src/checksums.js";
import { choosePlan, createClient } from "../src/client.js";
import { fileOf, installFakes, LIMITS, MemoryStorage } from "./fake-api.js";

const MIB = 1024 * 1024;
let fakes;
afterEach(() => fakes?.restore());

const client = (extra = {}) => createClient({ apiUrl: "http://api.test/", getToken: () => "t", workers: 0,
  storage: new MemoryStorage(), ...extra });

test("a small file: SHA-256 declared, one PUT with the signed headers but never Content-Length", async () => {
  // Given a 1 KiB PDF
  fakes = installFakes();

  // When it is uploaded
  const result = await client().upload(fileOf(1024, "a.pdf"), { category: "documents" });

  // Then the limits were read once (without a token), the declaration says single PUT with a SHA-256
  assert.equal(result.multipart, false);
  const [limits, declare] = fakes.calls;
  assert.equal(limits.path, "/v1/limits");
  assert.equal(limits.headers.Authorization, undefined);
  assert.equal(declare.body.multipart, false);
  assert.match(declare.body.checksums.sha256, /^[A-Za-z0-9+/]{43}=$/);
  assert.equal(declare.body.checksums.crc64nvme, undefined);
  // And the PUT carried the checksum header, and left Content-Length to the browser
  assert.equal(fakes.puts.length, 1);
  assert.equal(fakes.puts[0].headers["x-amz-checksum-sha256"], declare.body.checksums.sha256);
  assert.equal(fakes.puts[0].headers["Content-Length"], undefined);
});

/** The parts' numbers of every signing call. */
const signingCalls = () => fakes.apiCalls().filter((call) => call.method === "POST" && call.path.endsWith("/parts"))
  .map((call) => call.body.parts.map((part) => part.part_number));

test("a multipart upload: declared without a checksum, parts hashed as they go, the whole file's CRC at completion", async () => {
  // Given an 11 MiB file (above the 8 MiB threshold: three 5 MiB parts)
  fakes = installFakes();
  const file = fileOf(11 * MIB);

  // When it is uploaded
  const result = await client().upload(file, { category: "documents" });

  // Then it was declared with the part size and no checksum (nothing hashed before the first byte)
  assert.equal(result.multipart, true);
  const api = fakes.apiCalls();
  assert.equal(api[0].path, "/v1/uploads");
  assert.equal(api[0].body.multipart, true);
  assert.equal(api[0].body.part_size, 5 * MIB);
  assert.deepEqual(api[0].body.checksums, {});
  // And each part was signed once with its own CRC (at most one call per part: N + 2 calls in all)
  assert.deepEqual(signingCalls().flat().sort(), [1, 2, 3]);
  assert.ok(api.length <= 3 + 2);
  const expected = await partChecksums(file, 5 * MIB, [1, 2, 3]);
  for (const call of api.filter((entry) => entry.path.endsWith("/parts"))) {
    for (const part of call.body.parts) assert.equal(part.crc64nvme, expected.get(part.part_number));
  }
  // And each part PUT carried its CRC, and "complete" got the ETags and the whole file's CRC64/NVME
  assert.deepEqual(fakes.puts.map((put) => put.size).sort(), [1 * MIB, 5 * MIB, 5 * MIB]);
  for (const put of fakes.puts) assert.ok(put.headers["x-amz-checksum-crc64nvme"]);
  const complete = api[api.length - 1];
  assert.equal(complete.path, "/v1/uploads/F1/complete");
  assert.equal(complete.body.parts.length, 3);
  assert.equal(complete.body.crc64nvme, (await multipartChecksums(file, 5 * MIB)).crc64nvme);
});

test("parts waiting for a URL together share one signing call, within signBatch", async () => {
  // Given a client sending three parts at once and signing at most two per call
  fakes = installFakes();

  // When a 26 MiB (six-part) file is uploaded
  await client({ signBatch: 2, concurrency: 3 }).upload(fileOf(26 * MIB), { category: "documents" });

  // Then every part was signed exactly once, no call covered more than two, and fewer calls than parts were made
  const calls = signingCalls();
  assert.deepEqual(calls.flat().sort(), [1, 2, 3, 4, 5, 6]);
  assert.ok(calls.every((parts) => parts.length <= 2));
});

test("a remembered upload resumes: stored parts are read back, only missing ones signed and sent", async () => {
  // Given an upload of which storage holds part 1 (with this file's bytes), remembered in storage
  const file = fileOf(11 * MIB);
  const crcs = await partChecksums(file, 5 * MIB, [1]);
  fakes = installFakes({ storedParts: [{ part_number: 1, etag: '"e1"', size: 5 * MIB, crc64nvme: crcs.get(1) }] });
  const storage = new MemoryStorage();
  storage.setItem(`upvault:upload:http://api.test|big.pdf|${file.size}|1`, JSON.stringify({ upload_id: "F9", file_id: "F9" }));

  // When the same file is uploaded again
  const result = await client({ storage }).upload(file, { category: "documents" });

  // Then parts 2 and 3 were signed and sent, nothing was declared anew, and the entry is gone
  assert.equal(result.resumed, true);
  assert.deepEqual(result.uploadedParts, [2, 3]);
  assert.ok(!fakes.apiCalls().some((call) => call.path === "/v1/uploads"));
  assert.deepEqual(signingCalls().flat().sort(), [2, 3]);
  const complete = fakes.apiCalls().find((call) => call.path.endsWith("/complete"));
  assert.deepEqual(complete.body.parts.map((part) => part.etag)[0], '"e1"');
  assert.equal(complete.body.crc64nvme, (await multipartChecksums(file, 5 * MIB)).crc64nvme);
  assert.equal(storage.length, 0);
});

test("a resumed upload sends again a stored part whose bytes are not this file's", async () => {
  // Given a remembered upload whose stored part 1 has another CRC than this file's part 1
  fakes = installFakes({ storedParts: [{ part_number: 1, etag: '"e1"', size: 5 * MIB, crc64nvme: "AAAAAAAAAAA=" }] });
  const storage = new MemoryStorage();
  const file = fileOf(11 * MIB);
  storage.setItem(`upvault:upload:http://api.test|big.pdf|${file.size}|1`, JSON.stringify({ upload_id: "F9", file_id: "F9" }));

  // When the file is uploaded again
  const result = await client({ storage }).upload(file, { category: "documents" });

  // Then all three parts are sent
  assert.deepEqual(result.uploadedParts, [1, 2, 3]);
  assert.deepEqual(signingCalls().flat().sort(), [1, 2, 3]);
});

test("the caller may choose multipart and the part size; parts grow to stay within 10,000", () => {
  // Given the published limits
  // When plans are chosen for various sizes and choices
  // Then the threshold decides by default, a choice wins, and huge files get bigger parts
  assert.deepEqual(choosePlan(7 * MIB, LIMITS), { multipart: false, partSize: 5 * MIB });
  assert.deepEqual(choosePlan(9 * MIB, LIMITS), { multipart: true, partSize: 5 * MIB });
  assert.deepEqual(choosePlan(7 * MIB, LIMITS, { multipart: true, partSize: 6 * MIB }), { multipart: true, partSize: 6 * MIB });
  assert.deepEqual(choosePlan(1024, LIMITS, { partSize: 1 }), { multipart: false, partSize: 5 * MIB });
  assert.equal(choosePlan(100_000 * MIB, LIMITS).partSize, 10 * MIB);
});

test("refusals are UpvaultErrors with the problem body", async () => {
  // Given an API that does not know an id
  fakes = installFakes();

  // When the client asks for it
  // Then the error carries the problem's status and type
  await assert.rejects(client().get("nope"), { name: "UpvaultError", status: 404, type: "urn:upvault:problem:not-found" });
});
