// Selection, the step after triage: the person asks for a count (a number or "all") with the trip's context
// -> POST .../selections; GET .../selections/{job} is polled with If-None-Match until the job ends; then the
// picks show in rank order grouped by scene, and every other item with why (picks.js). The person moves
// items between the two and reorders the picks; "Save picks" sends PUT .../picks with the revision the
// lists were read at (409: someone saved meanwhile, so the page reads them again; 400: the API's message).

import { api } from "./api.js";
import { showEnhanceStep } from "./enhance.js";
import { renderSelection } from "./picks.js";
import { notice, showError } from "./render.js";
import { $, state } from "./state.js";
import { saveTrip } from "./trip.js";

const POLL_MS = 1000;
const STATUS_TEXT = {
  pending: "waiting for the files and triage",
  analyzing: "analysing",
  complete: "complete",
  error: "failed",
};

// The selection on this page: the last answer, and the lists as the person is editing them.
const sel = {
  etag: null,
  timer: null,
  generation: 0, // a new job (or a save) makes the answers of older polls stale
  answer: null,
  picks: [], // keys, in rank order
  excluded: [], // keys
  items: new Map(), // key -> the answer's pick or exclusion
  moved: new Set(), // keys moved since the last answer (not saved yet)
};

export function wireSelection() {
  $("sel-ask").addEventListener("click", ask);
  $("sel-count").addEventListener("keydown", (ev) => ev.key === "Enter" && ask());
  $("sel-save").addEventListener("click", save);
}

// Shown once triage is complete; a selection asked for before a reload is polled again.
export function showSelectionStep() {
  if (!$("selection").hidden) return;
  $("selection").hidden = false;
  if (state.context) $("sel-context").value = state.context;
  else prefillContext();
  if (state.selection) startSelectionPolling();
}

// After a reload the page has no context of its own: the session's is the default the API uses too.
async function prefillContext() {
  try {
    const r = await api("GET", `/v1/sessions/${state.session}`);
    if (!$("sel-context").value) $("sel-context").value = r.body.context;
  } catch {
    // the field stays empty: the API then uses the session's context itself
  }
}

// "12", " 3 ", "all" -> 12, 3, "all"; anything else -> null
export function parseCount(text) {
  const t = text.trim().toLowerCase();
  if (t === "all") return "all";
  return /^[0-9]{1,4}$/.test(t) && Number(t) >= 1 ? Number(t) : null;
}

async function ask() {
  const count = parseCount($("sel-count").value);
  if (count === null) {
    showError("sel-error", 'How many: a whole number from 1, or "all".');
    $("sel-count").focus();
    return;
  }
  showError("sel-error", "");
  $("sel-ask").disabled = true;
  const body = { count };
  const context = $("sel-context").value.trim();
  if (context) body.context = context;
  try {
    const r = await api("POST", `/v1/sessions/${state.session}/selections`, body);
    state.selection = r.body.job_id;
    saveTrip();
    sel.answer = null;
    $("sel-results").hidden = true;
    $("sel-saved").textContent = "";
    setStatus("pending");
    startSelectionPolling();
  } catch (err) {
    $("sel-ask").disabled = false;
    if (err.status !== 401) showError("sel-error", err.message);
  }
}

function startSelectionPolling() {
  clearTimeout(sel.timer);
  sel.generation++;
  sel.etag = null;
  poll(sel.generation);
}

async function poll(generation) {
  let again = true;
  try {
    const r = await api("GET", selectionPath(), undefined, { etag: sel.etag });
    if (generation !== sel.generation) return; // another job was asked for, or the picks were saved
    if (r.status === 200) {
      sel.etag = r.etag;
      show(r.body);
    }
    again = !["complete", "error"].includes(sel.answer?.status);
  } catch (err) {
    if (generation !== sel.generation) return;
    again = err.status !== 401 && err.status !== 404;
    if (err.status !== 401) notice(err.message);
  }
  if (again && state.token) sel.timer = setTimeout(() => poll(generation), POLL_MS);
}

function selectionPath() {
  return `/v1/sessions/${state.session}/selections/${state.selection}`;
}

function setStatus(status) {
  $("selection").dataset.status = status;
  $("sel-status").textContent = STATUS_TEXT[status] || status;
  $("sel-ask").disabled = status === "pending" || status === "analyzing";
}

// An answer of the API: the lists as it has them (any unsaved move is dropped).
function show(answer) {
  sel.answer = answer;
  setStatus(answer.status);
  showError("sel-error", answer.status === "error" ? `${answer.error || "The selection failed."} (${answer.code || "error"})` : "");
  if (answer.status !== "complete") return;
  sel.picks = answer.selected.map((p) => p.key);
  sel.excluded = answer.excluded.map((x) => x.key);
  sel.items = new Map([...answer.selected, ...answer.excluded].map((item) => [item.key, item]));
  sel.moved = new Set();
  render();
  showEnhanceStep(sel.picks.length);
}

function render(focus) {
  renderSelection(sel, move, focus);
  $("sel-save").disabled = !sel.moved.size;
}

// A button on a card: "up" / "down" (a pick's rank), "out" (a pick to the exclusions), "in" (to the picks).
function move(key, action) {
  const i = sel.picks.indexOf(key);
  if (action === "up" && i > 0) {
    [sel.picks[i - 1], sel.picks[i]] = [sel.picks[i], sel.picks[i - 1]];
  } else if (action === "down" && i >= 0 && i < sel.picks.length - 1) {
    [sel.picks[i + 1], sel.picks[i]] = [sel.picks[i], sel.picks[i + 1]];
  } else if (action === "out" && i >= 0) {
    sel.picks.splice(i, 1);
    sel.excluded.push(key);
  } else if (action === "in") {
    sel.excluded = sel.excluded.filter((k) => k !== key);
    sel.picks.push(key); // last: the person moves it up from there
  } else {
    return;
  }
  sel.moved.add(key);
  $("sel-saved").textContent = "";
  render({ key, action });
}

async function save() {
  $("sel-save").disabled = true;
  showError("sel-error", "");
  const body = { selected: sel.picks, excluded: sel.excluded, revision: sel.answer.revision };
  sel.generation++; // an answer polled before the save must not undo it
  try {
    const r = await api("PUT", `${selectionPath()}/picks`, body);
    sel.etag = null;
    show(r.body);
    const n = r.body.selected.length;
    $("sel-saved").textContent = `Saved (revision ${r.body.revision}): ${n} pick${n === 1 ? "" : "s"}.`;
  } catch (err) {
    if (err.status === 409) {
      notice(`Not saved: ${err.message}. The picks were read again; make your changes again.`);
      startSelectionPolling();
    } else if (err.status !== 401) {
      showError("sel-error", `Not saved: ${err.message}`);
      $("sel-save").disabled = !sel.moved.size;
    }
  }
}
