// The enhancement's cards: one per item, made once and updated in place (so a feedback sentence being typed
// and the keyboard's focus survive every answer). A card shows the original's thumbnail beside the enhanced
// one, the item's status and phase (with the phases the stream showed on the way), the edits, the error of
// a failed item; an enhanced item also has its download and a feedback box, which says "working…" until
// the pass it asked for has completed, then what the provider said. Every string from the API goes in with
// textContent.

import { showThumb } from "./render.js";
import { $ } from "./state.js";

const PHASE_TEXT = {
  creative_edit: "1 · global edit",
  analysis: "2 · analysis",
  surgical_edit: "3 · surgical edits",
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

// answer: the API's job; ui: {phases, pending, sendFeedback(item, text, done), download(url, name, button)}
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
  const before = el("figure", "pair before");
  const beforeThumb = el("div", "thumb");
  before.append(beforeThumb, el("figcaption", "muted", "before"));
  const after = el("figure", "pair after");
  const afterThumb = el("div", "thumb");
  after.append(afterThumb, el("figcaption", "muted", "after"));
  const body = el("div", "body");
  const title = el("p", "name", item.name);
  const status = el("p", "status");
  const phase = el("p", "phase");
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
  body.append(title, status, phase, phases, changes, error, download, feedback);
  li.append(before, after, body);
  const card = { li, item, parts: { beforeThumb, afterThumb, status, phase, phases, changes, error, download, feedback, working, said, feedbackError, input, send } };
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
  download.addEventListener("click", () => ui.download(card.item.enhanced_url, `${item.name}-enhanced.jpg`, download));
  return card;
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
  li.dataset.status = status;
  if (phase) li.dataset.phase = phase;
  p.status.textContent = STATUS_TEXT[status] || status;
  p.status.className = `status badge ${status}`;
  p.phase.textContent = phase ? `Phase ${PHASE_TEXT[phase] || phase}${summary ? `: ${summary}` : ""}` : "";
  p.phase.hidden = !phase || !["queued", "running"].includes(status);
  if (p.phases.children.length !== seen.length) {
    p.phases.replaceChildren(...seen.map((s) => el("li", "", `${PHASE_TEXT[s.phase] || s.phase}: ${s.summary}`)));
  }
  p.phases.hidden = !seen.length;
  p.changes.replaceChildren(...item.changes.map((c) => el("li", "", c)));
  p.changes.hidden = !item.changes.length;
  const error = item.status === "failed" ? `${item.error || "failed"}${item.code ? ` (${item.code})` : ""}` : item.status === "skipped" ? item.error || "" : "";
  p.error.textContent = error;
  p.error.hidden = !error;
  if (item.before_thumbnail_url) showThumb(p.beforeThumb, item.before_thumbnail_url);
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
