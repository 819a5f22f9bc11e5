// The trip: which session, triage, selection and enhancement job this tab is working on, kept in sessionStorage across reloads.

import { startPolling } from "./progress.js";
import { $, state } from "./state.js";

export const TRIP_KEY = "shoebox.trip";

export function saveTrip() {
  sessionStorage.setItem(
    TRIP_KEY,
    JSON.stringify({
      session: state.session,
      job: state.job,
      sub: state.sub,
      finalized: state.finalized,
      queued: state.queued,
      selection: state.selection,
      enhancement: state.enhancement,
    }),
  );
}

// After a reload: the same trip's rows come back from the API (files not uploaded yet are lost).
export function resumeTrip() {
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
  state.selection = trip.selection || null;
  state.enhancement = trip.enhancement || null;
  $("context").disabled = true;
  $("session-label").textContent = `Trip ${state.session.slice(0, 8)}`;
  $("progress").hidden = false;
  if (state.finalized) {
    $("drop").classList.add("closed");
    $("new-trip").hidden = false;
  }
  startPolling();
}

export function newTrip() {
  sessionStorage.removeItem(TRIP_KEY);
  window.location.reload();
}
