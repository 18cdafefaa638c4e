// The Uppy adapters, driven the way @uppy/aws-s3 5.x and 6.x call them, against a scripted API.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { multipartChecksums, partChecksums } from "../src/checksums.js";
import { createClient } from "../src/client.js";
import { awsS3V5Options } from "../src/uppy-v5.js";
import { awsS3V6Options } from "../src/uppy-v6.js";
import { fileOf, installFakes, MemoryStorage } from "./fake-api.js";

const MIB = 1024 * 1024;
let fakes;
afterEach(() => fakes?.restore());

const upvault = () => createClient({ apiUrl: "http://api.test", getToken: () => "t", workers: 0, storage: new MemoryStorage() });
const uppyFile = (size, id = "uppy-1") => {
  const data = fileOf(size);
  return { id, name: data.name, type: data.type, size, data, meta: { name: data.name, type: data.type, relativePath: null } };
};

test("v5: Uppy's multipart choice and chunk size follow the API's published limits", async () => {
  // Given the v5 options built from the API's limits (8 MiB threshold, 5 MiB parts)
  fakes = installFakes();
  const options = await awsS3V5Options(upvault(), { category: "documents" });

  // When Uppy asks before uploading
  // Then it cuts parts exactly as the API will sign them
  assert.equal(options.shouldUseMultipart(uppyFile(7 * MIB)), false);
  assert.equal(options.shouldUseMultipart(uppyFile(9 * MIB)), true);
  assert.equal(options.getChunkSize({ size: 11 * MIB }), 5 * MIB);
});

test("v5: a multipart upload: parts hashed and signed as Uppy sends them, the whole file's CRC at completion", async () => {
  // Given the v5 options and an 11 MiB file
  fakes = installFakes();
  const declared = [];
  const options = await awsS3V5Options(upvault(), { category: "documents", onDeclared: (_, id) => declared.push(id) });
  const file = uppyFile(11 * MIB);

  // When Uppy creates the upload, signs parts 1..3 (in parallel) and completes
  const { uploadId } = await options.createMultipartUpload(file);
  const signed = await Promise.all([1, 2, 3].map((partNumber) => options.signPart(file,
    { uploadId, key: "k", partNumber, body: file.data.slice((partNumber - 1) * 5 * MIB, partNumber * 5 * MIB) })));
  await options.completeMultipartUpload(file, { uploadId, key: "k",
    parts: [3, 1, 2].map((n) => ({ PartNumber: n, ETag: `"e${n}"` })) });

  // Then the declaration carried no checksum, parts were signed with their CRCs (those waiting
  // together in one call: fewer calls than parts), each URL carries its part's CRC, completion
  // the whole file's CRC64/NVME, and the file id is known
  const calls = fakes.apiCalls();
  assert.deepEqual(calls[0].body.checksums, {});
  const signing = calls.filter((call) => call.path === "/v1/uploads/F1/parts");
  assert.deepEqual(signing.flatMap((call) => call.body.parts.map((part) => part.part_number)).sort(), [1, 2, 3]);
  assert.ok(signing.length < 3);
  assert.ok(signed.every((part) => part.url.includes("partNumber") && part.headers["x-amz-checksum-crc64nvme"]));
  const complete = calls[calls.length - 1];
  assert.equal(complete.path, "/v1/uploads/F1/complete");
  assert.deepEqual(complete.body.parts.map((part) => part.part_number), [1, 2, 3]);
  assert.equal(complete.body.crc64nvme, (await multipartChecksums(file.data, 5 * MIB)).crc64nvme);
  assert.deepEqual(declared, ["F1"]);
  assert.equal(options.fileIdOf(file), "F1");
});

test("v5: after a reload the part's CRC is hashed from the bytes Uppy hands over", async () => {
  // Given options that never saw the upload created (Golden Retriever restored it)
  fakes = installFakes();
  const options = await awsS3V5Options(upvault(), { category: "documents" });
  const file = uppyFile(11 * MIB);

  // When Uppy lists the stored parts and signs part 2
  const listed = await options.listParts(file, { uploadId: "F7", key: "k" });
  const signed = await options.signPart(file, { uploadId: "F7", key: "k", partNumber: 2, body: file.data.slice(0, 5 * MIB) });

  // Then the listing is in Uppy's shape, and part 2 was signed with a CRC computed from its body
  assert.deepEqual(listed, []);
  const call = fakes.apiCalls().find((entry) => entry.method === "POST");
  assert.deepEqual(call.body.parts.map((part) => part.part_number), [2]);
  assert.match(call.body.parts[0].crc64nvme, /=$/);
  assert.ok(signed.url);
});

