// The enhancement's cards: one per item, made once and updated in place (so a feedback sentence being typed
// and the keyboard's focus survive every answer). A card shows the original's thumbnail beside the enhanced
// one, the item's status and phase (with the phases the stream showed on the way), the edits, the error of
// a failed item; an enhanced item also has its download and a feedback box, which says "working…" until
// the pass it asked for has completed, then what the provider said. Every string from the API goes in with
// textContent.
//
// A video's card plays its clips: two <video> elements (before: the original's 720p preview; after: the
// enhanced clip) whose sources are short-lived presigned GETs of storage (GET …/items/{name}/media, asked
// with the token, since a <video> cannot send it; the CSP's media-src allows the storage origin). Its
// thumbnails show until the clips are there; a URL that has run out is asked for again when its <video>
// fails. While it renders, the card shows the phase and how far it is (a <progress>).

import { showThumb } from "./render.js";
import { $ } from "./state.js";

const PHASE_TEXT = {
  creative_edit: "1 · global edit",
  analysis: "2 · analysis",
  surgical_edit: "3 · surgical edits",
  analysing: "1 · analysis",
  rendering: "2 · render",
  uploading: "3 · upload",
};
const STATUS_TEXT = {
  queued: "waiting",
  running: "working",
  enhanced: "enhanced",
  failed: "failed",
  cancelled: "cancelled",
  skipped: "skipped",
};

const cards = new Map(); // key -> {li, parts}

