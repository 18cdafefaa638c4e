// Worker entry: hashes what checksums.js asks for, off the page's main thread.
import { crc64Parts, sha256Stream } from "./hashing.js";

self.onmessage = async ({ data: { id, job, blob, options } }) => {
  try {
    const result = job === "sha256" ? await sha256Stream(blob) : await crc64Parts(blob, options);
    self.postMessage({ id, result });
  } catch (/** @type {any} */ error) {
    self.postMessage({ id, error: String(error?.message || error) });
  }
};
