// The checksums Upvault's API requires, computed so that storage verifies every upload:
//
// - a single PUT declares the file's SHA-256 (signed into the URL as x-amz-checksum-sha256);
// - a multipart upload signs each part's own CRC64/NVME into that part's URL and gives the whole
//   file's CRC64/NVME (S3's FULL_OBJECT checksum, checked when the parts are assembled) at
//   completion, combined from the parts' CRCs: the parts are hashed while the upload runs, so
//   no pass over the file comes before the first byte.
//
// Parts are hashed by a small pool of Workers (hash-wasm, bounded memory: one read chunk per
// Worker). Without Workers (Node, a worker script on another origin, a strict CSP) the same
// code runs on the calling thread.
import { combineAll, crcBytes, crcFromBytes, fromBase64, toBase64 } from "./crc64.js";
import { crc64Parts, sha256Stream } from "./hashing.js";

/** Files up to this size get their SHA-256 from WebCrypto (native speed, reads the file once into memory). */
export const WEBCRYPTO_MAX_SIZE = 64 * 1024 * 1024;
/** Parts per task handed to one Worker: few enough to spread a file over the pool. */
const PARTS_PER_TASK = 2;

/**
 * @typedef {Object} HashOptions
 * @property {number} [workers] Workers hashing in parallel (default: cores − 1, 1..4; 0 hashes on this thread)
 * @property {AbortSignal} [signal]
 * @property {(hashed: number, total: number) => void} [onProgress] bytes hashed so far
 */

/**
 * @typedef {Object} MultipartChecksums
 * @property {string} crc64nvme base64 of the whole file's CRC64/NVME (8 bytes, big-endian)
 * @property {Map<number, string>} parts base64 CRC64/NVME of each part hashed, by part number
 */

/**
 * CRC64/NVME of the whole file and of each of its parts.
 *
 * @param {Blob} blob
 * @param {number} partSize bytes per part (the last part is shorter)
 * @param {HashOptions} [options]
 * @returns {Promise<MultipartChecksums>}
 */
export async function multipartChecksums(blob, partSize, options = {}) {
  const count = Math.max(1, Math.ceil(blob.size / partSize));
  const hashed = await hashParts(blob, partSize, range(1, count), options);
  const ordered = [...hashed.values()];
  const full = combineAll(ordered.map(({ crc, length }) => ({ crc: crcFromBytes(crc), length })));
  return {
    crc64nvme: toBase64(crcBytes(full)),
    parts: new Map(ordered.map(({ partNumber, crc }) => [partNumber, toBase64(crc)])),
  };
}

/**
 * The whole file's CRC64/NVME from its parts' (base64), given in order with their lengths.
 *
 * @param {Array<{crc64nvme: string, length: number}>} parts every part of the file, in order
 * @returns {string} base64 of the whole file's CRC64/NVME
 */
export function combinePartChecksums(parts) {
  return toBase64(crcBytes(combineAll(parts.map(({ crc64nvme, length }) => ({
    crc: crcFromBytes(fromBase64(crc64nvme)), length })))));
}

/**
 * CRC64/NVME of some parts only (a resumed upload hashes the parts it still has to send).
 *
 * @param {Blob} blob
 * @param {number} partSize
 * @param {number[]} partNumbers
 * @param {HashOptions} [options]
 * @returns {Promise<Map<number, string>>} base64 CRC by part number
 */
export async function partChecksums(blob, partSize, partNumbers, options = {}) {
  const hashed = await hashParts(blob, partSize, partNumbers, options);
  return new Map([...hashed.values()].map(({ partNumber, crc }) => [partNumber, toBase64(crc)]));
}

/**
 * SHA-256 of the whole file (base64), for a single PUT.
 *
 * Up to {@link WEBCRYPTO_MAX_SIZE} WebCrypto hashes the file in one call (native code, the file
 * in memory once); larger files are streamed through hash-wasm in a Worker, in bounded memory.
 *
 * @param {Blob} blob
 * @param {HashOptions & {webCryptoMaxSize?: number}} [options]
 * @returns {Promise<string>}
 */
export async function sha256Checksum(blob, options = {}) {
  const { signal, onProgress, webCryptoMaxSize = WEBCRYPTO_MAX_SIZE } = options;
  let digest;
  if (blob.size <= webCryptoMaxSize && globalThis.crypto?.subtle) {
    digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  } else {
    const pool = workerPool(options.workers);
    digest = pool ? await pool.run("sha256", blob, {}, signal) : await sha256Stream(blob, { signal });
  }
  signal?.throwIfAborted();
  onProgress?.(blob.size, blob.size);
  return toBase64(digest);
}

