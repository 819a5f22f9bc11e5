// Files: names made plain and unique, types from names, and the uploads: straight to S3 through presigned
// URLs (one PUT, or S3 multipart for large ones), CONFIG.filesInFlight at a time; finalize when they end.

import { api } from "./api.js";
import { BY_EXTENSION, KINDS } from "./media-types.js";
import { startPolling } from "./progress.js";
import { addEntry, notice, remember, renderCounts, setStatus } from "./render.js";
import { $, MiB, state } from "./state.js";
import { saveTrip } from "./trip.js";

// Tunable before the page loads (window.shoeboxUploadConfig), e.g. by a test that wants multipart on a small file.
const CONFIG = {
  filesInFlight: 3,
  multipartFromBytes: 64 * MiB, // files this large go up in parts
  partBytes: 16 * MiB, // S3 takes 5 MiB to 5 GiB a part (the last one may be smaller)
  partsInFlight: 2,
  ...(globalThis.shoeboxUploadConfig || {}),
};
const FINALIZE_GRACE_MS = 1500;
const PUT_ATTEMPTS = 3;

// The API's name rule (shared/runtime/inbound.py: NAME_CHARACTERS, MAX_NAME), written here too: a browser
// cannot import it. The media types Shoebox reads are not: the API generates /static/media-types.js from the
// one list (shared/runtime/media_types.py) that it, the CLI and this page use.
const MAX_NAME = 255;
const NAME_BAD = /[^A-Za-z0-9._ ()+-]/g;

function plainName(name) {
  let n = name.replace(NAME_BAD, "_").trim();
  while (n.includes("..")) n = n.replace("..", "_.");
  if (!n || !/^[A-Za-z0-9]/.test(n)) n = `f${n}`;
  if (n.length > MAX_NAME) {
    const dot = n.lastIndexOf(".");
    const suffix = dot > 0 ? n.slice(dot, dot + 16) : "";
    n = n.slice(0, MAX_NAME - suffix.length) + suffix;
  }
  return n;
}

function uniqueName(name) {
  let n = plainName(name);
  if (state.names.has(n.toLowerCase())) {
    const dot = n.lastIndexOf(".");
    const [stem, suffix] = dot > 0 ? [n.slice(0, dot), n.slice(dot)] : [n, ""];
    for (let i = 2; ; i++) {
      const tail = ` (${i})${suffix}`;
      const candidate = stem.slice(0, MAX_NAME - tail.length) + tail;
      if (!state.names.has(candidate.toLowerCase())) {
        n = candidate;
        break;
      }
    }
  }
  state.names.add(n.toLowerCase());
  return n;
}

// The browser's type when it is one Shoebox reads, else the one the name's extension says, else the browser's.
function contentType(file) {
  if (Object.hasOwn(KINDS, file.type)) return file.type;
  const dot = file.name.lastIndexOf(".");
  const ext = dot > 0 ? file.name.slice(dot).toLowerCase() : "";
  return (Object.hasOwn(BY_EXTENSION, ext) && BY_EXTENSION[ext]) || file.type || "application/octet-stream";
}

function newEntry(file) {
  const type = contentType(file);
  const media = Object.hasOwn(KINDS, type);
  return addEntry({
    file,
    original: file.name,
    name: uniqueName(file.name),
    type,
    status: media ? "queued" : "not uploaded",
    detail: media ? "" : "Not a photo or video type Shoebox reads (by its name and type).",
  });
}

export function onFiles(files) {
  if (!files.length || !state.token) return;
  if (state.finalized) {
    notice("This trip's uploads are finished. Start a new trip to add more files.");
    return;
  }
  clearTimeout(state.finalizeTimer);
  const list = [...files];
  state.adding++; // no finalize while a drop is being added
  state.chain = state.chain
    .then(() => addFiles(list))
    .finally(() => {
      state.adding--;
      maybeFinalize();
    });
}

async function addFiles(files) {
  const entries = files.map(newEntry);
  const uploadable = entries.filter((e) => e.status === "queued");
  renderCounts();
  if (!uploadable.length) return;
  try {
    if (!state.session) {
      state.context = $("context").value.trim() || "A trip";
      const created = await api("POST", "/v1/sessions", { context: state.context });
      state.session = created.body.session_id;
      $("context").disabled = true;
    }
    const expected = state.queued + uploadable.length;
    const job = await api("POST", `/v1/sessions/${state.session}/triage`, { expected });
    state.job = job.body.job_id;
    state.queued = expected;
  } catch (err) {
    for (const e of uploadable) setStatus(e, "not uploaded", `Could not start the trip: ${err.message}`);
    return;
  }
  saveTrip();
  $("session-label").textContent = `Trip ${state.session.slice(0, 8)}`;
  $("progress").hidden = false;
  state.queue.push(...uploadable);
  renderCounts();
  pump();
  startPolling();
}

