// Progress: GET .../triage/{job} polled with If-None-Match (a 304 costs the API one read) and after_version
// (a changed session sends only the files that changed since the last answer) until triage ends; each
// answer updates the rows, the counters and, once triage is complete, the verdicts.

import { api } from "./api.js";
import { addEntry, notice, remember, renderCounts, setStatus, showError, showThumb } from "./render.js";
import { $, state } from "./state.js";
import { showSelectionStep } from "./selection.js";
import { showVerdicts } from "./verdicts.js";

const POLL_MS = 1000;

export function startPolling() {
  if (!state.pollTimer) poll();
}

export function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

async function poll() {
  state.pollTimer = -1; // polling, no timer yet
  let again = true;
  try {
    const since = state.version === null ? "" : `?after_version=${state.version}`;
    const r = await api("GET", `/v1/sessions/${state.session}/triage/${state.job}${since}`, undefined, {
      etag: state.etag,
    });
    if (r.status === 200) {
      state.etag = r.etag;
      state.version = r.body.version;
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
  // a delta (after_version set) leaves out the verdicts when the job did not change: keep the ones shown
  const before = state.results;
  state.results = {
    ...results,
    keep: results.keep ?? before?.keep ?? [],
    discard: results.discard ?? before?.discard ?? [],
  };
  for (const key of results.removed || []) {
    const entry = state.byKey.get(key);
    if (entry) setStatus(entry, "deleted", "Removed before it was checked.");
  }
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
        : f.status === "pending"
          ? "Uploaded; waiting to be checked."
          : f.status === "processed" ? "" : f.message || "";
    setStatus(entry, f.status, text);
    if (f.thumbnail_url) showThumb(entry.row.querySelector("td.thumb"), f.thumbnail_url);
  }
  renderCounts();
  $("job-status").textContent = results.status;
  showError("job-error", results.status === "error" ? results.error || "Triage failed." : "");
  $("retry").hidden = results.status !== "error";
  if (results.status === "complete") {
    showVerdicts(state.results);
    showSelectionStep();
  }
}

function adopt(f) {
  state.names.add(f.name.toLowerCase());
  const entry = addEntry({ original: f.name, name: f.name, status: f.status });
  remember(entry, f.key);
  return entry;
}

export async function retry() {
  try {
    await api("POST", `/v1/sessions/${state.session}/triage/${state.job}/retry`);
    $("retry").hidden = true;
    state.decided.clear();
    state.version = null; // the new attempt's verdicts come with the whole session
    state.etag = null;
    startPolling();
  } catch (err) {
    notice(err.message);
  }
}
