// Upvault behind Uppy 5's @uppy/aws-s3 (its six custom-signer options).
//
//   import AwsS3 from "@uppy/aws-s3";                       // 5.x
//   import { createClient } from "@upvault/client";
//   import { awsS3V5Options } from "@upvault/client/uppy-v5";
//   uppy.use(AwsS3, await awsS3V5Options(createClient({ apiUrl, getToken }), { category: "documents" }));
//
// Uppy decides single PUT vs multipart and cuts the parts itself, before it calls us; the
// options below make that decision with the API's published limits (GET /v1/limits) and tell
// the API the part size Uppy uses, so the signed part lengths always match. Each part is hashed
// (CRC64/NVME, in a Worker) when Uppy asks to sign it, and completion gives the whole file's
// CRC64/NVME, combined from the parts': nothing is hashed before the first part goes out.
import { combinePartChecksums, partChecksums } from "./checksums.js";
import { choosePlan } from "./client.js";

const EXPIRY_MARGIN_MS = 60_000;

/**
 * @typedef {Object} UppyFileLike The parts of an Uppy file the adapter reads
 * @property {string} id
 * @property {string} [name]
 * @property {string} [type]
 * @property {number|null} [size]
 * @property {Blob} data
 * @property {Record<string, unknown>} [meta]
 */

/**
 * @typedef {Object} AdapterOptions
 * @property {string | ((file: UppyFileLike) => string)} category where files go (documents, audio, images)
 * @property {(file: UppyFileLike) => Record<string, string>} [metadata] client metadata per file
 *   (default: none; Uppy's own `name`, `type`, `relativePath` are not needed, the API has them)
 * @property {number} [signBatch] part URLs signed per API call at most (default 100: parts waiting
 *   together share a call)
 * @property {(file: UppyFileLike, fileId: string) => void} [onDeclared] called once the API
 *   accepted a file: its Upvault `file_id` (to wait for `ready`, download, ...)
 */

/**
 * The options of `@uppy/aws-s3` 5.x that route every upload through an Upvault API.
 *
 * @param {import("./client.js").UpvaultClient} upvault
 * @param {AdapterOptions} options
 */
