// Signing in through the Cognito hosted UI (AWS): the OAuth 2.0 authorization code flow with PKCE (RFC 7636)
// for a public client (no secret in a page). /auth/config gives the endpoints, the client id and the scopes.
//
// Sign in: a random code_verifier, its S256 challenge, a state and a nonce; the verifier, state and nonce wait
// in sessionStorage while the person is on the hosted UI. Back here with ?code&state: the state must be the
// one this tab sent (else nothing is exchanged), the code is exchanged at the token endpoint with the
// verifier, and the ID token (aud = the client id, what the API verifies) is kept; the URL loses ?code at once.
// When the ID token runs out, the refresh token (kept beside it in sessionStorage) gets a new one; if that
// fails the person signs in again. Sign out ends the hosted UI's session too (/logout).

const PENDING_KEY = "shoebox.oauth"; // {verifier, state, nonce, redirect} while the person is on the hosted UI
const REFRESH_KEY = "shoebox.refresh";

function base64url(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// `bytes` random bytes as base64url: 48 give 64 characters, inside RFC 7636's 43-128 for the verifier
function random(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return base64url(b);
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

// Where the hosted UI sends the person back, after sign-in and after sign-out: this page, without a query.
// The app client's callback and sign-out URLs must list it exactly (the API's URL with its trailing "/").
export function pageUrl() {
  return window.location.origin + window.location.pathname;
}

// The JWT's claims, unverified (the API verifies): for the expiry, the subject and the nonce.
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

export async function beginSignIn(config) {
  const pending = { verifier: random(48), state: random(24), nonce: random(24), redirect: pageUrl() };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: pending.redirect,
    scope: config.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
  });
  window.location.assign(`${config.authorize_url}?${query}`);
}

// Back from the hosted UI? null when the URL carries no answer; else {token} or {error} (a sentence).
export async function finishSignIn(config) {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return null;
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(PENDING_KEY); // one answer per sign-in started
  // the code is single-use and must not stay in the address bar, the history or a bookmark
  window.history.replaceState(null, "", pageUrl());
  if (params.has("error")) {
    const why = params.get("error_description") || params.get("error");
    return { error: `The sign-in page refused: ${why} (${params.get("error")}).` };
  }
  if (!pending || !params.get("state") || params.get("state") !== pending.state) {
    return { error: "That sign-in answer is not for a sign-in this page started (state): sign in again." };
  }
  try {
    const tokens = await tokenRequest(config, {
      grant_type: "authorization_code",
      client_id: config.client_id,
      code: params.get("code"),
      redirect_uri: pending.redirect,
      code_verifier: pending.verifier,
    });
    const token = tokens.id_token;
    if (!token || claims(token)?.nonce !== pending.nonce) {
      return { error: "The sign-in service answered no ID token for this sign-in (nonce): sign in again." };
    }
    keepRefresh(tokens.refresh_token);
    return { token };
  } catch (err) {
    return { error: `Could not sign in: ${err.message}` };
  }
}

// A new ID token from the refresh token, or null (none kept, or refused: the person signs in again).
export async function refreshed(config) {
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  if (!refresh) return null;
  try {
    const tokens = await tokenRequest(config, {
      grant_type: "refresh_token",
      client_id: config.client_id,
      refresh_token: refresh,
    });
    keepRefresh(tokens.refresh_token); // Cognito sends a new one only when it rotates them
    return tokens.id_token || null;
  } catch {
    sessionStorage.removeItem(REFRESH_KEY);
    return null;
  }
}

export function forget() {
  sessionStorage.removeItem(REFRESH_KEY);
  sessionStorage.removeItem(PENDING_KEY);
}

// The hosted UI's sign-out, which ends its own session (a cookie there) and comes back to this page.
export function signOutUrl(config) {
  const query = new URLSearchParams({ client_id: config.client_id, logout_uri: pageUrl() });
  return `${config.logout_url}?${query}`;
}

function keepRefresh(token) {
  if (token) sessionStorage.setItem(REFRESH_KEY, token);
}

// The token endpoint takes a form (no CORS preflight: a simple request) and answers JSON, or an OAuth error.
async function tokenRequest(config, form) {
  let r;
  try {
    r = await fetch(config.token_url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new Error(`the sign-in service cannot be reached (${err.message})`);
  }
  let answer = {};
  try {
    answer = await r.json();
  } catch {
    answer = {};
  }
  if (!r.ok) {
    const why = answer.error_description || answer.error || `HTTP ${r.status}`;
    throw new Error(answer.error && answer.error_description ? `${why} (${answer.error})` : why);
  }
  return answer;
}
