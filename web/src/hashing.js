// Hashing a Blob in bounded memory with hash-wasm (maintained WebAssembly hashers): the bytes
// are read one chunk at a time, so memory stays at one chunk per hasher whatever the file's
// size. Runs in a Worker (hash-worker.js) or, where Workers are unavailable, on the caller's
// thread. The results are plain data so they cross postMessage.
import { createCRC64, createSHA256 } from "hash-wasm";
import { CRC64NVME_POLYNOMIAL } from "./crc64.js";

/** Bytes read per step: large enough for wasm to run at full speed, small enough to bound memory. */
export const READ_CHUNK = 4 * 1024 * 1024;

async function* chunksOf(blob, start, end, signal) {
  for (let offset = start; offset < end; offset += READ_CHUNK) {
    signal?.throwIfAborted();
    const buffer = await blob.slice(offset, Math.min(end, offset + READ_CHUNK)).arrayBuffer();
    yield new Uint8Array(buffer);
  }
}

/**
 * The CRC64/NVME of each part in parts `first..last` (1-based) of `blob` cut in `partSize` bytes.
 * @returns {Promise<Array<{partNumber: number, crc: Uint8Array, length: number}>>} 8 big-endian bytes each
 */
export async function crc64Parts(blob, { partSize, first, last, signal }) {
  const hasher = await createCRC64(CRC64NVME_POLYNOMIAL);
  const parts = [];
  for (let number = first; number <= last; number++) {
    const start = (number - 1) * partSize;
    const end = Math.min(blob.size, start + partSize);
    hasher.init();
    for await (const chunk of chunksOf(blob, start, end, signal)) hasher.update(chunk);
    parts.push({ partNumber: number, crc: hasher.digest("binary"), length: end - start });
  }
  return parts;
}

/** The SHA-256 of the whole blob, streamed. @returns {Promise<Uint8Array>} 32 bytes */
export async function sha256Stream(blob, /** @type {{signal?: AbortSignal}} */ { signal } = {}) {
  const hasher = await createSHA256();
  hasher.init();
  for await (const chunk of chunksOf(blob, 0, blob.size, signal)) hasher.update(chunk);
  return hasher.digest("binary");
}
