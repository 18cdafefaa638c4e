// Upvault browser client.
//
//   import { createClient } from "@upvault/client";
//   const upvault = createClient({ apiUrl: "https://api.example.com", getToken: async () => token });
//   const { file_id } = await upvault.upload(file, { category: "documents", onProgress });
//   const file = await upvault.waitUntilProcessed(file_id);   // status "ready" or "rejected"
//
// Bytes go straight from the browser to storage (S3 or MinIO) with the presigned requests the
// API hands out; the API never sees them. Every upload carries checksums storage verifies:
// SHA-256 for a single PUT (hashed before it is declared); for multipart, each part's CRC64/NVME
// (hashed in a Worker, in order, while the parts are sent) and the whole file's, combined from
// them and given at completion.
// See docs/browser-client.md.
import { combinePartChecksums, partChecksums, sha256Checksum } from "./checksums.js";
import { apiError, clientError, hostOf, networkError, storageError, UpvaultError } from "./errors.js";

export { UpvaultError } from "./errors.js";

/** Prefix of the localStorage entries that remember running multipart uploads. */
export const RESUME_PREFIX = "upvault:upload:";

/** Re-sign part URLs when they expire within this many milliseconds. */
const EXPIRY_MARGIN_MS = 60_000;
/** A network failure or a 5xx on a part PUT is retried this often, with backoff. */
const PART_ATTEMPTS = 3;
const MIB = 1024 * 1024;

/**
 * @typedef {Object} UpvaultFile A file as its owner sees it (`FileOut` in docs/openapi.json).
 * @property {string} file_id
 * @property {string} name
 * @property {"documents"|"audio"|"images"} category
 * @property {"pending"|"ready"|"rejected"} status
 * @property {number} size
 * @property {string|null} [content_type]
 * @property {string|null} [sha256]
 * @property {string|null} [crc64nvme]
 * @property {string|null} [reason] why the file was rejected
 * @property {Record<string, string>} [metadata]
 * @property {string} created_at
 */

/**
 * @typedef {Object} CategoryLimits
 * @property {number} max_size
 * @property {string[]} types allowed content types
 * @property {string[]} [extensions] allowed file name extensions (without the dot), when the API lists them
 */

/**
 * @typedef {Object} Limits What `GET /v1/limits` publishes (public, cacheable)
 * @property {number} multipart_threshold above this size the API plans a multipart upload
 * @property {number} part_size default part size
 * @property {number} min_part_size
 * @property {number} max_part_size
 * @property {number} max_parts
 * @property {number} max_object_size
 * @property {Record<string, CategoryLimits>} categories
 */

/**
 * @typedef {Object} UploadProgress
 * @property {number} loaded bytes hashed (phase "hashing") or stored (later phases) so far
 * @property {number} total the file's size
 * @property {"hashing"|"uploading"|"completing"|"done"} phase
 * @property {number} [partNumber] the part that just finished (multipart only)
 * @property {string} [etag] its ETag as storage answered (multipart only)
 */

/**
 * @typedef {Object} UploadResult
 * @property {string} file_id
 * @property {string} upload_id
 * @property {boolean} multipart
 * @property {boolean} resumed whether an earlier, interrupted upload was continued
 * @property {number[]} uploadedParts part numbers sent by this call (multipart only)
 */

/**
 * @typedef {Object} PresignedRequest A request to make against storage with exactly these headers
 * @property {string} method
 * @property {string} url
 * @property {Record<string, string>} headers
 */

/**
 * @typedef {Object} Declaration What `POST /v1/uploads` answered
 * @property {string} file_id
 * @property {string} upload_id
 * @property {string} expires_at
 * @property {PresignedRequest|null} upload the single PUT (single uploads)
 * @property {{part_size: number, part_count: number, parts_url: string,
 *             parts?: Array<PresignedRequest & {part_number: number, size: number}>,
 *             create?: PresignedRequest|null}|null} multipart
 * @property {string} [key] the storage key the upload goes to
 */

