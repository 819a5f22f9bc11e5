// Rendering: the table's rows (one entry per file), the counters, thumbnails and messages. Every string
// that came from a file or the API is put in the page with textContent, never as HTML.

import { $, MiB, state } from "./state.js";

// A row of the table. status: queued | uploading | processing | not uploaded, then the API's: processed ...
export function addEntry(fields) {
  const entry = { file: null, type: "", key: null, status: "queued", detail: "", row: null, ...fields };
  addRow(entry);
  return entry;
}

export function remember(entry, key) {
  entry.key = key;
  state.byKey.set(key, entry);
  entry.row.dataset.key = key;
}

function addRow(entry) {
  const tr = document.createElement("tr");
  tr.dataset.name = entry.name;
  const cells = ["thumb", "name", "size", "status", "detail"].map((cls) => {
    const td = document.createElement("td");
    td.className = cls;
    tr.append(td);
    return td;
  });
  cells[1].textContent = entry.name;
  if (entry.original !== entry.name) cells[1].title = `dropped as ${entry.original}`;
  cells[2].textContent = entry.file ? size(entry.file.size) : "";
  entry.row = tr;
  $("rows").append(tr);
  $("files").hidden = false;
  setStatus(entry, entry.status, entry.detail);
}

export function setStatus(entry, status, detail) {
  entry.status = status;
  entry.detail = detail ?? "";
  const tr = entry.row;
  tr.dataset.status = status;
  const badge = document.createElement("span");
  badge.className = `badge ${status.replace(/\s+/g, "-")}`;
  badge.textContent = status;
  tr.querySelector("td.status").replaceChildren(badge);
  tr.querySelector("td.detail").textContent = entry.detail;
}

export function renderCounts() {
  const r = state.results;
  const expected = r ? r.expected : state.queued;
  $("n-queued").textContent = state.queued;
  $("n-uploaded").textContent = state.uploaded;
  $("n-expected").textContent = expected;
  $("n-processed").textContent = r ? r.processed : 0;
  $("n-rejected").textContent = r ? r.rejected : 0;
  $("n-duplicate").textContent = r ? r.duplicate : 0;
  $("n-pending").textContent = r ? r.pending || 0 : 0; // uploaded, not checked yet
  const decided = r ? r.processed + r.rejected + r.duplicate : 0;
  $("n-checked").textContent = decided;
  $("bar").max = Math.max(1, expected);
  $("bar").value = decided;
}

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / MiB).toFixed(1)} MB`;
}

// Thumbnails need the bearer token, so they are fetched and shown from blob URLs (once per URL).
export function showThumb(container, url) {
  if (!container || container.dataset.src === url) return;
  container.dataset.src = url;
  if (!state.thumbs.has(url)) {
    state.thumbs.set(
      url,
      fetch(url, { headers: { Authorization: `Bearer ${state.token}` } }).then((r) => {
        if (!r.ok) throw new Error(`thumbnail: HTTP ${r.status}`);
        return r.blob().then((b) => URL.createObjectURL(b));
      }),
    );
  }
  state.thumbs.get(url).then(
    (src) => {
      const img = document.createElement("img");
      img.alt = "";
      img.src = src;
      container.replaceChildren(img);
    },
    () => {
      state.thumbs.delete(url);
      delete container.dataset.src; // the next poll tries again
    },
  );
}

export function notice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

export function showError(id, message) {
  $(id).textContent = message || "";
  $(id).hidden = !message;
}
