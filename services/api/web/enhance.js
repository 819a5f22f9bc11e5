// Enhancement, the step after the picks: "Enhance the picks" -> POST .../enhancements {selection_job_id} (the
// saved picks). The page then follows the job: it listens to the session's event stream (GET .../events/stream,
// read with fetch because an EventSource cannot send the bearer token) and, on each enhancement event of
// this job, shows the item's phase at once and reads the job again with If-None-Match (one read at a time,
// coalesced: a burst of events costs one or two GETs, never one each). A slow ETag poll runs beside it as
// a safety net (a stream that ends or a proxy that buffers), and takes over if the stream cannot be had.
// Following stops when the job has ended and no feedback pass is pending.
//
// Each pick gets a card (enhanced.js): before/after thumbnails (a video's: its clips, played from presigned
// URLs the API hands out), the phase (a video's render with how far it is), the edits, the error; "Cancel"
// cancels the job; an enhanced item has a feedback box and a download; "Download all" fetches the zip.
// Downloads need the bearer token too, so they are fetched and handed to the browser as blob URLs.

import { api, problem } from "./api.js";
import { renderEnhancement } from "./enhanced.js";
import { notice, showError } from "./render.js";
import { $, state } from "./state.js";
import { saveTrip } from "./trip.js";

const REREAD_GAP_MS = 300; // the least time between two reads the stream's events ask for
const SAFETY_POLL_MS = 5000; // the ETag poll beside the stream
const FALLBACK_POLL_MS = 2000; // the ETag poll without a stream
const RECONNECT_MS = 1000;
// the events that change an enhancement job's answer
const EVENTS = /^shoebox\.((photo|video)\.enhance|enhancement\.)/;
const STATUS_TEXT = {
  processing: "working",
  done: "done",
  partial: "done, some items failed",
  failed: "failed",
  cancelled: "cancelled",
};

// The enhancement on this page.
const enh = {
  answer: null,
  etag: null,
  generation: 0, // a new job makes older reads and streams stale
  following: false,
  reading: null, // the read in flight (a Promise), if any
  again: false, // an event came during that read: read once more after it
  lastRead: 0,
  timer: null, // the safety / fallback poll
  stream: null, // AbortController of the event stream
  streamOk: true,
  lastEventId: null,
  from: null, // where the stream starts when it has no Last-Event-ID: a version from before the job
  phases: new Map(), // key -> [{phase, summary, percent}] seen on the stream (the API keeps only the latest)
  pending: new Map(), // key -> the feedback revision the page is waiting for
};

export function wireEnhancement() {
  $("enh-start").addEventListener("click", start);
  $("enh-cancel").addEventListener("click", cancel);
  $("enh-zip").addEventListener("click", downloadAll);
}

// Shown once the selection is complete with picks; an enhancement started before a reload is followed again.
export function showEnhanceStep(picks) {
  $("enhance").hidden = false;
  $("enh-start").disabled = !picks || Boolean(enh.answer && enh.answer.status === "processing");
  if (state.enhancement && !enh.answer && !enh.following) follow();
}

async function start() {
  $("enh-start").disabled = true;
  // the triage's last version is before the job: the stream starts there, so no phase of it is missed
  const from = state.version ?? 0;
  showError("enh-error", "");
  try {
    const r = await api("POST", `/v1/sessions/${state.session}/enhancements`, {
      selection_job_id: state.selection,
    });
    state.enhancement = r.body.job_id;
    saveTrip();
    enh.answer = null;
    enh.phases = new Map();
    enh.pending = new Map();
    enh.lastEventId = null;
    $("enh-items").replaceChildren();
    setStatus("processing", r.body.total, 0);
    follow(from);
  } catch (err) {
    $("enh-start").disabled = false;
    if (err.status !== 401) showError("enh-error", err.message);
  }
}

function jobPath() {
  return `/v1/sessions/${state.session}/enhancements/${state.enhancement}`;
}

// Follow the job: a read now, the event stream (from `from`, else the answer's version), the safety poll.
function follow(from = null) {
  stopFollowing();
  enh.from = from;
  enh.generation++;
  enh.following = true;
  enh.etag = null;
  enh.streamOk = true;
  const generation = enh.generation;
  read(generation).then(() => {
    if (generation === enh.generation && enh.following) openStream(generation);
  });
  schedulePoll(generation);
}

function stopFollowing() {
  enh.following = false;
  clearTimeout(enh.timer);
  enh.timer = null;
  enh.stream?.abort();
  enh.stream = null;
}

function schedulePoll(generation) {
  clearTimeout(enh.timer);
  const ms = enh.streamOk ? SAFETY_POLL_MS : FALLBACK_POLL_MS;
  enh.timer = setTimeout(async () => {
    if (generation !== enh.generation || !enh.following) return;
    await read(generation);
    if (generation === enh.generation && enh.following) schedulePoll(generation);
  }, ms);
}

// One GET of the job with If-None-Match; concurrent asks are folded into the read in flight plus one more.
async function read(generation) {
  if (enh.reading) {
    enh.again = true;
    return enh.reading;
  }
  const gap = enh.lastRead + REREAD_GAP_MS - Date.now();
  enh.reading = (async () => {
    if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
    do {
      enh.again = false;
      enh.lastRead = Date.now();
      try {
        const r = await api("GET", jobPath(), undefined, { etag: enh.etag });
        if (generation !== enh.generation) return;
        if (r.status === 200) {
          enh.etag = r.etag;
          show(r.body);
        }
      } catch (err) {
        if (generation !== enh.generation) return;
        if (err.status === 401 || err.status === 404) stopFollowing();
        if (err.status !== 401) notice(err.message);
        return;
      }
    } while (enh.again && enh.following);
  })();
  try {
    await enh.reading;
  } finally {
    enh.reading = null;
  }
}

