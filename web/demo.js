// The demo page: drop several files, watch each one hash, upload and get validated, pause,
// resume or cancel it; then list, download, delete and restore your files.
// The API URL and token come from the inputs, prefilled from ?api=... and #token=... (or
// ?token=...). The token then moves to sessionStorage and leaves the address bar. Served by
// the API itself (make dev), the API URL defaults to the page's origin.
import { createClient, UpvaultError } from "./dist/upvault.js";

const $ = (id) => document.getElementById(id);
const apiInput = $("api-url");
const tokenInput = $("token");
const message = $("message");

const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
// Served by the API itself (make dev), the page is at "/" of the API's origin.
apiInput.value = params.get("api") || sessionStorage.getItem("upvault-demo-api")
  || (location.pathname === "/" ? location.origin : "");
tokenInput.value = fragment.get("token") || params.get("token") || sessionStorage.getItem("upvault-demo-token") || "";
if (params.has("token") || fragment.has("token")) {
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
}

let connected = null;
function client() {
  const apiUrl = apiInput.value.trim();
  const token = tokenInput.value.trim();
  sessionStorage.setItem("upvault-demo-api", apiUrl);
  sessionStorage.setItem("upvault-demo-token", token);
  if (!connected || connected.apiUrl !== apiUrl) connected = { apiUrl, upvault: createClient({ apiUrl, getToken: () => tokenInput.value.trim() }) };
  return connected.upvault;
}

function say(text, isError = false) {
  message.textContent = text;
  message.classList.toggle("error", isError);
}

function describe(error) {
  if (error instanceof UpvaultError) {
    const fields = (error.problem.errors || []).map((item) => Object.values(item).join(": ")).join("; ");
    return `${error.problem.title}: ${error.problem.detail}${fields ? ` (${fields})` : ""}`;
  }
  return error?.name === "AbortError" ? "Upload aborted." : String(error?.message || error);
}

