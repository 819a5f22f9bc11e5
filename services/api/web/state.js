// What the page's modules share: the state of the trip on this page, and the element lookup.

export const MiB = 1024 * 1024;

export const $ = (id) => document.getElementById(id);

export const state = {
  mode: null, // "local" | "oauth" | "token"
  auth: null, // what /auth/config answered (the hosted UI's endpoints in "oauth" mode)
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
  version: null, // the last answer's version: the next poll asks for what changed after it
  pollTimer: null,
  results: null,
  thumbs: new Map(), // thumbnail_url -> Promise<blob URL>
  decided: new Set(), // keys whose verdict is shown
  selection: null, // the selection job asked for on this trip (selection.js)
  enhancement: null, // the enhancement job asked for on this trip (enhance.js)
};
