// The selection's lists on the page: the picks in rank order grouped by scene (a scene heading, then its
// picks), then every other item with its category and reason. Each card has its buttons: a pick moves up,
// down or out of the picks; any other item into them. Every string from the API goes in with textContent.

import { showThumb } from "./render.js";
import { $ } from "./state.js";

// The API's exclusion categories (shared/events/selection_results.py), as a person reads them.
const CATEGORY = {
  near_duplicate: "near duplicate",
  quality: "weaker shot",
  off_context: "off the trip's subject",
  redundant_scene: "scene already covered",
  discarded_in_triage: "discarded in triage",
  not_evaluated: "not evaluated",
};

// sel: the page's selection (selection.js); move(key, action) moves an item; focus: {key, action} of the
// button just used, so the keyboard stays where it was after the lists are drawn again.
export function renderSelection(sel, move, focus) {
  const labels = new Map(sel.answer.scene_groups.map((g) => [g.id, g.label]));
  // scenes in the order of their best pick; within one, the picks in rank order
  const scenes = new Map();
  sel.picks.forEach((key, i) => {
    const scene = sel.items.get(key).scene || "";
    if (!scenes.has(scene)) scenes.set(scene, []);
    scenes.get(scene).push(card(sel, key, i + 1, move));
  });
  const groups = [...scenes].map(([scene, cards]) => {
    const group = document.createElement("section");
    group.className = "scene";
    group.dataset.scene = scene;
    const heading = document.createElement("h4");
    heading.textContent = labels.get(scene) || (scene ? `Scene ${scene}` : "No scene");
    const list = document.createElement("ul");
    list.className = "cards";
    list.append(...cards);
    group.append(heading, list);
    return group;
  });
  $("picks").replaceChildren(...groups);
  $("excluded").replaceChildren(...sel.excluded.map((key) => card(sel, key, null, move)));
  $("n-picks").textContent = sel.picks.length;
  $("n-excluded").textContent = sel.excluded.length;
  $("sel-results").hidden = false;
  if (focus) refocus(focus);
}

function card(sel, key, rank, move) {
  const item = sel.items.get(key);
  const li = document.createElement("li");
  li.className = `card ${rank ? "pick" : "excluded"}`;
  li.dataset.key = key;
  li.dataset.name = item.name;
  const figure = document.createElement("div");
  figure.className = "thumb";
  if (item.thumbnail_url) showThumb(figure, item.thumbnail_url);
  const body = document.createElement("div");
  const title = document.createElement("p");
  title.className = "name";
  if (rank) {
    li.dataset.rank = rank;
    const badge = document.createElement("span");
    badge.className = "rank";
    badge.textContent = `#${rank}`;
    title.append(badge, " ");
  }
  title.append(item.name);
  body.append(title);
  if (!rank && item.category) {
    li.dataset.category = item.category;
    body.append(line("category", CATEGORY[item.category] || item.category));
  }
  body.append(line("reason", item.reason));
  if (rank && item.comparison) body.append(line("comparison muted", item.comparison));
  if (item.duplicate_of) {
    const rival = sel.items.get(item.duplicate_of);
    body.append(line("duplicate muted", `near duplicate of ${rival ? rival.name : item.duplicate_of.split("/").pop()}`));
  }
  if (sel.moved.has(key)) {
    li.classList.add("moved");
    body.append(line("by-person", "Moved by you: not saved yet"));
  } else if (item.by_person) {
    li.dataset.byPerson = "true";
    body.append(line("by-person", rank ? "Picked by you" : "Left out by you"));
  }
  body.append(buttons(sel, key, item.name, rank, move));
  li.append(figure, body);
  return li;
}

function line(className, text) {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

function buttons(sel, key, name, rank, move) {
  const div = document.createElement("div");
  div.className = "moves";
  const make = (action, text, label, disabled) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = action;
    b.textContent = text;
    b.setAttribute("aria-label", `${label}: ${name}`); // the visible text first, then which item
    b.disabled = disabled;
    b.addEventListener("click", () => move(key, action));
    div.append(b);
  };
  if (rank) {
    make("up", "Up", "Up", rank === 1);
    make("down", "Down", "Down", rank === sel.picks.length);
    make("out", "Remove from picks", "Remove from picks", false);
  } else {
    make("in", "Add to picks", "Add to picks", false);
  }
  return div;
}

function refocus({ key, action }) {
  // within the step: the verdicts above have cards of the same keys
  const li = $("sel-results").querySelector(`li.card[data-key="${CSS.escape(key)}"]`);
  if (!li) return;
  const same = li.querySelector(`button[data-action="${action}"]:not(:disabled)`);
  (same || li.querySelector("button:not(:disabled)"))?.focus();
}
