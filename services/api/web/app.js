// The Shoebox upload page: a client of the public API, like any other team's (no build step, no framework).
//
// First drop -> POST /v1/sessions, POST .../triage {expected}; more drops grow `expected`. Files go straight
// to S3 through presigned URLs (one PUT, or S3 multipart for large ones), CONFIG.filesInFlight at a time. The rows
// follow GET .../triage/{job} polled with If-None-Match (a 304 costs the API one read); when the uploads end
// (and no file came for FINALIZE_GRACE_MS) the page calls finalize. When triage is complete the verdicts
// show side by side; the ticked discards are deleted once the person confirms.
//
// Every string that came from a file or the API is put in the page with textContent, never as HTML.

const MiB = 1024 * 1024;
// Tunable before the page loads (window.shoeboxUploadConfig), e.g. by a test that wants multipart on a small file.
const CONFIG = {
  filesInFlight: 3,
  multipartFromBytes: 64 * MiB, // files this large go up in parts
  partBytes: 16 * MiB, // S3 takes 5 MiB to 5 GiB a part (the last one may be smaller)
  partsInFlight: 2,
  ...(globalThis.shoeboxUploadConfig || {}),
};
const POLL_MS = 1000;
const FINALIZE_GRACE_MS = 1500;
const PUT_ATTEMPTS = 3;
const TOKEN_KEY = "shoebox.token";
const TRIP_KEY = "shoebox.trip";

// The API's name rule (shared/runtime/inbound.py: NAME_CHARACTERS, MAX_NAME) and the CLI's type table
// (shoebox_cli/inputs.py), which the CLI shares by import; a browser cannot, so they are written here too.
const MAX_NAME = 255;
const NAME_BAD = /[^A-Za-z0-9._ ()+-]/g;
const TYPES = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif", webp: "image/webp",
  heic: "image/heic", heif: "image/heif", avif: "image/avif", tif: "image/tiff", tiff: "image/tiff",
  dng: "image/x-adobe-dng", mp4: "video/mp4", m4v: "video/x-m4v", mov: "video/quicktime",
  "3gp": "video/3gpp", mkv: "video/x-matroska", webm: "video/webm", avi: "video/x-msvideo",
  mts: "video/mp2t", m2ts: "video/mp2t", "3g2": "video/3gpp2", cr2: "image/x-canon-cr2",
  cr3: "image/x-canon-cr3", nef: "image/x-nikon-nef", arw: "image/x-sony-arw", raf: "image/x-fuji-raf",
  orf: "image/x-olympus-orf", rw2: "image/x-panasonic-rw2", srw: "image/x-samsung-srw",
};

const $ = (id) => document.getElementById(id);

const state = {
  mode: null, // "local" | "token"
  token: null,
  sub: null,
  session: null,
  job: null,
  context: "",
  byKey: new Map(), // S3 key -> entry
  names: new Set(), // lower-cased upload names taken in this trip
  queue: [],
  active: 0,
  queued: 0, // files sent to the upload queue
  uploaded: 0,
  failed: [], // names the page could not upload (told to finalize)
  finalized: false,
  finalizeTimer: null,
  adding: 0, // drops being added (session, init)
  chain: Promise.resolve(), // drops are handled one after another
  etag: null,
  pollTimer: null,
  results: null,
  thumbs: new Map(), // thumbnail_url -> Promise<blob URL>
  decided: new Set(), // keys whose verdict is shown
};

// ------------------------------------------------------------------------------------------ the API
class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body, { etag } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(`The Shoebox API cannot be reached (${err.message}).`, 0);
  }
  if (r.status === 304) return { status: 304, etag };
  if (r.status === 401) {
    signedOut("Your sign-in has expired or was refused: sign in again.");
    throw new ApiError("not signed in", 401);
  }
  if (!r.ok) throw new ApiError(await problem(r), r.status);
  const text = await r.text();
  return { status: r.status, etag: r.headers.get("ETag"), body: text ? JSON.parse(text) : null };
}