// The session's event stream, read with fetch (the token goes in the header), parsed as SSE.
async function openStream(generation) {
  const controller = new AbortController();
  enh.stream = controller;
  const after = enh.lastEventId ?? enh.from ?? enh.answer?.version ?? 0;
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
  if (enh.lastEventId !== null) headers["Last-Event-ID"] = String(enh.lastEventId);
  let ended = "closed";
  try {
    const r = await fetch(`/v1/sessions/${state.session}/events/stream?after=${after}`, {
      headers,
      cache: "no-store",
      signal: controller.signal,
    });
    if (!r.ok || !r.body) throw new Error(await problem(r));
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        onMessage(parseMessage(buffer.slice(0, cut)), generation);
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (err) {
    ended = err.name === "AbortError" ? "aborted" : "failed";
  }
  if (generation !== enh.generation || !enh.following || ended === "aborted") return;
  if (ended === "failed") {
    enh.streamOk = false; // the poll takes over, more often
    schedulePoll(generation);
    return;
  }
  setTimeout(() => generation === enh.generation && enh.following && openStream(generation), RECONNECT_MS);
}

function parseMessage(text) {
  const message = { id: null, event: null, data: "" };
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "id") message.id = value;
    else if (field === "event") message.event = value;
    else if (field === "data") message.data += (message.data ? "\n" : "") + value;
  }
  return message;
}

function onMessage(message, generation) {
  if (generation !== enh.generation) return;
  if (message.id !== null && /^[0-9]+$/.test(message.id)) enh.lastEventId = Number(message.id);
  if (!message.event || !EVENTS.test(message.event)) return;
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  if (event?.data?.job_id !== state.enhancement) return;
  if (/^shoebox\.(photo|video)\.enhance\.phase\./.test(message.event)) {
    const { key, phase, summary } = event.data;
    const percent = typeof event.data.percent === "number" ? event.data.percent : null;
    const seen = enh.phases.get(key) || [];
    // a video's render reports its progress as the same phase again: one line, at its latest figure
    if (percent !== null && seen.length && seen[seen.length - 1].phase === phase) seen[seen.length - 1] = { phase, summary, percent };
    else seen.push({ phase, summary, percent });
    enh.phases.set(key, seen);
    if (enh.answer) render(); // the phase shows now; the read below brings the rest
  }
  read(generation);
}

function setStatus(status, total, ended) {
  $("enhance").dataset.status = status;
  const text = STATUS_TEXT[status] || status;
  $("enh-status").textContent = status === "processing" ? `${text}: ${ended} of ${total} ended` : text;
  $("enh-cancel").hidden = status !== "processing";
  $("enh-start").disabled = status === "processing";
}

// An answer of the API.
function show(answer) {
  enh.answer = answer;
  const ended = answer.done + answer.failed + answer.cancelled + answer.skipped;
  setStatus(answer.status, answer.total, ended);
  $("enh-cancel").disabled = answer.cancel_requested;
  $("enh-zip").disabled = !answer.items.some((i) => i.enhanced_url);
  for (const item of answer.items) {
    const waiting = enh.pending.get(item.key);
    if (waiting && item.feedback_completed >= waiting) enh.pending.delete(item.key);
  }
  render();
  const working = answer.items.some((i) => i.feedback_completed < Math.max(i.feedback_requested, enh.pending.get(i.key) || 0));
  if (answer.status !== "processing" && !working) stopFollowing();
}

function render() {
  renderEnhancement(enh.answer, { phases: enh.phases, pending: enh.pending, sendFeedback, download, media });
  $("enh-results").hidden = false;
}

async function cancel() {
  $("enh-cancel").disabled = true;
  try {
    const r = await api("DELETE", jobPath());
    enh.etag = null;
    show(r.body);
    if (!enh.following && r.body.status === "processing") follow();
  } catch (err) {
    $("enh-cancel").disabled = false;
    if (err.status !== 401) showError("enh-error", err.message);
  }
}

// POST the sentence; the card says "working…" until the item's feedback_completed reaches the revision.
async function sendFeedback(item, text, done) {
  const sentence = text.trim();
  if (!sentence) return done("Say what to change, e.g. “brighter” or “less contrast”.");
  try {
    const r = await api("POST", `${jobPath()}/items/${encodeURIComponent(item.name)}/feedback`, { feedback: sentence });
    enh.pending.set(item.key, r.body.revision);
    done("");
    render();
    if (!enh.following) follow();
    else read(enh.generation);
  } catch (err) {
    if (err.status !== 401) done(err.message);
  }
}

// A file the API serves to the bearer of the token: fetched, then handed to the browser as a download.
async function download(url, fallbackName, button) {
  button.disabled = true;
  try {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` }, cache: "no-store" });
    if (!r.ok) throw new Error(await problem(r));
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || fallbackName;
    const href = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000); // the browser has taken it by then
  } catch (err) {
    notice(`Download failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// A video item's clips as presigned URLs of storage (a <video> cannot send the token).
async function media(item) {
  const r = await api("GET", `${jobPath()}/items/${encodeURIComponent(item.name)}/media`);
  return r.body;
}

function downloadAll() {
  download(`${jobPath()}/archive`, `${state.enhancement}-enhanced.zip`, $("enh-zip"));
}
