// Sign-in: GET /auth/config says how (a name on the embedded stack, a pasted token elsewhere); the token is
// kept in sessionStorage and sent in the Authorization header.

import { problem } from "./api.js";
import { stopPolling } from "./progress.js";
import { notice, showError } from "./render.js";
import { $, state } from "./state.js";
import { resumeTrip } from "./trip.js";

const TOKEN_KEY = "shoebox.token";

export async function startAuth() {
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

export function signedOut(message) {
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