async function problem(r) {
  try {
    const p = await r.json();
    return p.detail || p.title || `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

// ------------------------------------------------------------------------------------------ sign-in
async function startAuth() {
  let config = { mode: "token" };
  try {
    const r = await fetch("/auth/config", { cache: "no-store" });
    if (r.ok) config = await r.json();
  } catch {
    notice("The Shoebox API cannot be reached.");
  }
  state.mode = config.mode;
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved && !expired(saved)) {
    signedIn(saved);
  } else {
    signedOut();
  }
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function expired(token) {
  const c = claims(token);
  return !c || (typeof c.exp === "number" && c.exp * 1000 < Date.now() + 5000);
}

function signedIn(token) {
  state.token = token;
  state.sub = claims(token)?.sub ?? "?";
  sessionStorage.setItem(TOKEN_KEY, token);
  $("who-name").textContent = state.sub;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  resumeTrip();
}

function signedOut(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  $("who").hidden = true;
  $("workspace").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-local").hidden = state.mode !== "local";
  $("sign-in-token").hidden = state.mode === "local";
  showError("sign-in-error", message);
}

async function localSignIn() {
  const name = $("local-name").value.trim() || "local";
  try {
    const r = await fetch("/auth/local/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
      cache: "no-store",
    });
    if (!r.ok) throw new Error(await problem(r));
    signedIn((await r.json()).token);
  } catch (err) {
    showError("sign-in-error", `Could not sign in: ${err.message}`);
  }
}

function tokenSignIn() {
  const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
  if (!claims(token)) return showError("sign-in-error", "That is not a JWT (three base64url parts).");
  if (expired(token)) return showError("sign-in-error", "That token has expired.");
  $("token-input").value = "";
  signedIn(token);
}

// ------------------------------------------------------------------------------------------ files
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

function contentType(file) {
  if (file.type && /^(image|video)\//.test(file.type)) return file.type;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return TYPES[ext] || file.type || "application/octet-stream";
}

// A row of the table. status: queued | uploading | processing | not uploaded, then the API's: processed ...
function addEntry(fields) {
  const entry = { file: null, type: "", key: null, status: "queued", detail: "", row: null, ...fields };
  addRow(entry);
  return entry;
}

function newEntry(file) {
  const type = contentType(file);
  const media = /^(image|video)\//.test(type);
  return addEntry({
    file,
    original: file.name,
    name: uniqueName(file.name),
    type,
    status: media ? "queued" : "not uploaded",
    detail: media ? "" : "Not a photo or video (by its name and type).",
  });
}

function onFiles(files) {
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

function remember(entry, key) {
  entry.key = key;
  state.byKey.set(key, entry);
  entry.row.dataset.key = key;
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

// ------------------------------------------------------------------------------------------ progress
function startPolling() {
  if (!state.pollTimer) poll();
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

async function poll() {
  state.pollTimer = -1; // polling, no timer yet
  let again = true;
  try {
    const r = await api("GET", `/v1/sessions/${state.session}/triage/${state.job}`, undefined, {
      etag: state.etag,
    });
    if (r.status === 200) {
      state.etag = r.etag;
      apply(r.body);
    }
    const s = state.results?.status;
    again = !(state.finalized && (s === "complete" || s === "error"));
  } catch (err) {
    if (err.status === 401) again = false;
    else notice(err.message);
  }
  state.pollTimer = again && state.token ? setTimeout(poll, POLL_MS) : null;
}

function apply(results) {
  state.results = results;
  for (const f of results.files) {
    let entry = state.byKey.get(f.key);
    if (!entry) entry = adopt(f); // a file of this trip from before a reload
    entry.server = f.deleted ? "deleted" : f.status;
    if (f.deleted) {
      setStatus(entry, "deleted", "Deleted after triage.");
      continue;
    }
    const text =
      f.status === "duplicate" && f.duplicate_of
        ? `Same bytes as ${f.duplicate_of.split("/").pop()}: not processed again.`
        : f.status === "processed" ? "" : f.message || "";
    setStatus(entry, f.status, text);
    if (f.thumbnail_url) showThumb(entry.row.querySelector("td.thumb"), f.thumbnail_url);
  }
  renderCounts();
  $("job-status").textContent = results.status;
  showError("job-error", results.status === "error" ? results.error || "Triage failed." : "");
  $("retry").hidden = results.status !== "error";
  if (results.status === "complete") showVerdicts(results);
}

function adopt(f) {
  state.names.add(f.name.toLowerCase());
  const entry = addEntry({ original: f.name, name: f.name, status: f.status });
  remember(entry, f.key);
  return entry;
}

async function retry() {
  try {
    await api("POST", `/v1/sessions/${state.session}/triage/${state.job}/retry`);
    $("retry").hidden = true;
    state.decided.clear();
    startPolling();
  } catch (err) {
    notice(err.message);
  }
}

// ------------------------------------------------------------------------------------------ verdicts
function showVerdicts(results) {
  $("verdicts").hidden = false;
  $("n-keep").textContent = results.keep.length;
  $("n-discard").textContent = results.discard.length;
  for (const [list, verdicts] of [["keep", results.keep], ["discard", results.discard]]) {
    for (const v of verdicts) {
      if (state.decided.has(v.key)) continue;
      state.decided.add(v.key);
      $(list).append(card(v));
    }
  }
  $("delete").disabled = !ticked().length;
}

function card(v) {
  const li = document.createElement("li");
  li.className = `card ${v.verdict}`;
  li.dataset.key = v.key;
  li.dataset.name = v.name;
  const figure = document.createElement("div");
  figure.className = "thumb";
  if (v.thumbnail_url) showThumb(figure, v.thumbnail_url);
  const body = document.createElement("div");
  const title = document.createElement("p");
  title.className = "name";
  if (v.verdict === "discard") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("aria-label", `Delete ${v.name}`);
    box.addEventListener("change", () => ($("delete").disabled = !ticked().length));
    const label = document.createElement("label");
    label.append(box, ` ${v.name}`);
    title.append(label);
  } else {
    title.textContent = v.name;
  }
  const reason = document.createElement("p");
  reason.className = "reason";
  reason.textContent = v.reason;
  const confidence = document.createElement("p");
  confidence.className = "muted";
  confidence.textContent = `confidence ${Math.round(100 * v.confidence)}%`;
  body.append(title, reason, confidence);
  li.append(figure, body);
  return li;
}

function ticked() {
  return [...document.querySelectorAll("#discard li.card:not(.deleted)")].filter(
    (li) => li.querySelector("input[type=checkbox]")?.checked,
  );
}

function askDelete() {
  const n = ticked().length;
  if (!n) return;
  $("confirm-text").textContent =
    `Delete ${n} file${n === 1 ? "" : "s"} from this trip? The uploaded originals are removed from storage; this cannot be undone.`;
  $("confirm").hidden = false;
  $("confirm-yes").focus();
}

async function confirmDelete() {
  const cards = ticked();
  $("confirm").hidden = true;
  $("delete").disabled = true;
  try {
    const r = await api("POST", `/v1/sessions/${state.session}/triage/${state.job}/confirm`, {
      delete_keys: cards.map((li) => li.dataset.key),
    });
    const deleted = new Set(r.body.deleted);
    for (const li of cards) {
      if (!deleted.has(li.dataset.key)) continue;
      li.classList.add("deleted");
      li.querySelector("input[type=checkbox]").disabled = true;
      const entry = state.byKey.get(li.dataset.key);
      if (entry) setStatus(entry, "deleted", "Deleted after triage.");
    }
    const errors = r.body.errors.length ? ` ${r.body.errors.length} could not be deleted: ${r.body.errors.join("; ")}` : "";
    $("deleted").textContent = `Deleted ${deleted.size} file${deleted.size === 1 ? "" : "s"}.${errors}`;
    $("deleted").hidden = false;
  } catch (err) {
    notice(`Could not delete: ${err.message}`);
  }
  $("delete").disabled = !ticked().length;
}

// ------------------------------------------------------------------------------------------ rendering
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

function setStatus(entry, status, detail) {
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

function renderCounts() {
  const r = state.results;
  const expected = r ? r.expected : state.queued;
  $("n-queued").textContent = state.queued;
  $("n-uploaded").textContent = state.uploaded;
  $("n-expected").textContent = expected;
  $("n-processed").textContent = r ? r.processed : 0;
  $("n-rejected").textContent = r ? r.rejected : 0;
  $("n-duplicate").textContent = r ? r.duplicate : 0;
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
function showThumb(container, url) {
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

function notice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function showError(id, message) {
  $(id).textContent = message || "";
  $(id).hidden = !message;
}

// ------------------------------------------------------------------------------------------ the trip
function saveTrip() {
  sessionStorage.setItem(
    TRIP_KEY,
    JSON.stringify({ session: state.session, job: state.job, sub: state.sub, finalized: state.finalized, queued: state.queued }),
  );
}

// After a reload: the same trip's rows come back from the API (files not uploaded yet are lost).
function resumeTrip() {
  if (state.session) {
    if (state.job) startPolling(); // signed in again in the middle of a trip
    return;
  }
  let trip;
  try {
    trip = JSON.parse(sessionStorage.getItem(TRIP_KEY) || "null");
  } catch {
    trip = null;
  }
  if (!trip || trip.sub !== state.sub || !trip.session || !trip.job) return;
  state.session = trip.session;
  state.job = trip.job;
  state.queued = trip.queued || 0;
  state.finalized = Boolean(trip.finalized);
  $("context").disabled = true;
  $("session-label").textContent = `Trip ${state.session.slice(0, 8)}`;
  $("progress").hidden = false;
  if (state.finalized) {
    $("drop").classList.add("closed");
    $("new-trip").hidden = false;
  }
  startPolling();
}

function newTrip() {
  sessionStorage.removeItem(TRIP_KEY);
  window.location.reload();
}

// ------------------------------------------------------------------------------------------ wiring
// A dropped folder is walked (Chromium, Firefox and Safari expose entries); hidden files are skipped.
async function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer.items || [])]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (!entries.length || entries.every((e) => e.isFile)) return [...dataTransfer.files];
  const out = [];
  const walk = async (entry) => {
    if (entry.name.startsWith(".")) return;
    if (entry.isFile) {
      out.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child);
    }
  };
  for (const entry of entries) await walk(entry);
  return out;
}

function wire() {
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    onFiles(await droppedFiles(ev.dataTransfer));
  });
  drop.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") $("picker").click();
  });
  $("picker").addEventListener("change", (ev) => {
    onFiles(ev.target.files);
    ev.target.value = "";
  });
  // a file dropped next to the zone must not make the browser navigate away from the trip
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());
  window.addEventListener("beforeunload", (ev) => {
    if (state.active || state.queue.length) ev.preventDefault(); // uploads would be lost
  });
  $("local-sign-in").addEventListener("click", localSignIn);
  $("local-name").addEventListener("keydown", (ev) => ev.key === "Enter" && localSignIn());
  $("token-sign-in").addEventListener("click", tokenSignIn);
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TRIP_KEY);
    signedOut();
    window.location.reload();
  });
  $("retry").addEventListener("click", retry);
  $("delete").addEventListener("click", askDelete);
  $("confirm-yes").addEventListener("click", confirmDelete);
  $("confirm-no").addEventListener("click", () => ($("confirm").hidden = true));
  $("new-trip").addEventListener("click", newTrip);
}

wire();
startAuth();