// answer: the API's job; ui: {phases, pending, sendFeedback(item, text, done), download(url, name, button),
// media(item) -> Promise of the item's {before, after, expires_in_s}}
export function renderEnhancement(answer, ui) {
  if (!answer) return;
  const keys = new Set(answer.items.map((i) => i.key));
  for (const [key, card] of cards) {
    if (!keys.has(key) || !card.li.isConnected) cards.delete(key);
  }
  const list = $("enh-items");
  const order = answer.items.map((item) => {
    let card = cards.get(item.key);
    if (!card) {
      card = makeCard(item, ui);
      cards.set(item.key, card);
    }
    update(card, item, ui);
    return card.li;
  });
  // in the job's order; only moved when it differs (appending a focused element would blur it)
  if (order.some((li, i) => list.children[i] !== li) || list.children.length !== order.length) {
    list.replaceChildren(...order);
  }
  $("n-enhanced").textContent = `${answer.done} of ${answer.total}`;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function makeCard(item, ui) {
  const li = el("li", "card enh");
  li.dataset.key = item.key;
  li.dataset.name = item.name;
  li.dataset.kind = item.kind || "photo";
  const before = el("figure", "pair before");
  const beforeThumb = el("div", "thumb");
  before.append(beforeThumb, el("figcaption", "muted", "before"));
  const after = el("figure", "pair after");
  const afterThumb = el("div", "thumb");
  after.append(afterThumb, el("figcaption", "muted", "after"));
  const clips = item.kind === "video" ? { before: clip(before, "before", item), after: clip(after, "after", item) } : null;
  const body = el("div", "body");
  const title = el("p", "name", item.name);
  const status = el("p", "status");
  const phase = el("p", "phase");
  const progress = el("progress", "progress");
  progress.max = 100;
  progress.setAttribute("aria-label", `Rendering: ${item.name}`);
  const phases = el("ol", "phases");
  const changes = el("ul", "changes");
  const error = el("p", "error item-error");
  const download = el("button", "download", "Download");
  download.type = "button";
  download.setAttribute("aria-label", `Download: ${item.name}`);
  const feedback = el("div", "feedback");
  const input = el("input", "sentence");
  input.maxLength = 1000;
  input.placeholder = "brighter, warmer, less contrast…";
  input.setAttribute("aria-label", `Feedback: ${item.name}`);
  const send = el("button", "send", "Send");
  send.type = "button";
  send.setAttribute("aria-label", `Send feedback: ${item.name}`);
  const working = el("p", "working muted", "working…");
  working.setAttribute("role", "status");
  const said = el("p", "said");
  const feedbackError = el("p", "error feedback-error");
  feedbackError.hidden = true;
  feedback.append(input, send, working, said, feedbackError);
  body.append(title, status, phase, progress, phases, changes, error, download, feedback);
  li.append(before, after, body);
  const card = { li, item, clips, media: null, parts: { beforeThumb, afterThumb, status, phase, progress, phases, changes, error, download, feedback, working, said, feedbackError, input, send } };
  if (clips) {
    // a URL that has run out (or a clip replaced by a feedback pass): ask for new ones once, keep the time
    for (const video of [clips.before, clips.after]) {
      video.addEventListener("loadedmetadata", () => delete video.dataset.retried);
      video.addEventListener("error", () => {
        if (video.dataset.retried) return;
        video.dataset.retried = "1";
        loadClips(card, ui, true);
      });
    }
  }
  const submit = () => {
    send.disabled = true;
    ui.sendFeedback(card.item, input.value, (message) => {
      send.disabled = false;
      feedbackError.textContent = message;
      feedbackError.hidden = !message;
      if (!message) input.value = "";
    });
  };
  send.addEventListener("click", submit);
  input.addEventListener("keydown", (ev) => ev.key === "Enter" && submit());
  const suffix = item.kind === "video" ? "mp4" : "jpg";
  download.addEventListener("click", () => ui.download(card.item.enhanced_url, `${item.name}-enhanced.${suffix}`, download));
  return card;
}

// A <video> in a pair's figure, hidden until it has a source (the thumbnail shows meanwhile).
function clip(figure, which, item) {
  const video = el("video", `clip ${which}`);
  video.controls = true;
  video.preload = "metadata";
  video.playsInline = true;
  video.hidden = true;
  video.setAttribute("aria-label", `${which === "before" ? "Original" : "Enhanced"}: ${item.name}`);
  figure.prepend(video);
  return video;
}

// The clips' presigned URLs for this result (the revision the item is at): asked once per result, again
// when a URL has run out. A clip shown keeps its place in time.
async function loadClips(card, ui, again = false) {
  const item = card.item;
  const want = `${item.status}:${item.feedback_completed}`;
  if (!again && card.media === want) return;
  card.media = want;
  let links;
  try {
    links = await ui.media(item);
  } catch {
    card.media = null; // the next answer tries again
    return;
  }
  if (card.media !== want) return; // a newer result asked meanwhile
  for (const which of ["before", "after"]) {
    const link = links[which];
    const video = card.clips[which];
    if (!link) continue;
    const at = video.currentTime;
    video.src = link.url;
    video.hidden = false;
    video.dataset.mediaType = link.media_type;
    if (again && at) video.addEventListener("loadedmetadata", () => (video.currentTime = at), { once: true });
    const thumb = which === "before" ? card.parts.beforeThumb : card.parts.afterThumb;
    const shown = thumb.querySelector("img");
    if (shown && !video.poster) video.poster = shown.src; // the thumbnail (a blob URL) until it plays
    thumb.hidden = true;
  }
}

function update(card, item, ui) {
  card.item = item;
  const p = card.parts;
  const li = card.li;
  li.classList.toggle("failed", item.status === "failed");
  // the stream's latest phase shows at once, before the next read brings it in the answer
  const seen = ui.phases.get(item.key) || [];
  const live = seen.length && ["queued", "running"].includes(item.status) ? seen[seen.length - 1] : null;
  const status = live ? "running" : item.status;
  const phase = live ? live.phase : item.phase;
  const summary = live ? live.summary : item.phase_summary;
  const percent = live ? live.percent : item.phase_percent;
  li.dataset.status = status;
  if (phase) li.dataset.phase = phase;
  p.status.textContent = STATUS_TEXT[status] || status;
  p.status.className = `status badge ${status}`;
  const running = Boolean(phase) && ["queued", "running"].includes(status);
  const howFar = typeof percent === "number" ? ` ${Math.round(percent)} %` : "";
  p.phase.textContent = phase ? `Phase ${PHASE_TEXT[phase] || phase}${howFar}${summary ? `: ${summary}` : ""}` : "";
  p.phase.hidden = !running;
  // how far a video's render is (the video service's phase events carry it)
  p.progress.hidden = !running || typeof percent !== "number";
  if (typeof percent === "number") {
    p.progress.value = percent;
    li.dataset.percent = String(Math.round(percent));
  }
  const listed = seen.map((s) => `${PHASE_TEXT[s.phase] || s.phase}${typeof s.percent === "number" ? ` ${Math.round(s.percent)} %` : ""}: ${s.summary}`);
  if ([...p.phases.children].map((c) => c.textContent).join("\n") !== listed.join("\n")) {
    p.phases.replaceChildren(...listed.map((text) => el("li", "", text)));
  }
  p.phases.hidden = !seen.length;
  p.changes.replaceChildren(...item.changes.map((c) => el("li", "", c)));
  p.changes.hidden = !item.changes.length;
  const error = item.status === "failed" ? `${item.error || "failed"}${item.code ? ` (${item.code})` : ""}` : item.status === "skipped" ? item.error || "" : "";
  p.error.textContent = error;
  p.error.hidden = !error;
  if (item.before_thumbnail_url) showThumb(p.beforeThumb, item.before_thumbnail_url);
  if (card.clips) loadClips(card, ui);
  // the enhanced thumbnail's URL stays the same across feedback passes: the revision makes each result's its own
  if (item.after_thumbnail_url) showThumb(p.afterThumb, `${item.after_thumbnail_url}?r=${item.feedback_completed}`);
  const enhanced = item.status === "enhanced";
  p.download.hidden = !item.enhanced_url;
  p.feedback.hidden = !enhanced;
  const waitingFor = Math.max(item.feedback_requested, ui.pending.get(item.key) || 0);
  const working = item.feedback_completed < waitingFor;
  li.dataset.feedback = working ? "working" : item.feedback_completed ? "completed" : "none";
  li.dataset.feedbackCompleted = item.feedback_completed;
  p.working.hidden = !working;
  p.send.disabled = working;
  const said = !working && item.feedback_completed ? saidText(item) : "";
  p.said.textContent = said;
  p.said.hidden = !said;
}

function saidText(item) {
  const asked = item.feedback ? `“${item.feedback}”` : "Your feedback";
  return item.feedback_message ? `${asked}: ${item.feedback_message}` : `${asked}: done.`;
}