test("v5: a single PUT returns the signed headers without Content-Length", async () => {
  // Given a small file
  fakes = installFakes();
  const options = await awsS3V5Options(upvault(), { category: "documents" });

  // When Uppy asks for its upload parameters
  const params = await options.getUploadParameters(uppyFile(1024), {});

  // Then it gets a PUT with the checksum header and no Content-Length
  assert.equal(params.method, "PUT");
  assert.ok(params.headers["x-amz-checksum-sha256"]);
  assert.equal(params.headers["Content-Length"], undefined);
});

test("v6: the first request declares the file; later requests are presigned for the API's key", async () => {
  // Given the v6 options and an 11 MiB file Uppy got a provisional key for
  fakes = installFakes();
  const options = await awsS3V6Options(upvault(), { category: "documents" });
  const file = uppyFile(11 * MIB);
  const provisional = options.generateObjectKey(file);

  // When Uppy asks to presign "create multipart" for it, then part 2 of the real key
  const created = await options.signRequest({ method: "POST", key: provisional });
  const part = await options.signRequest({ method: "PUT", key: created.key, uploadId: "s3-upload", partNumber: 2 });

  // Then the file was declared as multipart with the presign mode for raw S3 requests, whose
  // answer carried the presigned create (no second call), under the API's key; and the part
  // request carries part 2's CRC
  const [declare, partSign] = fakes.apiCalls();
  assert.equal(fakes.apiCalls().length, 2);
  assert.equal(declare.body.multipart, true);
  assert.equal(declare.body.presign, "s3");
  assert.equal(created.key, "staging/u/documents/F1/x");
  assert.match(created.url, /\?uploads=$/);
  assert.equal(partSign.body.storage_upload_id, "s3-upload");
  assert.equal(partSign.body.part_number, 2);
  assert.match(partSign.body.crc64nvme, /=$/);
  assert.ok(part.headers["x-amz-checksum-crc64nvme"]);
});

test("v6: completion and abort go to the API, in S3's format, with the caller's token", async () => {
  // Given the v6 options and a running upload of an 11 MiB file (restored, as after a reload)
  fakes = installFakes();
  const key = "staging/u/documents/01JFILEID/x.pdf";
  const file = { ...uppyFile(11 * MIB), s3Multipart: { key, uploadId: "s3-upload" } };
  const options = await awsS3V6Options(upvault(), { category: "documents", uppy: { getFiles: () => [file] } });

  // When Uppy asks to presign its completion and its abort of a running upload
  const complete = await options.signRequest({ method: "POST", key, uploadId: "s3-upload" });
  const abort = await options.signRequest({ method: "DELETE", key, uploadId: "s3-upload" });

  // Then both point at the API (no API call was needed to say so), with the bearer token, and
  // completion carries the whole file's CRC64/NVME
  const crc = (await multipartChecksums(file.data, 5 * MIB)).crc64nvme;
  assert.equal(complete.url, `http://api.test/v1/uploads/01JFILEID/s3-complete?crc64nvme=${encodeURIComponent(crc)}`);
  assert.equal(abort.url, "http://api.test/v1/uploads/01JFILEID");
  assert.equal(complete.headers.Authorization, "Bearer t");
  assert.equal(fakes.apiCalls().length, 0);
});

test("v6: a single PUT is the API's presigned PUT, under the API's key", async () => {
  // Given a small file with a provisional key
  fakes = installFakes();
  const options = await awsS3V6Options(upvault(), { category: "documents" });
  const file = uppyFile(2048);
  const provisional = options.generateObjectKey(file);

  // When Uppy asks to presign its PUT
  const signed = await options.signRequest({ method: "PUT", key: provisional, contentType: "application/pdf" });

  // Then it gets the declared upload's URL and headers (no Content-Length)
  assert.match(signed.url, /storage\.test\/F1$/);
  assert.ok(signed.headers["x-amz-checksum-sha256"]);
  assert.equal(signed.headers["Content-Length"], undefined);
  assert.equal(options.fileIdOf(file), "F1");
});

test("v6: after a reload a part's CRC is hashed from the file Golden Retriever restored", async () => {
  // Given v6 options that know the Uppy instance, and a restored 11 MiB file whose upload runs at `key`
  fakes = installFakes();
  const key = "staging/u/documents/01JFILEID/x.pdf";
  const file = { ...uppyFile(11 * MIB), s3Multipart: { key, uploadId: "s3-upload" } };
  const options = await awsS3V6Options(upvault(), { category: "documents", uppy: { getFiles: () => [file] } });

  // When Uppy asks to presign part 3 of that key
  await options.signRequest({ method: "PUT", key, uploadId: "s3-upload", partNumber: 3 });

  // Then the request carries part 3's CRC64/NVME, computed from the file's last 1 MiB
  const [call] = fakes.apiCalls();
  const expected = await partChecksums(file.data, 5 * MIB, [3]);
  assert.equal(call.body.crc64nvme, expected.get(3));
});