export async function awsS3V5Options(upvault, { category, metadata = () => ({}), signBatch = 100, onDeclared }) {
  const limits = await upvault.limits();
  const plan = (/** @type {UppyFileLike} */ file) => choosePlan(file.size ?? file.data.size, limits);
  const categoryOf = (/** @type {UppyFileLike} */ file) => (typeof category === "function" ? category(file) : category);
  /** Running multipart uploads by Upvault upload id: part CRCs, signed URLs, parts waiting for one. */
  const running = new Map();
  /** Upvault file ids by Uppy file id. */
  const fileIds = new Map();

  /**
   * @param {UppyFileLike} file
   * @param {boolean} multipart
   * @param {AbortSignal} [signal]
   */
  const declare = async (file, multipart, signal) => {
    const declared = await upvault.declare(file.data, {
      category: categoryOf(file), filename: file.name || "file", contentType: file.type || "application/octet-stream",
      metadata: metadata(file), multipart, partSize: plan(file).partSize, signal,
    });
    fileIds.set(file.id, declared.file_id);
    onDeclared?.(file, declared.file_id);
    return declared;
  };

  const stateOf = (uploadId) => {
    if (!running.has(uploadId)) {
      running.set(uploadId, { crcs: new Map(), urls: new Map(), waiting: new Map(), beingSigned: new Set(),
                             signing: null, rounds: 0, key: undefined });
    }
    return running.get(uploadId);
  };

  return {
    shouldUseMultipart: (/** @type {UppyFileLike} */ file) => plan(file).multipart,
    getChunkSize: (/** @type {{size: number}} */ file) => choosePlan(file.size, limits).partSize,

    async getUploadParameters(/** @type {UppyFileLike} */ file, /** @type {{signal?: AbortSignal}} */ options = {}) {
      const declared = await declare(file, false, options.signal);
      if (!declared.upload) throw new Error("Upvault planned a multipart upload for a single PUT");
      return { method: "PUT", url: declared.upload.url, headers: withoutLength(declared.upload.headers) };
    },

    async createMultipartUpload(/** @type {UppyFileLike} */ file) {
      const declared = await declare(file, true);
      stateOf(declared.upload_id).key = declared.key;
      return { uploadId: declared.upload_id, key: declared.key ?? declared.file_id };
    },

    async signPart(/** @type {UppyFileLike} */ file,
                   /** @type {{uploadId: string, key: string, partNumber: number, body: Blob, signal?: AbortSignal}} */
                   { uploadId, partNumber, body, signal }) {
      const state = stateOf(uploadId);
      if (!state.crcs.has(partNumber)) {
        // Uppy hands over the part's bytes: hash them (in a Worker) for the part's signed CRC.
        const [crc] = (await partChecksums(body, body.size, [1], { signal })).values();
        state.crcs.set(partNumber, crc);
      }
      const asked = state.rounds;
      for (;;) {
        const known = state.urls.get(partNumber);
        // A URL signed since this part asked is used as is (whatever the page's clock says).
        if (known && (known.round > asked || Date.now() < known.expiresAt - EXPIRY_MARGIN_MS)) {
          state.urls.delete(partNumber); // one use: a retry after a refusal gets a fresh signature
          return { method: "PUT", url: known.url, headers: withoutLength(known.headers) };
        }
        // Wait in line before waiting for a call in flight: parts that wait together share the next one.
        if (!state.beingSigned.has(partNumber)) state.waiting.set(partNumber, state.crcs.get(partNumber));
        if (state.signing) { await state.signing; continue; }
        const batch = [...state.waiting.entries()].slice(0, signBatch);
        for (const [n] of batch) { state.waiting.delete(n); state.beingSigned.add(n); }
        state.signing = upvault.signParts(uploadId,
          batch.map(([part_number, crc64nvme]) => ({ part_number, crc64nvme })), { signal, key: state.key })
          .then((signed) => {
            const expiresAt = Date.parse(signed.expires_at);
            const round = ++state.rounds;
            for (const part of signed.missing) state.urls.set(part.part_number, { ...part, expiresAt, round });
          })
          .finally(() => {
            for (const [n] of batch) state.beingSigned.delete(n);
            state.signing = null;
          });
        await state.signing;
        if (!state.urls.has(partNumber)) throw new Error(`Upvault returned no URL for part ${partNumber}`);
      }
    },

    async listParts(/** @type {UppyFileLike} */ file, /** @type {{uploadId: string, signal?: AbortSignal}} */ { uploadId, signal }) {
      const stored = await upvault.storedParts(uploadId, { signal });
      return stored.parts.map((part) => ({ PartNumber: part.part_number, ETag: part.etag, Size: part.size }));
    },

    async completeMultipartUpload(/** @type {UppyFileLike} */ file,
                                  /** @type {{uploadId: string, parts: Array<{PartNumber?: number, ETag?: string}>, signal?: AbortSignal}} */
                                  { uploadId, parts, signal }) {
      const ordered = parts.map((part) => ({ part_number: Number(part.PartNumber), etag: String(part.ETag) }))
        .sort((a, b) => a.part_number - b.part_number);
      const crc64nvme = await wholeFileChecksum(file.data, plan(file).partSize, stateOf(uploadId).crcs, signal);
      await upvault.complete(uploadId, ordered, { signal, crc64nvme });
      running.delete(uploadId);
      fileIds.set(file.id, uploadId);
      return {};
    },

    async abortMultipartUpload(/** @type {UppyFileLike} */ file, /** @type {{uploadId: string, signal?: AbortSignal}} */ { uploadId, signal }) {
      running.delete(uploadId);
      await upvault.abortUpload(uploadId, { signal });
    },

    /**
     * The Upvault file id of an Uppy file, once declared (not an @uppy/aws-s3 option).
     * @param {{id: string}} file
     * @returns {string|undefined}
     */
    fileIdOf: (file) => fileIds.get(file.id),
  };
}

/** Headers to send: all the API signed, except `Content-Length` (the browser sets it). */
export function withoutLength(headers = {}) {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "content-length"));
}

/**
 * The whole file's CRC64/NVME (base64) from its parts' CRCs: those hashed while they were sent,
 * the others (parts sent before a page reload) read back from the file now.
 *
 * @param {Blob} blob the whole file
 * @param {number} partSize
 * @param {Map<number, string>} crcs base64 CRC by part number, completed in place
 * @param {AbortSignal} [signal]
 * @returns {Promise<string>}
 */
export async function wholeFileChecksum(blob, partSize, crcs, signal) {
  const count = Math.max(1, Math.ceil(blob.size / partSize));
  const lengthOf = (/** @type {number} */ n) => Math.min(blob.size, n * partSize) - (n - 1) * partSize;
  const missing = [];
  for (let n = 1; n <= count; n++) if (!crcs.has(n)) missing.push(n);
  if (missing.length) for (const [n, crc] of await partChecksums(blob, partSize, missing, { signal })) crcs.set(n, crc);
  const parts = [];
  for (let n = 1; n <= count; n++) parts.push({ crc64nvme: /** @type {string} */ (crcs.get(n)), length: lengthOf(n) });
  return combinePartChecksums(parts);
}
