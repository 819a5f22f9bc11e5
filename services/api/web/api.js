// The API: JSON over fetch with the bearer token; an error becomes an ApiError with the problem's detail.

import { state } from "./state.js";

// What a 401 does: set once by the wiring (app.js) to sign the person out with the message given.
let unauthorized = () => {};

export function onUnauthorized(handler) {
  unauthorized = handler;
}

// What runs before each call: set by the wiring to renew a token about to run out (auth.js freshToken).
let beforeCall = async () => {};

export function onBeforeCall(handler) {
  beforeCall = handler;
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function api(method, path, body, { etag } = {}) {
  await beforeCall();
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
    unauthorized("Your sign-in has expired or was refused: sign in again.");
    throw new ApiError("not signed in", 401);
  }
  if (!r.ok) throw new ApiError(await problem(r), r.status);
  const text = await r.text();
  return { status: r.status, etag: r.headers.get("ETag"), body: text ? JSON.parse(text) : null };
}

export async function problem(r) {
  try {
    const p = await r.json();
    return p.detail || p.title || `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}
