// Upvault behind Uppy 6's @uppy/aws-s3 (its `signRequest` option).
//
//   import AwsS3 from "@uppy/aws-s3";                       // 6.x
//   import { createClient } from "@upvault/client";
//   import { awsS3V6Options } from "@upvault/client/uppy-v6";
//   uppy.use(AwsS3, await awsS3V6Options(createClient({ apiUrl, getToken }), { category: "documents" }));
//
// Uppy 6 speaks S3 itself and asks the app to presign each raw request (PUT object, create
// multipart, upload part, list parts, complete, abort) for a key. The first request of a file
// declares it to the API (a single PUT hashes it first for its SHA-256; multipart declares no
// checksum); the API answers with the real key (and, for multipart, the presigned create), and
// signs every later request for that declared key only. Each part is hashed (CRC64/NVME, in a
// Worker, the next part ahead) when Uppy asks to sign it. Completion and abort go to the API in
// S3's own format: it checks the part list against the plan and adds each part's checksum,
// which storage needs to verify the full-object CRC64/NVME the adapter puts in the completion
// URL, combined from the parts' (Uppy's own completion body has none).
import { partChecksums } from "./checksums.js";
import { choosePlan } from "./client.js";
import { wholeFileChecksum, withoutLength } from "./uppy-v5.js";

/** Keys handed to Uppy before a file is declared: replaced by the API's key on the first request. */
const PENDING_PREFIX = "upvault-pending/";

/** The Upvault file id in a storage key (`staging/<user>/<category>/<file_id>/<name>`, docs/openapi.json). */
function fileIdOfKey(key) {
  const id = key.split("/")[3];
  if (!id) throw new Error(`Upvault: ${key} is not an Upvault key`);
  return id;
}

/**
 * The options of `@uppy/aws-s3` 6.x that route every upload through an Upvault API.
 *
 * Pass `uppy` so that an upload Golden Retriever restored after a reload can hash its
 * parts (storage refuses a part without its CRC64/NVME in an upload that has a full-object
 * CRC, and Uppy 6 does not hand the part's bytes to `signRequest`).
 *
 * @param {import("./client.js").UpvaultClient} upvault
 * @param {import("./uppy-v5.js").AdapterOptions & {uppy?: {getFiles(): Array<import("./uppy-v5.js").UppyFileLike & {s3Multipart?: {key: string}}>}}} options
 */
export async function awsS3V6Options(upvault, { category, metadata = () => ({}), onDeclared, uppy }) {
  const limits = await upvault.limits();
  const plan = (/** @type {{size?: number|null, data: Blob}} */ file) => choosePlan(file.size ?? file.data.size, limits);
  const categoryOf = (file) => (typeof category === "function" ? category(file) : category);
  /** Files Uppy is about to upload, by the provisional key it got from generateObjectKey. */
  const pending = new Map();
  /** Declared multipart uploads by storage key: the file, its part CRCs (base64) and those being hashed. */
  const declared = new Map();
  const fileIds = new Map();

  /** The upload at `key`: declared by this page, or restored by Golden Retriever after a reload. */
  const uploadAt = (key) => {
    if (!declared.has(key)) {
      const file = uppy?.getFiles().find((candidate) => candidate.s3Multipart?.key === key);
      if (!file?.data?.size) return undefined;
      declared.set(key, { file, crcs: new Map(), hashing: new Map() });
    }
    return declared.get(key);
  };

  /** The CRC of part `n` of the upload at `key`, hashed from the file (and part `n + 1` started ahead). */
  const partCrc = async (key, n) => {
    const upload = uploadAt(key);
    if (!upload) return undefined;
    const { file, crcs, hashing } = upload;
    const { partSize } = plan(file);
    const count = Math.max(1, Math.ceil(file.data.size / partSize));
    for (const number of [n, n + 1]) {
      if (number > count || crcs.has(number) || hashing.has(number)) continue;
      const job = partChecksums(file.data, partSize, [number]).then((found) => {
        crcs.set(number, found.get(number));
        hashing.delete(number);
      });
      job.catch(() => hashing.delete(number));
      hashing.set(number, job);
    }
    await hashing.get(n);
    return crcs.get(n);
  };

  const declare = async (key, multipart) => {
    const file = pending.get(key);
    if (!file) throw new Error(`Upvault: no file is waiting under ${key}`);
    const result = await upvault.declare(file.data, {
      category: categoryOf(file), filename: file.name || "file", contentType: file.type || "application/octet-stream",
      metadata: metadata(file), multipart, partSize: plan(file).partSize, presign: multipart ? "s3" : undefined,
    });
    pending.delete(key);
    fileIds.set(file.id, result.file_id);
    onDeclared?.(file, result.file_id);
    return result;
  };

  return {
    shouldUseMultipart: (file) => plan(file).multipart,
    getChunkSize: (/** @type {{size: number}} */ file) => choosePlan(file.size, limits).partSize,
    generateObjectKey: (/** @type {import("./uppy-v5.js").UppyFileLike} */ file) => {
      const key = `${PENDING_PREFIX}${file.id}`;
      pending.set(key, file);
      return key;
    },

    /**
     * @param {{method: string, key: string, uploadId?: string, partNumber?: number}} request
     * @returns {Promise<{url: string, key?: string, headers?: Record<string, string>}>}
     */
    async signRequest(request) {
      const { method, key, uploadId, partNumber } = request;
      if (key.startsWith(PENDING_PREFIX)) {
        if (method === "PUT" && !uploadId) {
          const single = await declare(key, false);
          if (!single.upload) throw new Error("Upvault planned a multipart upload for a single PUT");
          return { url: single.upload.url, key: single.key, headers: withoutLength(single.upload.headers) };
        }
        if (method === "POST" && !uploadId) {
          // The declaration answers with the presigned "create multipart upload" itself.
          const file = pending.get(key);
          const multi = await declare(key, true);
          const create = multi.multipart?.create;
          if (!create || !multi.key) throw new Error("Upvault did not presign the multipart upload's creation");
          declared.set(multi.key, { file, crcs: new Map(), hashing: new Map() });
          return { url: create.url, key: multi.key, headers: withoutLength(create.headers) };
        }
        throw new Error(`Upvault: ${method} on an undeclared key`);
      }
      if (uploadId && !partNumber && method === "DELETE") {
        declared.delete(key);
        return upvault.s3StyleRequest("abort", fileIdOfKey(key));
      }
      if (uploadId && !partNumber && method === "POST") {
        const upload = uploadAt(key);
        if (!upload) throw new Error(`Upvault: no file is known for ${key}; pass \`uppy\` to hash a restored upload`);
        await Promise.all(upload.hashing.values());
        const crc64nvme = await wholeFileChecksum(upload.file.data, plan(upload.file).partSize, upload.crcs);
        declared.delete(key);
        return upvault.s3StyleRequest("complete", fileIdOfKey(key), { crc64nvme });
      }
      /** @type {{method: string, key: string, storage_upload_id?: string, part_number?: number, crc64nvme?: string}} */
      const body = { method, key };
      if (uploadId) body.storage_upload_id = uploadId;
      if (partNumber) {
        body.part_number = partNumber;
        const crc = await partCrc(key, partNumber);
        if (crc) body.crc64nvme = crc;
      }
      const signed = await upvault.presignS3Request(body);
      return { url: signed.url, headers: withoutLength(signed.headers) };
    },

    /**
     * The Upvault file id of an Uppy file, once declared (not an @uppy/aws-s3 option).
     * @param {{id: string}} file
     * @returns {string|undefined}
     */
    fileIdOf: (file) => fileIds.get(file.id),
  };
}