function formatSize(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function element(tag, { text, className, attrs = {} } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function button(text, label, action) {
  const node = element("button", { text, attrs: { type: "button", "aria-label": label } });
  node.addEventListener("click", () => Promise.resolve(action()).catch((error) => say(describe(error), true)));
  return node;
}

// -- limits: checked before uploading ------------------------------------------------------
let limits = null;
async function loadLimits() {
  limits = await client().limits();
  const categories = Object.entries(limits.categories)
    .map(([name, rule]) => `${name} up to ${formatSize(rule.max_size)}`).join(", ");
  $("limits").textContent = `Allowed: ${categories}. Above ${formatSize(limits.multipart_threshold)} files go in ` +
    `${formatSize(limits.part_size)} parts.`;
}

function categoryFor(file) {
  const chosen = $("category").value;
  if (chosen !== "auto") return chosen;
  if (file.type.startsWith("audio/")) return "audio";
  if (file.type.startsWith("image/") && limits?.categories.images?.types.includes(file.type)) return "images";
  return "documents";
}

/** Why the API would refuse this file, from the published limits; `null` when it fits. */
function refusal(file, category) {
  const rule = limits?.categories[category];
  if (!rule) return null;
  if (file.size > rule.max_size) return `larger than ${formatSize(rule.max_size)}, the limit for ${category}`;
  if (file.type && !rule.types.includes(file.type)) return `${file.type} is not allowed in ${category}`;
  // Like the API: a name whose extension is one we know must fit the category; others pass.
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  const known = new Set(Object.values(limits.categories).flatMap((item) => item.extensions ?? []));
  if (known.has(extension) && !rule.extensions.includes(extension)) {
    return `.${extension} is not an allowed extension in ${category}`;
  }
  return null;
}

// -- the upload queue ----------------------------------------------------------------------
const uploads = $("uploads");
let rows = 0;

function addFiles(files) {
  if (!files.length) return;
  if (!rows) uploads.replaceChildren();
  for (const file of files) new UploadRow(file).start();
}

class UploadRow {
  constructor(file) {
    this.file = file;
    this.category = categoryFor(file);
    this.ids = null;
    this.controller = null;
    this.progress = element("progress", { attrs: { max: "1", value: "0", "aria-label": `Progress of ${file.name}` } });
    this.status = element("td", { className: "status" });
    this.actions = element("td", { className: "actions" });
    this.tr = element("tr", {}, element("td", { text: `${file.name} (${formatSize(file.size)}, ${this.category})` }),
      element("td", {}, this.progress), this.status, this.actions);
    this.tr.dataset.name = file.name;
    uploads.append(this.tr);
    rows++;
  }

  setStatus(state, text, reason) {
    this.status.className = `status status-${state}`;
    this.status.replaceChildren(text);
    if (reason) this.status.append(element("div", { className: "reason", text: reason }));
  }

  setActions(...buttons) { this.actions.replaceChildren(...buttons); }

  async start() {
    const why = refusal(this.file, this.category);
    if (why) {
      this.setStatus("rejected", "rejected", `${why} (checked before uploading)`);
      return;
    }
    this.controller = new AbortController();
    const name = this.file.name;
    this.setActions(button("Pause", `Pause ${name}`, () => this.pause()),
      button("Cancel", `Cancel ${name}`, () => this.cancel()));
    this.setStatus("pending", "hashing");
    try {
      const upvault = client();
      const result = await upvault.upload(this.file, {
        category: this.category, signal: this.controller.signal,
        onDeclared: (ids) => { this.ids = ids; },
        onProgress: ({ loaded, total, phase }) => {
          this.progress.value = total ? loaded / total : 1;
          this.setStatus("pending", phase === "uploading" ? `uploading ${Math.floor(100 * loaded / (total || 1))}%` : phase);
        },
      });
      this.setActions();
      this.setStatus("validating", "pending", "validating…");
      refresh().catch(() => {});
      const processed = await upvault.waitUntilProcessed(result.file_id);
      this.setStatus(processed.status, processed.status, processed.reason || undefined);
      say(processed.status === "ready" ? `${processed.name} is ready.` : `${processed.name} was rejected: ${processed.reason}`,
        processed.status !== "ready");
      await refresh();
    } catch (error) {
      if (this.controller.signal.aborted) return;  // paused or cancelled: the buttons say what is next
      this.setStatus("failed", "failed", describe(error));
      this.setActions(button("Retry", `Retry ${this.file.name}`, () => this.start()));
    }
  }

  pause() {
    this.controller?.abort(new DOMException("paused", "AbortError"));
    // A multipart upload continues where it stopped; a single PUT starts over (it is small).
    this.setStatus("pending", "paused", this.ids?.multipart ? "stored parts are kept" : undefined);
    this.setActions(button("Resume", `Resume ${this.file.name}`, () => this.start()),
      button("Cancel", `Cancel ${this.file.name}`, () => this.cancel()));
  }

  async cancel() {
    this.controller?.abort(new DOMException("cancelled", "AbortError"));
    this.setActions();
    this.setStatus("failed", "cancelled");
    if (this.ids?.multipart) await client().abortUpload(this.ids.upload_id).catch(() => {});
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  addFiles([...(event.dataTransfer?.files || [])]);
});
$("file").addEventListener("change", (event) => {
  addFiles([...event.target.files]);
  event.target.value = "";
});

// -- the file list ---------------------------------------------------------------------------
const tbody = $("files");
const deleted = new Map();

async function refresh() {
  if (!apiInput.value.trim() || !tokenInput.value.trim()) return;
  const upvault = client();
  const { items } = await upvault.list({ limit: 100 });
  // A listing is one storage LIST: it has no reason (nor the original name). Fetch the
  // details of rejected files so the page can say why.
  const detailed = await Promise.all(items.map((item) => (
    item.status === "rejected" && !item.reason ? upvault.get(item.file_id).catch(() => item) : item)));
  tbody.replaceChildren(...(detailed.length ? detailed.map(fileRow)
    : [element("tr", {}, element("td", { text: "No files yet.", attrs: { colspan: "5" } }))]));
}

function fileRow(file) {
  const tr = element("tr");
  tr.dataset.fileId = file.file_id;
  const status = element("td", { text: file.status, className: `status status-${file.status}` });
  if (file.reason) status.append(element("div", { className: "reason", text: file.reason }));
  const actions = element("td", { className: "actions" });
  if (file.status === "ready") {
    actions.append(button("Download", `Download ${file.name}`, async () => {
      // A presigned GET with Content-Disposition: attachment, so the browser saves it.
      location.assign(await client().downloadUrl(file.file_id));
    }));
  }
  actions.append(button("Delete", `Delete ${file.name}`, async () => {
    await client().remove(file.file_id);
    deleted.set(file.file_id, file);
    renderDeleted();
    say(`Deleted ${file.name}.`);
    await refresh();
  }));
  tr.append(element("td", { text: file.name }), element("td", { text: file.category }),
    element("td", { text: formatSize(file.size) }), status, actions);
  return tr;
}

function renderDeleted() {
  const body = $("deleted");
  if (!deleted.size) {
    body.replaceChildren(element("tr", {}, element("td", { text: "Nothing deleted in this session." })));
    return;
  }
  body.replaceChildren(...[...deleted.values()].map((file) => element("tr", {},
    element("td", { text: file.name }),
    element("td", { className: "actions" }, button("Restore", `Restore ${file.name}`, async () => {
      await client().restore(file.file_id);
      deleted.delete(file.file_id);
      renderDeleted();
      say(`Restored ${file.name}.`);
      await refresh();
    })))));
}

$("connection").addEventListener("submit", (event) => {
  event.preventDefault();
  Promise.all([loadLimits(), refresh()]).then(() => say("Connected.")).catch((error) => say(describe(error), true));
});
$("refresh").addEventListener("click", () => refresh().catch((error) => say(describe(error), true)));

if (apiInput.value.trim()) {
  loadLimits().catch((error) => say(describe(error), true));
  refresh().catch((error) => say(describe(error), true));
}