/**
 * @param {Blob} blob
 * @param {number} partSize
 * @param {number[]} partNumbers
 * @param {HashOptions} [options]
 */
async function hashParts(blob, partSize, partNumbers, { workers, signal, onProgress } = {}) {
  const sorted = [...new Set(partNumbers)].sort((a, b) => a - b);
  const tasks = [];
  for (let i = 0; i < sorted.length; i += PARTS_PER_TASK) tasks.push(sorted.slice(i, i + PARTS_PER_TASK));
  const pool = workerPool(workers);
  const total = sorted.reduce((sum, n) => sum + Math.max(0, Math.min(blob.size, n * partSize) - (n - 1) * partSize), 0);
  let done = 0;
  /** @type {Map<number, {partNumber: number, crc: Uint8Array, length: number}>} */
  const results = new Map();
  const runTask = async (numbers) => {
    // A task covers consecutive part numbers only when they are; resume lists may have gaps.
    for (const group of consecutiveRuns(numbers)) {
      const options = { partSize, first: group[0], last: group[group.length - 1] };
      const parts = pool ? await pool.run("crc64", blob, options, signal) : await crc64Parts(blob, { ...options, signal });
      for (const part of parts) {
        results.set(part.partNumber, part);
        done += part.length;
      }
      onProgress?.(done, total);
    }
  };
  const queue = [...tasks];
  const lanes = Math.max(1, pool ? pool.size : 1);
  await Promise.all(Array.from({ length: Math.min(lanes, queue.length || 1) }, async () => {
    while (queue.length) await runTask(queue.shift());
  }));
  signal?.throwIfAborted();
  return new Map([...results.entries()].sort((a, b) => a[0] - b[0]));
}

function consecutiveRuns(numbers) {
  const runs = [];
  for (const n of numbers) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === n - 1) last.push(n);
    else runs.push([n]);
  }
  return runs;
}

function range(first, last) {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

// -- the Worker pool ----------------------------------------------------------------------
let sharedPool = null;
let workersBroken = false;

/** The module's Worker pool, or `null` to hash on this thread. */
function workerPool(requested) {
  if (requested === 0 || workersBroken || typeof Worker === "undefined") return null;
  const cores = globalThis.navigator?.hardwareConcurrency || 2;
  const size = requested ?? Math.min(4, Math.max(1, cores - 1));
  if (!sharedPool || sharedPool.size !== size) {
    sharedPool?.close();
    sharedPool = new WorkerPool(size);
  }
  return sharedPool;
}

/** Worker URL next to this module (src/ for bundlers, dist/ for the prebuilt bundle). */
function workerUrl() {
  return new URL("./hash-worker.js", import.meta.url);
}

class WorkerPool {
  constructor(size) {
    this.size = size;
    this.idle = [];
    this.waiting = [];
    this.all = [];
    this.nextId = 1;
  }

  close() {
    for (const worker of this.all) worker.terminate();
    this.all = [];
    this.idle = [];
  }

  async acquire() {
    if (this.idle.length) return this.idle.pop();
    if (this.all.length < this.size) {
      const worker = new Worker(workerUrl(), { type: "module" });
      this.all.push(worker);
      return worker;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(worker) {
    const next = this.waiting.shift();
    if (next) next(worker);
    else this.idle.push(worker);
  }

  /** Run one job; if Workers cannot start here, fall back to this thread for good. */
  async run(job, blob, options, signal) {
    signal?.throwIfAborted();
    const worker = await this.acquire();
    const id = this.nextId++;
    try {
      return await new Promise((resolve, reject) => {
        const onMessage = ({ data }) => {
          if (data.id !== id) return;
          cleanup();
          if (data.error) reject(new Error(data.error));
          else resolve(data.result);
        };
        const onError = (event) => {
          cleanup();
          event.preventDefault?.();
          reject(Object.assign(new Error("hash worker failed to start"), { workerFailed: true }));
        };
        const onAbort = () => { cleanup(); reject(signal.reason); };
        const cleanup = () => {
          worker.removeEventListener("message", onMessage);
          worker.removeEventListener("error", onError);
          signal?.removeEventListener("abort", onAbort);
        };
        worker.addEventListener("message", onMessage);
        worker.addEventListener("error", onError);
        signal?.addEventListener("abort", onAbort, { once: true });
        worker.postMessage({ id, job, blob, options });
      });
    } catch (/** @type {any} */ error) {
      if (error?.workerFailed) {
        workersBroken = true;
        this.close();
        return job === "sha256" ? sha256Stream(blob, { signal }) : crc64Parts(blob, { ...options, signal });
      }
      throw error;
    } finally {
      if (!workersBroken) this.release(worker);
    }
  }
}
