// The client's protocol with the API, against a scripted API and storage (no browser needed).
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
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

test("a multipart upload takes two API calls: declare (the plan carries CRC-bound part URLs), complete", async () => {
  // Given an 11 MiB file (above the 8 MiB threshold: three 5 MiB parts)
  fakes = installFakes();

  // When it is uploaded
  const result = await client().upload(fileOf(11 * MIB), { category: "documents" });

  // Then it was declared with the full-object CRC64/NVME, the part size and each part's CRC
  assert.equal(result.multipart, true);
  const api = fakes.apiCalls();
  assert.deepEqual(api.map((call) => `${call.method} ${call.path}`), ["POST /v1/uploads", "POST /v1/uploads/F1/complete"]);
  assert.equal(api[0].body.multipart, true);
  assert.equal(api[0].body.part_size, 5 * MIB);
  assert.match(api[0].body.checksums.crc64nvme, /^[A-Za-z0-9+/]{11}=$/);
  assert.deepEqual(api[0].body.parts.map((part) => part.part_number), [1, 2, 3]);
  assert.ok(api[0].body.parts.every((part) => /^[A-Za-z0-9+/]{11}=$/.test(part.crc64nvme)));
  // And each part PUT carried its own CRC, and "complete" got the ETags storage answered
  assert.deepEqual(fakes.puts.map((put) => put.size), [5 * MIB, 5 * MIB, 1 * MIB]);
  for (const put of fakes.puts) assert.ok(put.headers["x-amz-checksum-crc64nvme"]);
  assert.equal(api[1].body.parts.length, 3);
});

test("with small sign batches, signing stays at one call per batch", async () => {
  // Given a client that signs two part URLs per call
  fakes = installFakes();

  // When an 11 MiB (three-part) file is uploaded one part at a time
  await client({ signBatch: 2, concurrency: 1 }).upload(fileOf(11 * MIB), { category: "documents" });

  // Then the plan carried parts 1 and 2, and one signing call covered part 3
  const [declare] = fakes.apiCalls();
  assert.deepEqual(declare.body.parts.map((part) => part.part_number), [1, 2]);
  const signing = fakes.apiCalls().filter((call) => call.path.endsWith("/parts"));
  assert.deepEqual(signing.map((call) => call.body.parts.map((part) => part.part_number)), [[3]]);
});

test("a remembered upload resumes: only missing parts are hashed, signed and sent", async () => {
  // Given an upload of which storage holds part 1, remembered in storage
  fakes = installFakes({ storedParts: [{ part_number: 1, etag: '"e1"', size: 5 * MIB }] });
  const storage = new MemoryStorage();
  const file = fileOf(11 * MIB);
  storage.setItem(`upvault:upload:http://api.test|big.pdf|${file.size}|1`, JSON.stringify({ upload_id: "F9", file_id: "F9" }));

  // When the same file is uploaded again
  const result = await client({ storage }).upload(file, { category: "documents" });

  // Then parts 2 and 3 were signed and sent, nothing was declared anew, and the entry is gone
  assert.equal(result.resumed, true);
  assert.deepEqual(result.uploadedParts, [2, 3]);
  assert.ok(!fakes.apiCalls().some((call) => call.path === "/v1/uploads"));
  const signing = fakes.apiCalls().find((call) => call.method === "POST" && call.path.endsWith("/parts"));
  assert.deepEqual(signing.body.parts.map((part) => part.part_number), [2, 3]);
  const complete = fakes.apiCalls().find((call) => call.path.endsWith("/complete"));
  assert.deepEqual(complete.body.parts.map((part) => part.etag)[0], '"e1"');
  assert.equal(storage.length, 0);
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
