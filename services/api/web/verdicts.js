// Verdicts: keep and discard side by side; the ticked discards are deleted once the person confirms.

import { api } from "./api.js";
import { notice, setStatus, showThumb } from "./render.js";
import { $, state } from "./state.js";

export function showVerdicts(results) {
  $("verdicts").hidden = false;
  $("n-keep").textContent = results.keep.length;
  $("n-discard").textContent = results.discard.length;
  for (const [list, verdicts] of [["keep", results.keep], ["discard", results.discard]]) {
    for (const v of verdicts) {
      if (state.decided.has(v.key)) continue;
      state.decided.add(v.key);
      $(list).append(card(v));
    }
  }
  $("delete").disabled = !ticked().length;
}

function card(v) {
  const li = document.createElement("li");
  li.className = `card ${v.verdict}`;
  li.dataset.key = v.key;
  li.dataset.name = v.name;
  const figure = document.createElement("div");
  figure.className = "thumb";
  if (v.thumbnail_url) showThumb(figure, v.thumbnail_url);
  const body = document.createElement("div");
  const title = document.createElement("p");
  title.className = "name";
  if (v.verdict === "discard") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.setAttribute("aria-label", `Delete ${v.name}`);
    box.addEventListener("change", () => ($("delete").disabled = !ticked().length));
    const label = document.createElement("label");
    label.append(box, ` ${v.name}`);
    title.append(label);
  } else {
    title.textContent = v.name;
  }
  const reason = document.createElement("p");
  reason.className = "reason";
  reason.textContent = v.reason;
  const confidence = document.createElement("p");
  confidence.className = "muted";
  confidence.textContent = `confidence ${Math.round(100 * v.confidence)}%`;
  body.append(title, reason, confidence);
  li.append(figure, body);
  return li;
}

function ticked() {
  return [...document.querySelectorAll("#discard li.card:not(.deleted)")].filter(
    (li) => li.querySelector("input[type=checkbox]")?.checked,
  );
}

export function askDelete() {
  const n = ticked().length;
  if (!n) return;
  $("confirm-text").textContent =
    `Delete ${n} file${n === 1 ? "" : "s"} from this trip? The uploaded originals are removed from storage; this cannot be undone.`;
  $("confirm").hidden = false;
  $("confirm-yes").focus();
}

export async function confirmDelete() {
  const cards = ticked();
  $("confirm").hidden = true;
  $("delete").disabled = true;
  try {
    const r = await api("POST", `/v1/sessions/${state.session}/triage/${state.job}/confirm`, {
      delete_keys: cards.map((li) => li.dataset.key),
    });
    const deleted = new Set(r.body.deleted);
    for (const li of cards) {
      if (!deleted.has(li.dataset.key)) continue;
      li.classList.add("deleted");
      li.querySelector("input[type=checkbox]").disabled = true;
      const entry = state.byKey.get(li.dataset.key);
      if (entry) setStatus(entry, "deleted", "Deleted after triage.");
    }
    const errors = r.body.errors.length ? ` ${r.body.errors.length} could not be deleted: ${r.body.errors.join("; ")}` : "";
    $("deleted").textContent = `Deleted ${deleted.size} file${deleted.size === 1 ? "" : "s"}.${errors}`;
    $("deleted").hidden = false;
  } catch (err) {
    notice(`Could not delete: ${err.message}`);
  }
  $("delete").disabled = !ticked().length;
}
