// Upvault browser client: a dependency-free ES module (no build step).
//
//   import { createClient } from "./upvault.js";
//   const upvault = createClient({ apiUrl: "https://api.example.com", getToken: async () => token });
//   const { file_id } = await upvault.upload(file, { category: "documents", onProgress });
//   const file = await upvault.waitUntilProcessed(file_id);   // status "ready" or "rejected"
//
// Bytes go straight from the browser to storage (S3 or MinIO) with the presigned requests the
// API hands out; the API never sees them. See docs/browser-client.md.

/** Prefix of the localStorage entries that remember running multipart uploads. */
export const RESUME_PREFIX = "upvault:upload:";

/** Storage answers that mean "that presigned URL is no longer good": fetch a fresh one. */
const STALE_URL_STATUSES = new Set([403]);
/** A network failure or a 5xx on a part PUT is retried this often, with backoff. */
const PART_ATTEMPTS = 3;

/**
 * An error from the API or from storage, carrying an RFC 9457 problem body.
 *
 * API errors carry the API's own `application/problem+json` body. Storage errors (S3's XML),
 * network failures and bodies that are not problem+json (API Gateway's 401 is
 * `{"message":"Unauthorized"}`) are turned into a problem with the same fields.
 */
export class UpvaultError extends Error {
  /**
   * @param {{type: string, title: string, status: number, detail: string,
   *           instance?: string|null, errors?: Array<Object<string,string>>|null}} problem
   * @param {{cause?: unknown}} [options]
   */
  constructor(problem, options = {}) {
    super(problem.detail || problem.title, options);
    this.name = "UpvaultError";
    /** The RFC 9457 problem body. */
    this.problem = problem;
    /** HTTP status (0 for a network failure). */
    this.status = problem.status;
    /** The problem type URI, e.g. `urn:upvault:problem:too-large`. */
    this.type = problem.type;
  }
}

/**
 * @typedef {Object} UpvaultFile A file as its owner sees it (`FileOut` in docs/openapi.json).
 * @property {string} file_id
 * @property {string} name
 * @property {"documents"|"audio"|"images"} category
 * @property {"pending"|"ready"|"rejected"} status
 * @property {number} size
 * @property {string|null} [content_type]
 * @property {string|null} [sha256] SHA-256 storage verified (single PUT uploads)
 * @property {string|null} [crc64nvme] whole-file CRC-64/NVME storage verified (multipart uploads)
 * @property {string|null} [reason] why the file was rejected
 * @property {Object<string,string>} [metadata]
 * @property {string} created_at
 */

/**
 * @typedef {Object} UploadProgress
 * @property {number} loaded bytes stored so far (parts stored before a resume count)
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
 * Create a client for one Upvault API.
 *
 * @param {Object} options
 * @param {string} options.apiUrl base URL of the API, without `/v1` (e.g. `https://api.example.com`)
 * @param {() => (string|Promise<string>)} options.getToken returns a current bearer token
 *   (called before every API request, so a refreshed token is picked up mid-upload)
 * @param {Storage|null} [options.storage] where running multipart uploads are remembered
 *   (default `localStorage`; `null` turns resuming off)
 * @param {number} [options.pollInterval] milliseconds between status polls (default 500)
 * @param {number} [options.concurrency] parts uploaded at once (default 3)
 * @param {number} [options.multipartThreshold] the API's multipart threshold in bytes (default
 *   100 MiB, the API's default): it decides which checksum a declaration carries, SHA-256 for a
 *   single PUT (WebCrypto reads the file into memory once) or the whole file's CRC-64/NVME for a
 *   multipart upload. A wrong guess costs one more declaration: the API's 422 names its threshold.
 */
