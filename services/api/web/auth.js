// Sign-in: GET /auth/config says how (a name on the embedded stack; on AWS the Cognito hosted UI, oauth.js,
// or, with no hosted UI configured, a pasted token); the token is kept in sessionStorage and sent in the
// Authorization header.

import { problem } from "./api.js";
import { beginSignIn, claims, finishSignIn, forget, refreshed, signOutUrl } from "./oauth.js";
import { stopPolling } from "./progress.js";
import { notice, showError } from "./render.js";
import { $, state } from "./state.js";
import { TRIP_KEY, resumeTrip } from "./trip.js";

const TOKEN_KEY = "shoebox.token";
// an ID token this close to its expiry is refreshed before the next call (Cognito's live an hour by default)
const REFRESH_BEFORE_MS = 60_000;

export async function startAuth() {
  let config = { mode: "token" };
  try {
    const r = await fetch("/auth/config", { cache: "no-store" });
    if (r.ok) config = await r.json();
  } catch {
    notice("The Shoebox API cannot be reached.");
  }
  state.mode = config.mode;
  state.auth = config;
  if (config.mode === "oauth") {
    const answer = await finishSignIn(config);
    if (answer?.token) return signedIn(answer.token);
    if (answer?.error) return signedOut(answer.error);
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved && !expired(saved)) return signedIn(saved);
  const renewed = saved && config.mode === "oauth" ? await refreshed(config) : null;
  if (renewed) return signedIn(renewed);
  signedOut(saved ? "Your sign-in has expired: sign in again." : undefined);
}

function expired(token, marginMs = 5000) {
  const c = claims(token);
  return !c || (typeof c.exp === "number" && c.exp * 1000 < Date.now() + marginMs);
}

function keep(token) {
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function signedIn(token) {
  keep(token);
  const c = claims(token);
  state.sub = c?.sub ?? "?";
  $("who-name").textContent = c?.email || c?.["cognito:username"] || state.sub;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  resumeTrip();
}

export function signedOut(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  forget();
  stopPolling();
  $("who").hidden = true;
  $("workspace").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-local").hidden = state.mode !== "local";
  $("sign-in-oauth").hidden = state.mode !== "oauth";
  $("sign-in-token").hidden = state.mode !== "token";
  showError("sign-in-error", message);
}

// Before each API call (api.js): an ID token about to run out is replaced through the refresh token, once
// for all the calls waiting on it. If that fails the call goes with the old token, and its 401 signs out.
let refreshing = null;
export async function freshToken() {
  if (state.mode !== "oauth" || !state.token || !expired(state.token, REFRESH_BEFORE_MS)) return;
  refreshing ||= refreshed(state.auth).then((token) => {
    if (token && state.token) keep(token);
    refreshing = null;
  });
  await refreshing;
}

export function oauthSignIn() {
  showError("sign-in-error", "");
  beginSignIn(state.auth).catch((err) => showError("sign-in-error", `Could not sign in: ${err.message}`));
}

// Sign out: the trip is left behind; on AWS the hosted UI's own session ends too, then it sends the person back.
export function signOut() {
  sessionStorage.removeItem(TRIP_KEY);
  signedOut();
  if (state.mode === "oauth") {
    window.location.assign(signOutUrl(state.auth));
  } else {
    window.location.reload();
  }
}

export async function localSignIn() {
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

export function tokenSignIn() {
  const token = $("token-input").value.trim().replace(/^Bearer\s+/i, "");
  if (!claims(token)) return showError("sign-in-error", "That is not a JWT (three base64url parts).");
  if (expired(token)) return showError("sign-in-error", "That token has expired.");
  $("token-input").value = "";
  signedIn(token);
}
