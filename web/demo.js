// The demo page: upload with the Upvault client, then list, download and delete own files.
// API URL and token come from the inputs, prefilled from ?api=...&token=... (the token then
// moves to sessionStorage and leaves the address bar, so it does not linger in history).
import { createClient, UpvaultError } from "./upvault.js";

const $ = (id) => document.getElementById(id);
const apiInput = $("api-url");
const tokenInput = $("token");
const message = $("message");
const progress = $("progress");
const tbody = $("files");

const params = new URLSearchParams(location.search);
apiInput.value = params.get("api") || sessionStorage.getItem("upvault-demo-api") || "";
tokenInput.value = params.get("token") || sessionStorage.getItem("upvault-demo-token") || "";
if (params.has("token")) {
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
}

function client() {
  sessionStorage.setItem("upvault-demo-api", apiInput.value.trim());
  sessionStorage.setItem("upvault-demo-token", tokenInput.value.trim());
  return createClient({ apiUrl: apiInput.value.trim(), getToken: () => tokenInput.value.trim() });
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

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) { say("Choose a file first.", true); return; }
  const button = $("upload");
  button.disabled = true;
  progress.value = 0;
  try {
    const upvault = client();
    const { file_id } = await upvault.upload(file, {
      category: $("category").value,
      onProgress: ({ loaded, total, phase }) => {
        progress.value = total ? loaded / total : 1;
        say(phase === "hashing" ? `Checking ${file.name}…` : `Uploading ${file.name}: ${formatSize(loaded)} of ${formatSize(total)}`);
      },
    });
    say(`Uploaded ${file.name}; validating…`);
    await refresh();
    const result = await upvault.waitUntilProcessed(file_id);
    say(result.status === "ready" ? `${result.name} is ready.` : `${result.name} was rejected: ${result.reason}`,
        result.status !== "ready");
  } catch (error) {
    say(describe(error), true);
  } finally {
    button.disabled = false;
    await refresh().catch(() => {});
  }
});

$("connection").addEventListener("submit", (event) => {
  event.preventDefault();
  refresh().then(() => say("Connected.")).catch((error) => say(describe(error), true));
});

$("refresh").addEventListener("click", () => refresh().catch((error) => say(describe(error), true)));

async function refresh() {
  if (!apiInput.value.trim() || !tokenInput.value.trim()) return;
  const upvault = client();
  const { items } = await upvault.list({ limit: 100 });
  // A listing is one storage LIST: it has no reason (nor the original name). Fetch the
  // details of rejected files so the page can say why.
  const detailed = await Promise.all(items.map((item) => (
    item.status === "rejected" && !item.reason ? upvault.get(item.file_id).catch(() => item) : item)));
  tbody.replaceChildren(...(detailed.length ? detailed.map(row) : [emptyRow()]));
}

function emptyRow() {
  const tr = document.createElement("tr");
  const td = document.createElement("td");
  td.colSpan = 5;
  td.textContent = "No files yet.";
  tr.append(td);
  return tr;
}

function row(file) {
  const tr = document.createElement("tr");
  tr.dataset.fileId = file.file_id;
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; tr.append(td); return td; };
  cell(file.name);
  cell(file.category);
  cell(formatSize(file.size));
  const status = cell(file.status);
  status.className = `status status-${file.status}`;
  if (file.reason) {
    const reason = document.createElement("div");
    reason.className = "reason";
    reason.textContent = file.reason;
    status.append(reason);
  }
  const actions = cell("");
  if (file.status === "ready") {
    actions.append(button("Download", `Download ${file.name}`, async () => {
      // A presigned GET with Content-Disposition: attachment, so the browser saves it.
      location.assign(await client().downloadUrl(file.file_id));
    }));
  }
  actions.append(button("Delete", `Delete ${file.name}`, async () => {
    await client().remove(file.file_id);
    say(`Deleted ${file.name}.`);
    await refresh();
  }));
  return tr;
}

function button(text, label, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", () => action().catch((error) => say(describe(error), true)));
  return element;
}

refresh().catch((error) => say(describe(error), true));
