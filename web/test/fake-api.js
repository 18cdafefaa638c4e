// A scripted Upvault API and storage for unit tests: fetch and XMLHttpRequest stand-ins that
// record every request and answer like the real services do.
const MIB = 1024 * 1024;

export const LIMITS = {
  multipart_threshold: 8 * MIB, part_size: 5 * MIB, min_part_size: 5 * MIB, max_part_size: 5 * 1024 * MIB,
  max_parts: 10_000, max_object_size: 5 * 1024 * MIB,
  categories: { documents: { max_size: 50 * MIB, types: ["application/pdf"], extensions: ["pdf"] } },
};

/** Install fake `fetch` and `XMLHttpRequest` globals; returns the log and a restore function. */
export function installFakes({ storedParts = [] } = {}) {
  const calls = [];
  const puts = [];
  const uploads = new Map();
  const saved = { fetch: globalThis.fetch, XMLHttpRequest: globalThis.XMLHttpRequest };
  const json = (status, body) => new Response(body === null ? null : JSON.stringify(body),
    { status, headers: { "content-type": "application/json" } });
  const expires = () => new Date(Date.now() + 900_000).toISOString();

  globalThis.fetch = async (url, init = {}) => {
    const { pathname } = new URL(url);
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ method: init.method, path: pathname, body, headers: init.headers });
    if (pathname === "/v1/limits") return json(200, LIMITS);
    if (pathname === "/v1/uploads" && init.method === "POST") {
      const id = `F${uploads.size + 1}`;
      uploads.set(id, body);
      const common = { file_id: id, upload_id: id, expires_at: expires() };
      if (!body.multipart) {
        return json(201, { ...common, upload: { method: "PUT", url: `http://storage.test/${id}`,
          headers: { "Content-Type": body.content_type, "Content-Length": String(body.size),
                     "x-amz-checksum-sha256": body.checksums.sha256 } }, multipart: null });
      }
      const count = Math.ceil(body.size / body.part_size);
      const create = body.presign === "s3"
        ? { method: "POST", url: `http://storage.test/staging/u/documents/${id}/x?uploads=`, headers: {} } : null;
      const parts = (body.parts ?? []).map((part) => ({ part_number: part.part_number, size: 0, method: "PUT",
        url: `http://storage.test/${id}?partNumber=${part.part_number}`,
        headers: { "x-amz-checksum-crc64nvme": part.crc64nvme } }));
      return json(201, { ...common, key: `staging/u/documents/${id}/x`, upload: null,
        multipart: { part_size: body.part_size, part_count: count, parts_url: `/v1/uploads/${id}/parts`, create, parts } });
    }
    const parts = /^\/v1\/uploads\/([^/]+)\/parts$/.exec(pathname);
    if (parts && init.method === "POST") {
      return json(200, { expires_at: expires(), parts: [], missing: body.parts.map((part) => ({
        part_number: part.part_number, size: 0, method: "PUT",
        url: `http://storage.test/${parts[1]}?partNumber=${part.part_number}`,
        headers: { "x-amz-checksum-crc64nvme": part.crc64nvme } })) });
    }
    if (parts && init.method === "GET") {
      const declared = uploads.get(parts[1]) ?? { size: 11 * MIB, part_size: 5 * MIB };
      return json(200, { upload_id: parts[1], file_id: parts[1], size: declared.size, part_size: declared.part_size,
        part_count: Math.ceil(declared.size / declared.part_size), parts: storedParts, missing: [],
        missing_parts: [], expires_at: expires() });
    }
    if (/\/complete$/.test(pathname)) return json(200, { file_id: "F1", status: "pending" });
    if (pathname === "/v1/uploads/s3-requests") {
      return json(200, { method: body.method, url: `http://storage.test/${body.key}?signed`, key: body.key,
        headers: body.part_number ? { "x-amz-checksum-crc64nvme": body.crc64nvme ?? "" } : {} });
    }
    return json(404, { type: "urn:upvault:problem:not-found", title: "Not found", status: 404, detail: pathname });
  };

  globalThis.XMLHttpRequest = class {
    constructor() { this.headers = {}; this.upload = {}; }
    open(method, url) { this.method = method; this.url = url; }
    setRequestHeader(name, value) { this.headers[name] = value; }
    getResponseHeader(name) { return name.toLowerCase() === "etag" ? `"etag-${puts.length}"` : null; }
    abort() { this.onabort?.(); }
    send(body) {
      puts.push({ method: this.method, url: this.url, headers: this.headers, size: body.size });
      queueMicrotask(() => { this.upload.onprogress?.({ loaded: body.size }); this.status = 200; this.onload(); });
    }
  };

  const restore = () => Object.assign(globalThis, saved);
  return { calls, puts, restore, apiCalls: () => calls.filter((call) => call.path !== "/v1/limits") };
}

/** A deterministic file of `size` bytes. */
export function fileOf(size, name = "big.pdf") {
  return new File([new Uint8Array(size).fill(7)], name, { type: "application/pdf", lastModified: 1 });
}

export class MemoryStorage {
  constructor() { this.map = new Map(); }
  get length() { return this.map.size; }
  key(i) { return [...this.map.keys()][i] ?? null; }
  getItem(key) { return this.map.get(key) ?? null; }
  setItem(key, value) { this.map.set(key, String(value)); }
  removeItem(key) { this.map.delete(key); }
}
