// The Shoebox upload page: a client of the public API, like any other team's (no build step, no framework).
//
// First drop -> POST /v1/sessions, POST .../triage {expected}; more drops grow `expected`. Files go straight
// to S3 through presigned URLs (one PUT, or S3 multipart for large ones), CONFIG.filesInFlight at a time. The rows
// follow GET .../triage/{job} polled with If-None-Match (a 304 costs the API one read); when the uploads end
// (and no file came for FINALIZE_GRACE_MS) the page calls finalize. When triage is complete the verdicts
// show side by side; the ticked discards are deleted once the person confirms. Then the selection step
// (selection.js): a count and the context -> the picks grouped by scene, which the person can edit. Then
// enhancement (enhance.js, enhanced.js): the saved picks enhanced, before/after, the phases live, feedback,
// downloads.
//
// Every string that came from a file or the API is put in the page with textContent, never as HTML.
//
// The page's modules (ES modules, no build step): state.js (what they share), api.js, auth.js (sign-in),
// oauth.js (the hosted UI's code flow with PKCE), files.js (names and uploads), progress.js (the polling),
// verdicts.js, render.js (rows, counters, thumbnails, messages), trip.js (the trip across reloads),
// selection.js and picks.js (the selection step), enhance.js and enhanced.js (the enhancement step) and this
// one, the wiring.

import { onBeforeCall, onUnauthorized } from "./api.js";
import { freshToken, localSignIn, oauthSignIn, signOut, signedOut, startAuth, tokenSignIn } from "./auth.js";
import { onFiles } from "./files.js";
import { retry } from "./progress.js";
import { wireEnhancement } from "./enhance.js";
import { wireSelection } from "./selection.js";
import { $, state } from "./state.js";
import { newTrip } from "./trip.js";
import { askDelete, confirmDelete } from "./verdicts.js";

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
  onUnauthorized(signedOut);
  onBeforeCall(freshToken);
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
  $("oauth-sign-in").addEventListener("click", oauthSignIn);
  $("token-sign-in").addEventListener("click", tokenSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("retry").addEventListener("click", retry);
  $("delete").addEventListener("click", askDelete);
  $("confirm-yes").addEventListener("click", confirmDelete);
  $("confirm-no").addEventListener("click", () => ($("confirm").hidden = true));
  $("new-trip").addEventListener("click", newTrip);
  wireSelection();
  wireEnhancement();
}

wire();
startAuth();