export function createClient({ apiUrl, getToken, storage, pollInterval = 500, concurrency = 3,
                               multipartThreshold = 100 * 1024 * 1024 }) {
  if (!apiUrl) throw new TypeError("createClient: apiUrl is required");
  if (typeof getToken !== "function") throw new TypeError("createClient: getToken must be a function");
  const base = String(apiUrl).replace(/\/+$/, "");
  const store = storage === undefined ? globalThis.localStorage ?? null : storage;

  async function api(method, path, { body, signal, expect = [200] } = {}) {
    const headers = { Authorization: `Bearer ${await getToken()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(base + path, {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw networkError(error, `${method} ${path}`);
    }
    if (!expect.includes(response.status)) throw await apiError(response);
    return response.status === 204 ? null : response.json();
  }

  /**
   * Upload a file: declare it, send its bytes straight to storage, and (for multipart) complete it.
   *
   * The file is then `pending` until the processor validated it; see {@link waitUntilProcessed}.
   * A multipart upload interrupted by an error, an abort or a page reload is remembered per file
   * (name, size, lastModified) and continued by the next `upload` of the same file: only the
   * parts storage does not hold yet are sent.
   *
   * @param {File|Blob} file the file (a Blob needs `options.filename`)
   * @param {Object} options
   * @param {"documents"|"audio"|"images"} options.category
   * @param {Object<string,string>} [options.metadata] client metadata stored with the file
   * @param {string} [options.contentType] default `file.type`
   * @param {string} [options.filename] default `file.name`
   * @param {(progress: UploadProgress) => void} [options.onProgress]
   * @param {AbortSignal} [options.signal] aborts the upload (a multipart upload stays resumable)
   * @returns {Promise<UploadResult>}
   * @throws {UpvaultError} on any refusal (the problem body says why); `AbortError` when aborted
   */
  async function upload(file, options = {}) {
    const { category, metadata = {}, onProgress = () => {}, signal } = options;
    const filename = options.filename ?? file.name;
    const contentType = options.contentType || file.type || "application/octet-stream";
    if (!category) throw new TypeError("upload: options.category is required");
    if (!filename) throw new TypeError("upload: a Blob needs options.filename");
    signal?.throwIfAborted();

    const resumeKey = resumeKeyOf(base, file, filename);
    const remembered = readResume(store, resumeKey);
    if (remembered) {
      const resumed = await resumeMultipart(file, remembered, { resumeKey, onProgress, signal });
      if (resumed) return resumed;
    }

    onProgress({ loaded: 0, total: file.size, phase: "hashing" });
    const digests = {};
    const declare = async (multipart) => {
      const checksums = multipart
        ? { crc64nvme: digests.crc64nvme ??= await crc64nvmeBase64(file, signal) }
        : { sha256: digests.sha256 ??= await sha256Base64(file) };
      signal?.throwIfAborted();
      return api("POST", "/v1/uploads", {
        signal, expect: [201],
        body: { filename, content_type: contentType, size: file.size, category, metadata, checksums },
      });
    };
    // The checksum depends on the upload kind, which the API's threshold decides: guess, and
    // if the API's 422 names another threshold, declare once more with the other checksum.
    const guess = file.size > multipartThreshold;
    let created;
    try {
      created = await declare(guess);
    } catch (error) {
      const threshold = error instanceof UpvaultError ? error.problem.multipart_threshold : undefined;
      if (typeof threshold !== "number" || (file.size > threshold) === guess) throw error;
      created = await declare(!guess);
    }
    if (created.upload) {
      onProgress({ loaded: 0, total: file.size, phase: "uploading" });
      await putToStorage(created.upload, file, { signal, onBytes: (loaded) => onProgress(
        { loaded, total: file.size, phase: "uploading" }) });
      onProgress({ loaded: file.size, total: file.size, phase: "done" });
      return { file_id: created.file_id, upload_id: created.upload_id, multipart: false, resumed: false,
               uploadedParts: [] };
    }
    writeResume(store, resumeKey, { upload_id: created.upload_id, file_id: created.file_id });
    return runMultipart(file, created.upload_id, created.file_id, { resumeKey, onProgress, signal, resumed: false });
  }

  /** Continue a remembered upload; `null` when it no longer exists (then start afresh). */
  async function resumeMultipart(file, remembered, context) {
    try {
      return await runMultipart(file, remembered.upload_id, remembered.file_id, { ...context, resumed: true });
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

  async function runMultipart(file, uploadId, fileId, { resumeKey, onProgress, signal, resumed }) {
    const partsPath = `/v1/uploads/${encodeURIComponent(uploadId)}/parts`;
    const progress = await api("GET", partsPath, { signal });
    if (progress.size !== file.size) {
      throw new UpvaultError({ type: "urn:upvault:problem:client", title: "Different file", status: 0,
        detail: `upload ${uploadId} was declared with ${progress.size} bytes, this file has ${file.size}` });
    }
    const etags = new Map(progress.parts.map((part) => [part.part_number, part.etag]));
    const partSize = progress.part_size;
    let loaded = progress.parts.reduce((sum, part) => sum + part.size, 0);
    const inFlight = new Map();
    const report = (extra) => onProgress({ loaded: loaded + sum(inFlight.values()), total: file.size,
                                           phase: "uploading", ...extra });
    report({});

    // Each part's URL is signed just before it is sent, binding the part's own CRC-64/NVME (storage
    // verifies it, and refuses a part of a CRC64NVME upload without one): it cannot be near expiry.
    const signPart = async (partNumber, crc64nvme) => {
      const signed = await api("POST", partsPath, {
        signal, body: { parts: [{ part_number: partNumber, crc64nvme }] } });
      const part = signed.missing.find((item) => item.part_number === partNumber);
      if (!part) throw new UpvaultError({ type: "urn:upvault:problem:client", title: "No URL for part",
        status: 0, detail: `the API returned no URL for part ${partNumber}` });
      return part;
    };

    const sendPart = async (partNumber) => {
      const start = (partNumber - 1) * partSize;
      const body = file.slice(start, Math.min(start + partSize, file.size));
      const crc64nvme = await crc64nvmeBase64(body, signal);
      for (let attempt = 1; ; attempt++) {
        const part = await signPart(partNumber, crc64nvme);
        try {
          inFlight.set(partNumber, 0);
          const response = await putToStorage(part, body, {
            signal, onBytes: (bytes) => { inFlight.set(partNumber, bytes); report({}); } });
          const etag = response.etag;
          if (!etag) {
            throw new UpvaultError({ type: "urn:upvault:problem:etag-not-exposed", title: "ETag not readable",
              status: 0, detail: "storage did not expose the ETag header to this page: its CORS " +
                "configuration must list ETag in ExposeHeaders (see docs/browser-client.md)" });
          }
          inFlight.delete(partNumber);
          etags.set(partNumber, etag);
          loaded += part.size;
          report({ partNumber, etag });
          return;
        } catch (error) {
          inFlight.delete(partNumber);
          if (signal?.aborted || !(error instanceof UpvaultError) || attempt >= PART_ATTEMPTS) throw error;
          if (error.type === "urn:upvault:problem:etag-not-exposed") throw error;
          // An expired or refused URL gets a fresh one; a network failure or 5xx a short pause.
          const stale = STALE_URL_STATUSES.has(error.status);
          if (!stale && error.status !== 0 && error.status < 500) throw error;
          await sleep(300 * attempt, signal);
        }
      }
    };

    const queue = progress.missing.map((part) => part.part_number);
    const uploadedParts = [...queue];
    const workers = Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, async () => {
      while (queue.length) {
        signal?.throwIfAborted();
        await sendPart(queue.shift());
      }
    });
    await Promise.all(workers);

    onProgress({ loaded: file.size, total: file.size, phase: "completing" });
    const parts = [...etags.entries()].sort((a, b) => a[0] - b[0])
      .map(([part_number, etag]) => ({ part_number, etag }));
    await api("POST", `/v1/uploads/${encodeURIComponent(uploadId)}/complete`, { signal, body: { parts } });
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
      if (Date.now() > deadline) {
        throw new UpvaultError({ type: "urn:upvault:problem:client", title: "Still pending", status: 0,
          detail: `file ${fileId} was still pending after ${timeout} ms` });
      }
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
   * @returns {Promise<void>}
   */
  async function abortUpload(uploadId) {
    await api("DELETE", `/v1/uploads/${encodeURIComponent(uploadId)}`, { expect: [204] });
    for (const key of storageKeys(store)) {
      if (readResume(store, key)?.upload_id === uploadId) forgetResume(store, key);
    }
  }

  return { upload, waitUntilProcessed, get, list, downloadUrl, remove, restore, abortUpload };
}

/**
 * PUT bytes to a presigned storage URL with exactly the signed headers.
 *
 * XMLHttpRequest rather than fetch: only it reports upload progress. `Content-Length` is left
 * to the browser (a forbidden header; it sets the body's length, which is what was signed).
 * Resolves with the response's ETag (`null` when CORS does not expose it).
 */
function putToStorage(request, body, { signal, onBytes }) {
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

/** Base64 SHA-256 of a whole file (WebCrypto has no streaming digest: the file is read once). */
async function sha256Base64(file) {
  return base64(new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer())));
}

// CRC-64/NVME (S3's CRC64NVME): reflected, polynomial 0xAD93D23594C93659 (0x9A6C9329AC4BC9B5
// reflected), initial value and final XOR all ones; check value of "123456789" 0xAE8B14860A799888.
// A 64-bit register is two 32-bit halves, so it runs on plain numbers (BigInt is far slower).
const CRC64_LO = new Int32Array(256);
const CRC64_HI = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let lo = n;
  let hi = 0;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = (lo >>> 1) | ((hi & 1) << 31);
    hi >>>= 1;
    if (carry) { lo ^= 0xAC4BC9B5; hi ^= 0x9A6C9329; }
  }
  CRC64_LO[n] = lo;
  CRC64_HI[n] = hi;
}
/** Bytes read at a time while hashing a Blob. */
const HASH_CHUNK = 8 * 1024 * 1024;

/**
 * Base64 CRC-64/NVME (8 bytes, big-endian, as S3's `x-amz-checksum-crc64nvme`) of a Blob,
 * read in chunks: the whole file never needs to be in memory.
 * @param {Blob} blob
 * @param {AbortSignal} [signal]
 * @returns {Promise<string>}
 */
export async function crc64nvmeBase64(blob, signal) {
  let lo = -1;  // all ones; kept in int32 range so the loop stays on small integers
  let hi = -1;
  for (let offset = 0; offset < blob.size; offset += HASH_CHUNK) {
    signal?.throwIfAborted();
    const bytes = new Uint8Array(await blob.slice(offset, offset + HASH_CHUNK).arrayBuffer());
    for (let i = 0; i < bytes.length; i++) {
      const index = (lo ^ bytes[i]) & 0xFF;
      lo = ((lo >>> 8) | (hi << 24)) ^ CRC64_LO[index];
      hi = (hi >>> 8) ^ CRC64_HI[index];
    }
  }
  const out = new DataView(new ArrayBuffer(8));
  out.setUint32(0, ~hi >>> 0);
  out.setUint32(4, ~lo >>> 0);
  return base64(new Uint8Array(out.buffer));
}

function base64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function apiError(response) {
  const text = await response.text().catch(() => "");
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (body && typeof body === "object" && body.type && body.title) {
    return new UpvaultError({ ...body, status: body.status ?? response.status });
  }
  // API Gateway's own answers ({"message":"Unauthorized"}) and proxies' HTML pages.
  return new UpvaultError({ type: "about:blank", title: response.statusText || `HTTP ${response.status}`,
    status: response.status, detail: body?.message || text.slice(0, 500) || `HTTP ${response.status}` });
}

function storageError(status, text, url) {
  const field = (name) => (new RegExp(`<${name}>([^<]*)</${name}>`).exec(text || "") || [])[1];
  const code = field("Code") || (status === 0 ? "NetworkError" : `HTTP ${status}`);
  return new UpvaultError({ type: `urn:upvault:problem:storage:${code}`, title: code, status,
    detail: field("Message") || `storage answered ${status}`, instance: hostOf(url) });
}

function networkError(cause, what) {
  return new UpvaultError({ type: "urn:upvault:problem:network", title: "Network error", status: 0,
    detail: `${what} did not get an answer (offline, blocked by CORS, or the server is down)` }, { cause });
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

function hostOf(url) {
  try { return new URL(url).host; } catch { return ""; }
}

function sum(values) {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal.reason); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