function pump() {
  while (state.active < CONFIG.filesInFlight && state.queue.length) {
    const entry = state.queue.shift();
    state.active++;
    upload(entry)
      .then(() => {
        state.uploaded++;
        if (!entry.server) setStatus(entry, "processing", "Uploaded; being checked…");
      })
      .catch((err) => {
        state.failed.push(entry.name);
        setStatus(entry, "not uploaded", err.message);
      })
      .finally(() => {
        state.active--;
        renderCounts();
        pump();
        maybeFinalize();
      });
  }
}

async function upload(entry) {
  setStatus(entry, "uploading", "0%");
  if (entry.file.size >= CONFIG.multipartFromBytes) return uploadInParts(entry);
  const ticket = (
    await api("POST", `/v1/sessions/${state.session}/uploads`, {
      name: entry.name,
      content_type: entry.type,
      size: entry.file.size,
    })
  ).body;
  remember(entry, ticket.key);
  await put(ticket.url, ticket.headers, entry.file, (sent) => progress(entry, sent));
}

async function uploadInParts(entry) {
  const ticket = (
    await api("POST", `/v1/sessions/${state.session}/multipart`, {
      name: entry.name,
      content_type: entry.type,
      size: entry.file.size,
      part_size: CONFIG.partBytes,
    })
  ).body;
  remember(entry, ticket.key);
  const upload = `/v1/sessions/${state.session}/multipart/${encodeURIComponent(ticket.upload_id)}`;
  const sent = new Map();
  const done = [];
  const parts = [...ticket.parts];
  try {
    const worker = async () => {
      while (parts.length) {
        const part = parts.shift();
        const start = (part.part_number - 1) * ticket.part_size;
        const blob = entry.file.slice(start, Math.min(entry.file.size, start + ticket.part_size));
        const etag = await put(part.url, {}, blob, (n) => {
          sent.set(part.part_number, n);
          progress(entry, [...sent.values()].reduce((a, b) => a + b, 0));
        });
        if (!etag) throw new Error("storage did not say the part's ETag (CORS must expose it)");
        done.push({ part_number: part.part_number, etag });
      }
    };
    await Promise.all(Array.from({ length: CONFIG.partsInFlight }, worker));
    done.sort((a, b) => a.part_number - b.part_number);
    await api("POST", `${upload}/complete`, {
      key: ticket.key,
      parts: done,
    });
  } catch (err) {
    const q = new URLSearchParams({ key: ticket.key });
    api("DELETE", `${upload}?${q}`).catch(() => {}); // the bucket's lifecycle rule is the safety net
    throw err;
  }
}

// One PUT to a presigned URL, retried on network errors and 5xx; resolves to the answer's ETag.
async function put(url, headers, blob, onProgress) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await putOnce(url, headers, blob, onProgress);
    } catch (err) {
      if (!err.retry || attempt >= PUT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }
}

function putOnce(url, headers, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    x.upload.onprogress = (ev) => onProgress(ev.loaded);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) return resolve(x.getResponseHeader("ETag"));
      const err = new Error(`Storage refused the upload (HTTP ${x.status}).`);
      err.retry = x.status >= 500;
      reject(err);
    };
    x.onerror = () => {
      const err = new Error("The upload was cut off (network error).");
      err.retry = true;
      reject(err);
    };
    x.send(blob);
  });
}

function progress(entry, sent) {
  if (entry.status === "uploading") {
    const pct = entry.file.size ? Math.min(100, Math.floor((100 * sent) / entry.file.size)) : 100;
    setStatus(entry, "uploading", `${pct}%`);
  }
}

function maybeFinalize() {
  clearTimeout(state.finalizeTimer);
  if (state.finalized || !state.job || state.active || state.queue.length || state.adding) return;
  state.finalizeTimer = setTimeout(finalize, FINALIZE_GRACE_MS);
}

async function finalize() {
  if (state.finalized || state.active || state.queue.length || state.adding) return;
  state.finalized = true;
  try {
    await api("POST", `/v1/sessions/${state.session}/triage/${state.job}/finalize`, {
      uploaded: state.uploaded,
      failed: state.failed,
    });
    saveTrip();
    $("drop").classList.add("closed");
    $("new-trip").hidden = false;
  } catch (err) {
    state.finalized = false;
    notice(`Could not finish the uploads: ${err.message}`);
  }
}