/**
 * @typedef {Object} ClientOptions
 * @property {string} apiUrl base URL of the API, without `/v1` (e.g. `https://api.example.com`)
 * @property {() => (string|Promise<string>)} getToken returns a current bearer token
 *   (called before every API request, so a refreshed token is picked up mid-upload)
 * @property {Storage|null} [storage] where running multipart uploads are remembered
 *   (default `localStorage`; `null` turns resuming off)
 * @property {number} [pollInterval] milliseconds between status polls (default 500)
 * @property {number} [concurrency] parts uploaded at once (default 3)
 * @property {number} [signBatch] part URLs signed per API call at most (default 100; parts are
 *   signed as they are hashed, those waiting together in one call)
 * @property {number} [workers] Workers hashing in parallel (default: cores − 1, at most 4; 0: none)
 */

/**
 * Create a client for one Upvault API.
 * @param {ClientOptions} options
 */
export function createClient({ apiUrl, getToken, storage, pollInterval = 500, concurrency = 3, signBatch = 100,
                               workers }) {
  if (!apiUrl) throw new TypeError("createClient: apiUrl is required");
  if (typeof getToken !== "function") throw new TypeError("createClient: getToken must be a function");
  const base = String(apiUrl).replace(/\/+$/, "");
  const store = storage === undefined ? globalThis.localStorage ?? null : storage;
  /** @type {Promise<Limits>|null} */
  let limitsPromise = null;

  /**
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, signal?: AbortSignal, expect?: number[], auth?: boolean}} [options]
   * @returns {Promise<any>}
   */
  async function api(method, path, { body, signal, expect = [200], auth = true } = {}) {
    /** @type {Record<string, string>} */
    const headers = {};
    if (auth) headers.Authorization = `Bearer ${await getToken()}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(base + path, {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw networkError(error, `${method} ${path}`);
    }
    if (!expect.includes(response.status)) throw await apiError(response);
    return response.status === 204 ? null : response.json();
  }

  /**
   * The service's public limits (`GET /v1/limits`), fetched once per client.
   * @returns {Promise<Limits>}
   */
  function limits() {
    limitsPromise ??= api("GET", "/v1/limits", { auth: false }).catch((error) => {
      limitsPromise = null;
      throw error;
    });
    return limitsPromise;
  }

  /**
   * Single PUT or multipart, and the part size, for a file of `size` bytes: the API's threshold
   * and default part size unless the caller chose, grown to stay within 10,000 parts.
   * @param {number} size
   * @param {{multipart?: boolean, partSize?: number}} [choice]
   * @returns {Promise<{multipart: boolean, partSize: number}>}
   */
  async function planFor(size, choice = {}) {
    return choosePlan(size, await limits(), choice);
  }

  /**
   * Hash a file and declare it (`POST /v1/uploads`): the lower-level step under {@link upload},
   * for adapters that send the bytes themselves (Uppy).
   *
   * @param {Blob} file
   * @param {{category: string, filename: string, contentType: string, metadata?: Record<string, string>,
   *          multipart: boolean, partSize: number, signal?: AbortSignal,
   *          onHashProgress?: (hashed: number, total: number) => void, presign?: "s3"}} options
   * @returns {Promise<Declaration>}
   */
  async function declare(file, { category, filename, contentType, metadata = {}, multipart, partSize, signal,
                                 onHashProgress, presign }) {
    const hashOptions = { workers, signal, onProgress: onHashProgress };
    /** @type {Record<string, unknown>} */
    const body = { filename, content_type: contentType, size: file.size, category, metadata, multipart };
    if (multipart) {
      // No checksum yet: each part is hashed as it is sent, the whole file's CRC64/NVME is
      // given at completion.
      body.part_size = partSize;
      body.checksums = {};
    } else {
      body.checksums = { sha256: await sha256Checksum(file, hashOptions) };
    }
    if (presign) body.presign = presign;
    signal?.throwIfAborted();
    const created = await api("POST", "/v1/uploads", { signal, expect: [201], body });
    return created;
  }

  /**
   * Sign URLs for parts, each bound to its CRC64/NVME (`POST /v1/uploads/{id}/parts`).
   * @param {string} uploadId
   * @param {Array<{part_number: number, crc64nvme?: string}>} parts
   * @param {{signal?: AbortSignal, key?: string}} [options] `key` (from the plan) spares the API a storage lookup
   * @returns {Promise<{expires_at: string, missing: Array<PresignedRequest & {part_number: number, size: number}>}>}
   */
  function signParts(uploadId, parts, { signal, key } = {}) {
    return api("POST", `/v1/uploads/${encodeURIComponent(uploadId)}/parts`, { signal, body: key ? { parts, key } : { parts } });
  }

  /**
   * What storage holds of a multipart upload (`GET /v1/uploads/{id}/parts`): to resume.
   * @param {string} uploadId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<{size: number, part_size: number, part_count: number,
   *                    parts: Array<{part_number: number, etag: string, size: number}>}>}
   */
  function storedParts(uploadId, { signal } = {}) {
    return api("GET", `/v1/uploads/${encodeURIComponent(uploadId)}/parts`, { signal });
  }

  /**
   * Assemble a multipart upload (`POST /v1/uploads/{id}/complete`) with the whole file's
   * CRC64/NVME (see `combinePartChecksums`), which storage verifies against the parts.
   * @param {string} uploadId
   * @param {Array<{part_number: number, etag: string}>} parts all parts, in order
   * @param {{signal?: AbortSignal, crc64nvme?: string}} [options] `crc64nvme` is required unless declared
   * @returns {Promise<UpvaultFile>}
   */
  function complete(uploadId, parts, { signal, crc64nvme } = {}) {
    const body = crc64nvme ? { parts, crc64nvme } : { parts };
    return api("POST", `/v1/uploads/${encodeURIComponent(uploadId)}/complete`, { signal, body });
  }

  /**
   * Presign one raw S3 request of a declared upload (`POST /v1/uploads/s3-requests`), for
   * clients that speak S3 themselves (Uppy 6's `signRequest`). The API signs it only for the
   * caller's own pending key.
   * @param {{method: string, key: string, storage_upload_id?: string, part_number?: number,
   *          crc64nvme?: string}} request
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<PresignedRequest & {key: string}>}
   */
  function presignS3Request(request, { signal } = {}) {
    return api("POST", "/v1/uploads/s3-requests", { signal, body: request });
  }

  /**
   * A request that completes or aborts a multipart upload *through the API*, in S3's own
   * format (`POST /v1/uploads/{id}/s3-complete` takes S3's CompleteMultipartUpload XML and
   * answers with S3's result; `DELETE /v1/uploads/{id}`), for clients that speak S3 (Uppy 6).
   * The API adds each part's checksum, which storage needs for a full-object CRC64/NVME;
   * completion carries the whole file's CRC64/NVME in its query.
   * @param {"complete"|"abort"} action
   * @param {string} uploadId
   * @param {{crc64nvme?: string}} [options] the whole file's CRC64/NVME (complete)
   * @returns {Promise<{url: string, headers: Record<string, string>}>}
   */
  async function s3StyleRequest(action, uploadId, { crc64nvme } = {}) {
    const query = action === "complete" && crc64nvme ? `?crc64nvme=${encodeURIComponent(crc64nvme)}` : "";
    const path = `/v1/uploads/${encodeURIComponent(uploadId)}${action === "complete" ? "/s3-complete" : ""}${query}`;
    return { url: base + path, headers: { Authorization: `Bearer ${await getToken()}` } };
  }

  /**
   * Upload a file: hash it, declare it, send its bytes straight to storage, and (for multipart)
   * complete it.
   *
   * The file is then `pending` until the processor validated it; see {@link waitUntilProcessed}.
   * A multipart upload interrupted by an error, an abort or a page reload is remembered per file
   * (name, size, lastModified) and continued by the next `upload` of the same file: only the
   * parts storage does not hold yet are hashed and sent.
   *
   * @param {File|Blob} file the file (a Blob needs `options.filename`)
   * @param {Object} options
   * @param {"documents"|"audio"|"images"} options.category
   * @param {Record<string, string>} [options.metadata] client metadata stored with the file
   * @param {string} [options.contentType] default `file.type`
   * @param {string} [options.filename] default `file.name`
   * @param {boolean} [options.multipart] force (true) or forbid (false) multipart; default: the API's threshold
   * @param {number} [options.partSize] bytes per part (5 MiB..5 GiB); default: the API's
   * @param {(progress: UploadProgress) => void} [options.onProgress]
   * @param {(ids: {file_id: string, upload_id: string, multipart: boolean}) => void} [options.onDeclared]
   *   called once the API accepted the file (or a remembered upload is resumed)
   * @param {AbortSignal} [options.signal] aborts the upload (a multipart upload stays resumable)
   * @returns {Promise<UploadResult>}
   * @throws {UpvaultError} on any refusal (the problem body says why); `AbortError` when aborted
   */
  async function upload(file, options) {
    const { category, metadata = {}, onProgress = () => {}, onDeclared = () => {}, signal } = options;
    const filename = options.filename ?? /** @type {File} */ (file).name;
    const contentType = options.contentType || file.type || "application/octet-stream";
    if (!category) throw new TypeError("upload: options.category is required");
    if (!filename) throw new TypeError("upload: a Blob needs options.filename");
    signal?.throwIfAborted();

    const resumeKey = resumeKeyOf(base, file, filename);
    const remembered = readResume(store, resumeKey);
    if (remembered) {
      onDeclared({ file_id: remembered.file_id, upload_id: remembered.upload_id, multipart: true });
      const resumed = await resumeMultipart(file, remembered, { resumeKey, onProgress, signal });
      if (resumed) return resumed;
    }

    const plan = await planFor(file.size, options);
    if (!plan.multipart) onProgress({ loaded: 0, total: file.size, phase: "hashing" });
    const created = await declare(file, {
      category, filename, contentType, metadata, multipart: plan.multipart, partSize: plan.partSize, signal,
      onHashProgress: (loaded, total) => onProgress({ loaded, total, phase: "hashing" }),
    });
    onDeclared({ file_id: created.file_id, upload_id: created.upload_id, multipart: !created.upload });
    if (created.upload) {
      onProgress({ loaded: 0, total: file.size, phase: "uploading" });
      await putToStorage(created.upload, file, { signal, onBytes: (loaded) => onProgress(
        { loaded, total: file.size, phase: "uploading" }) });
      onProgress({ loaded: file.size, total: file.size, phase: "done" });
      return { file_id: created.file_id, upload_id: created.upload_id, multipart: false, resumed: false,
               uploadedParts: [] };
    }
    if (!created.multipart) throw clientError("No upload plan", "the API answered with neither a URL nor a plan");
    writeResume(store, resumeKey, { upload_id: created.upload_id, file_id: created.file_id, key: created.key });
    return runMultipart(file, {
      uploadId: created.upload_id, fileId: created.file_id, partSize: created.multipart.part_size, key: created.key,
      stored: [], resumeKey, onProgress, signal, resumed: false,
    });
  }

  /** Continue a remembered upload; `null` when it no longer exists (then start afresh). */
  async function resumeMultipart(file, remembered, context) {
    try {
      const progress = await storedParts(remembered.upload_id, { signal: context.signal });
      if (progress.size !== file.size) {
        throw clientError("Different file",
          `upload ${remembered.upload_id} was declared with ${progress.size} bytes, this file has ${file.size}`);
      }
      return await runMultipart(file, {
        ...context, uploadId: remembered.upload_id, fileId: remembered.file_id, partSize: progress.part_size,
        key: remembered.key,
        stored: progress.parts, resumed: true,
      });
    } catch (error) {
      if (error instanceof UpvaultError && error.status === 409) {
        // Completed earlier (the page died between "complete" and forgetting it): nothing to send.
        forgetResume(store, context.resumeKey);
        return { file_id: remembered.file_id, upload_id: remembered.upload_id, multipart: true, resumed: true,
                 uploadedParts: [] };
      }
      if (error instanceof UpvaultError && error.status === 404) {
        forgetResume(store, context.resumeKey);  // aborted or expired: upload from scratch
        return null;
      }
      throw error;
    }
  }

  /**
   * @param {Blob} file
   * @param {{uploadId: string, fileId: string, partSize: number, key?: string,
   *          stored: Array<{part_number: number, etag: string, size: number, crc64nvme?: string|null}>,
   *          resumeKey: string, onProgress: (progress: UploadProgress) => void, signal?: AbortSignal,
   *          resumed: boolean}} context
   * @returns {Promise<UploadResult>}
   */
  async function runMultipart(file, { uploadId, fileId, partSize, key, stored, resumeKey, onProgress, signal,
                                      resumed }) {
    const count = Math.max(1, Math.ceil(file.size / partSize));
    const lengthOf = (n) => Math.min(file.size, n * partSize) - (n - 1) * partSize;
    const etags = new Map();
    /** Each part's CRC64/NVME (base64), for its URL and for the whole file's at completion. */
    const crcs = new Map();
    const held = stored.filter((part) => part.size === lengthOf(part.part_number));
    if (held.length) {
      // A resumed upload reads back the parts storage holds (no upload): one stored with other
      // bytes than this file's is sent again, and their CRCs make up the whole file's.
      const hashed = await partChecksums(file, partSize, held.map((part) => part.part_number), { workers, signal });
      for (const part of held) {
        const crc = hashed.get(part.part_number);
        if (!crc || (part.crc64nvme && part.crc64nvme !== crc)) continue;
        etags.set(part.part_number, part.etag);
        crcs.set(part.part_number, crc);
      }
    }
    const queue = [];
    for (let n = 1; n <= count; n++) if (!etags.has(n)) queue.push(n);
    const uploadedParts = [...queue];
    let loaded = [...etags.keys()].reduce((total, n) => total + lengthOf(n), 0);
    const inFlight = new Map();
    const report = (extra) => onProgress({ loaded: loaded + sum(inFlight.values()), total: file.size,
                                           phase: "uploading", ...extra });
    report({});

    // The parts are hashed in a Worker, in order, from the start (only CRCs are kept, never
    // bytes): hashing runs ahead of the uploads, so URLs are signed in batches ahead of the lanes.
    /** @type {Map<number, Promise<string>>} */
    const hashing = new Map();
    const crcOf = (n) => {
      if (!hashing.has(n)) {
        hashing.set(n, partChecksums(file, partSize, [n], { workers, signal }).then((found) => {
          const crc = /** @type {string} */ (found.get(n));
          crcs.set(n, crc);
          return crc;
        }));
        hashing.get(n)?.catch(() => {});  // awaited by the part's lane; never an unhandled rejection
      }
      return /** @type {Promise<string>} */ (hashing.get(n));
    };

    // A part's URL binds its CRC, so it is signed once the part is hashed; parts that wait
    // while a signing call is in flight share the next one.
    const urls = new Map();
    const waiting = new Map();
    const beingSigned = new Set();
    let signing = null;
    let rounds = 0;
    const urlFor = async (partNumber, crc, stale) => {
      if (stale) urls.delete(partNumber);
      const asked = rounds;
      for (;;) {
        const known = urls.get(partNumber);
        // A URL signed since this part asked is used as is (whatever the page's clock says).
        if (known && (known.round > asked || Date.now() < known.expiresAt - EXPIRY_MARGIN_MS)) return known;
        if (!beingSigned.has(partNumber)) waiting.set(partNumber, crc);
        if (signing) { await signing; continue; }
        const batch = [...waiting.entries()].slice(0, signBatch);
        // Sign the parts already hashed along with those asked for: the lanes find their URLs ready.
        for (const n of queue) {
          if (batch.length >= signBatch) break;
          if (crcs.has(n) && !waiting.has(n) && !urls.has(n) && !beingSigned.has(n) && !etags.has(n)) {
            batch.push([n, /** @type {string} */ (crcs.get(n))]);
          }
        }
        for (const [n] of batch) { waiting.delete(n); beingSigned.add(n); }
        signing = signParts(uploadId, batch.map(([part_number, crc64nvme]) => ({ part_number, crc64nvme })),
          { signal, key }).then((signed) => {
          const expiresAt = Date.parse(signed.expires_at);
          const round = ++rounds;
          for (const part of signed.missing) urls.set(part.part_number, { ...part, expiresAt, round });
        }).finally(() => {
          for (const [n] of batch) beingSigned.delete(n);
          signing = null;
        });
        await signing;
        if (!urls.has(partNumber)) throw clientError("No URL for part", `the API returned no URL for part ${partNumber}`);
      }
    };

    const sendPart = async (partNumber) => {
      let stale = false;
      const crc = await crcOf(partNumber);
      for (let attempt = 1; ; attempt++) {
        const part = await urlFor(partNumber, crc, stale);
        const start = (partNumber - 1) * partSize;
        try {
          inFlight.set(partNumber, 0);
          const response = await putToStorage(part, file.slice(start, start + lengthOf(partNumber)), {
            signal, onBytes: (bytes) => { inFlight.set(partNumber, bytes); report({}); } });
          const etag = response.etag;
          if (!etag) {
            throw new UpvaultError({ type: "urn:upvault:problem:etag-not-exposed", title: "ETag not readable",
              status: 0, detail: "storage did not expose the ETag header to this page: its CORS " +
                "configuration must list ETag in ExposeHeaders (see docs/browser-client.md)" });
          }
          inFlight.delete(partNumber);
          etags.set(partNumber, etag);
          loaded += lengthOf(partNumber);
          report({ partNumber, etag });
          return;
        } catch (error) {
          inFlight.delete(partNumber);
          if (signal?.aborted || !(error instanceof UpvaultError) || attempt >= PART_ATTEMPTS) throw error;
          if (error.type === "urn:upvault:problem:etag-not-exposed") throw error;
          // An expired or refused URL gets a fresh one; a network failure or 5xx a short pause.
          stale = error.status === 403;
          if (!stale && error.status !== 0 && error.status < 500) throw error;
          await sleep(300 * attempt, signal);
        }
      }
    };

    (async () => { for (const n of queue) await crcOf(n); })().catch(() => {});  // hash ahead, in order
    const pending = [...queue];
    const lanes = Math.max(1, Math.min(concurrency, pending.length));
    await Promise.all(Array.from({ length: lanes }, async () => {
      while (pending.length) {
        signal?.throwIfAborted();
        await sendPart(/** @type {number} */ (pending.shift()));
      }
    }));

    onProgress({ loaded: file.size, total: file.size, phase: "completing" });
    const parts = [...etags.entries()].sort((a, b) => a[0] - b[0])
      .map(([part_number, etag]) => ({ part_number, etag }));
    const crc64nvme = combinePartChecksums(parts.map(({ part_number }) => ({
      crc64nvme: /** @type {string} */ (crcs.get(part_number)), length: lengthOf(part_number) })));
    await complete(uploadId, parts, { signal, crc64nvme });
    forgetResume(store, resumeKey);
    onProgress({ loaded: file.size, total: file.size, phase: "done" });
    return { file_id: fileId, upload_id: uploadId, multipart: true, resumed, uploadedParts };
  }

  /**
   * Poll a file until the processor decided: returns it with status `ready` or `rejected`.
   *
   * @param {string} fileId
   * @param {{signal?: AbortSignal, timeout?: number, interval?: number}} [options]
   *   `timeout` in milliseconds (default 120000; then an `UpvaultError` with status 0)
   * @returns {Promise<UpvaultFile>}
   */
  async function waitUntilProcessed(fileId, { signal, timeout = 120_000, interval = pollInterval } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const file = await get(fileId, { signal });
      if (file.status !== "pending") return file;
      if (Date.now() > deadline) throw clientError("Still pending", `file ${fileId} was still pending after ${timeout} ms`);
      await sleep(interval, signal);
    }
  }

  /**
   * One file's details and status.
   * @param {string} fileId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<UpvaultFile>}
   */
  function get(fileId, { signal } = {}) {
    return api("GET", `/v1/files/${encodeURIComponent(fileId)}`, { signal });
  }

  /**
   * One page of the caller's files, newest first (statuses and categories mixed, by upload time).
   * @param {{category?: string, status?: string, cursor?: string, limit?: number, signal?: AbortSignal}} [options]
   * @returns {Promise<{items: UpvaultFile[], cursor: string|null}>} pass `cursor` back for the next page
   */
  function list({ category, status, cursor, limit, signal } = {}) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries({ category, status, cursor, limit })) {
      if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
    }
    const suffix = query.toString() ? `?${query}` : "";
    return api("GET", `/v1/files${suffix}`, { signal });
  }

  /**
   * A short-lived presigned download URL (it downloads as an attachment under the file's name).
   * @param {string} fileId
   * @returns {Promise<string>}
   */
  async function downloadUrl(fileId) {
    const out = await api("GET", `/v1/files/${encodeURIComponent(fileId)}/download`);
    return out.url;
  }

  /**
   * Delete a file; its previous version stays recoverable with {@link restore}.
   * @param {string} fileId
   * @returns {Promise<void>}
   */
  async function remove(fileId) {
    await api("DELETE", `/v1/files/${encodeURIComponent(fileId)}`, { expect: [204] });
  }

  /**
   * Bring back the last deleted version of a file.
   * @param {string} fileId
   * @returns {Promise<UpvaultFile>}
   */
  function restore(fileId) {
    return api("POST", `/v1/files/${encodeURIComponent(fileId)}/restore`);
  }

  /**
   * Abort a running multipart upload for good (storage drops its parts) and forget it here.
   * @param {string} uploadId
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async function abortUpload(uploadId, { signal } = {}) {
    await api("DELETE", `/v1/uploads/${encodeURIComponent(uploadId)}`, { expect: [204], signal });
    for (const key of storageKeys(store)) {
      if (readResume(store, key)?.upload_id === uploadId) forgetResume(store, key);
    }
  }

  return { upload, waitUntilProcessed, get, list, downloadUrl, remove, restore, abortUpload, limits, planFor,
           declare, signParts, storedParts, complete, presignS3Request, s3StyleRequest };
}

/** @typedef {ReturnType<typeof createClient>} UpvaultClient */

/**
 * Single PUT or multipart, and the part size, for a file of `size` bytes under `limits`.
 *
 * The caller's choice wins where S3 allows it; the part size grows (in whole MiB) so a file
 * never needs more than `max_parts` parts.
 *
 * @param {number} size
 * @param {Limits} limits
 * @param {{multipart?: boolean, partSize?: number}} [choice]
 * @returns {{multipart: boolean, partSize: number}}
 */
export function choosePlan(size, limits, { multipart, partSize } = {}) {
  const wantsMultipart = multipart ?? size > limits.multipart_threshold;
  let chosen = partSize ?? limits.part_size;
  const needed = Math.ceil(size / limits.max_parts);
  if (needed > chosen) chosen = Math.ceil(needed / MIB) * MIB;
  chosen = Math.min(limits.max_part_size, Math.max(limits.min_part_size, chosen));
  return { multipart: wantsMultipart, partSize: chosen };
}

/**
 * PUT bytes to a presigned storage URL with exactly the signed headers.
 *
 * XMLHttpRequest rather than fetch: only it reports upload progress. `Content-Length` is left
 * to the browser (a forbidden header; it sets the body's length, which is what was signed).
 * Resolves with the response's ETag (`null` when CORS does not expose it).
 *
 * @param {{method?: string, url: string, headers?: Record<string, string>}} request
 * @param {Blob} body
 * @param {{signal?: AbortSignal, onBytes?: (loaded: number) => void}} options
 * @returns {Promise<{status: number, etag: string|null}>}
 */
export function putToStorage(request, body, { signal, onBytes }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(request.method || "PUT", request.url);
    for (const [name, value] of Object.entries(request.headers || {})) {
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.upload.onprogress = (event) => onBytes?.(event.loaded);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.status, etag: xhr.getResponseHeader("ETag") });
      } else {
        reject(storageError(xhr.status, xhr.responseText, request.url));
      }
    };
    xhr.onerror = () => {
      done();
      reject(networkError(new Error("network error"), `PUT ${hostOf(request.url)}`));
    };
    xhr.onabort = () => {
      done();
      reject(signal?.reason ?? new DOMException("The upload was aborted", "AbortError"));
    };
    xhr.send(body);
  });
}

function resumeKeyOf(base, file, filename) {
  return `${RESUME_PREFIX}${base}|${filename}|${file.size}|${file.lastModified ?? ""}`;
}

function readResume(store, key) {
  try {
    const value = JSON.parse(store?.getItem(key) ?? "null");
    return value && typeof value.upload_id === "string" && typeof value.file_id === "string" ? value : null;
  } catch {
    return null;
  }
}

function writeResume(store, key, value) {
  try { store?.setItem(key, JSON.stringify({ ...value, saved_at: new Date().toISOString() })); } catch { /* full */ }
}

function forgetResume(store, key) {
  try { store?.removeItem(key); } catch { /* unavailable */ }
}

function storageKeys(store) {
  const keys = [];
  for (let i = 0; store && i < store.length; i++) {
    const key = store.key(i);
    if (key?.startsWith(RESUME_PREFIX)) keys.push(key);
  }
  return keys;
}

function sum(values) {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal?.reason); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
