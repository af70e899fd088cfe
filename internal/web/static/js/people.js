// The people of a room, in its studio: inviting by name (a search with
// suggestions, the WAI-ARIA combobox pattern) and the list of signed-in
// listeners connected now, with the count of the others.
import * as i18n from "./i18n.js";
import { t, tn } from "./i18n.js";
import * as api from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";

const searchDelayMs = 250; // after the last key typed
const minSearch = 2; // characters, as the server's room.MinSearch

// inviteByName is the invite form: typing part of a name suggests users
// (GET /rooms/{id}/candidates); ArrowUp/ArrowDown move through them, Enter
// or a click invites the one chosen (POST /rooms/{id}/speakers/{user}),
// Escape closes the list. invite(user) returns whether it succeeded.
export function inviteByName(rid, invite) {
  const listId = "invite-options";
  const input = h("input", { id: "invite-user", type: "search", role: "combobox", autocomplete: "off", dir: "auto",
    "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId, "aria-describedby": "invite-hint" });
  const list = h("ul", { id: listId, role: "listbox", class: "options", "aria-labelledby": "invite-label", hidden: true, "data-testid": "invite-options" });
  const hint = h("p", { id: "invite-hint", class: "muted small", "aria-live": "polite", "data-testid": "invite-hint" });
  let users = [];
  let active = -1;
  let timer = 0;
  let seq = 0;

  function show(u) {
    users = u;
    active = u.length ? 0 : -1;
    render();
  }
  function render() {
    list.replaceChildren(...users.map((u, i) => h("li", { id: `${listId}-${i}`, role: "option", "aria-selected": i === active ? "true" : "false",
      class: i === active ? "option active" : "option", "data-user": u.id,
      // mousedown, not click: the input keeps focus (and the list) until the choice is made.
      onmousedown: (e) => { e.preventDefault(); pick(i); } },
    h("bdi", { class: "name", dir: "auto" }, u.name), u.role !== "listener" ? h("span", { class: "muted small" }, ` · ${t(`role.${u.role}`)}`) : null)));
    list.hidden = users.length === 0;
    input.setAttribute("aria-expanded", users.length ? "true" : "false");
    if (active >= 0) input.setAttribute("aria-activedescendant", `${listId}-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }
  async function search() {
    const q = input.value.trim();
    const my = ++seq;
    if ([...q].length < minSearch) {
      show([]);
      hint.textContent = q ? t("studio.invite.short") : "";
      return;
    }
    try {
      const r = await api.call("GET", `/rooms/${rid}/candidates?q=${encodeURIComponent(q)}`);
      if (my !== seq) return; // a later search is on its way
      show(r.users);
      hint.textContent = r.users.length ? tn("studio.invite.found", r.users.length) : t("studio.invite.none");
    } catch (e) {
      if (my !== seq) return;
      show([]);
      hint.textContent = e.code === "bad_query" ? t("studio.invite.badquery") : errorText(e);
    }
  }
  async function pick(i) {
    const u = users[i];
    if (!u) return;
    seq++;
    show([]);
    input.value = "";
    if (await invite(u.id)) hint.textContent = t("studio.invite.done", { name: i18n.isolate(u.name) });
    else hint.textContent = "";
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, searchDelayMs); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && users.length) { active = (active + 1) % users.length; render(); e.preventDefault(); }
    else if (e.key === "ArrowUp" && users.length) { active = (active - 1 + users.length) % users.length; render(); e.preventDefault(); }
    else if (e.key === "Enter") { e.preventDefault(); if (active >= 0) pick(active); }
    else if (e.key === "Escape" && users.length) { e.preventDefault(); show([]); }
  });
  input.addEventListener("blur", () => show([]));

  return h("section", { class: "card stack", "aria-labelledby": "invite-h" }, h("h2", { id: "invite-h" }, t("studio.invite")),
    h("label", { for: "invite-user", id: "invite-label" }, t("studio.invite.label")),
    h("div", { class: "combo" }, input, list), hint);
}

// listenersCard shows GET /rooms/{id}/listeners: the signed-in listeners
// (first joined first), each with an invite to speak, and how many others
// listen. Listeners already on the stage (onStage) are not offered an
// invitation. refresh() fetches it again; the list is rebuilt only when it
// changed, so a button keeps keyboard focus between refreshes.
export function listenersCard(rid, invite, onStage) {
  const box = h("div", { "data-testid": "listener-list" });
  const others = h("p", { class: "muted", "data-testid": "anonymous-count" });
  let key = "";
  async function refresh() {
    let l;
    try {
      l = await api.call("GET", `/rooms/${rid}/listeners`);
    } catch (e) {
      key = "";
      box.replaceChildren(h("p", { class: "muted" }, errorText(e)));
      return;
    }
    const staged = l.listeners.map((u) => onStage(u.id));
    const k = JSON.stringify([l, i18n.current(), staged]);
    if (k === key) return;
    key = k;
    box.replaceChildren(l.listeners.length === 0 ? h("p", { class: "muted" }, t("studio.listeners.empty")) :
      h("ul", { class: "listeners" }, l.listeners.map((u, i) => h("li", { class: "row", "data-user": u.id },
        // The name's box runs in the page's direction, the name in its own.
        h("span", { class: "who" }, h("bdi", { class: "name", dir: "auto" }, u.name)),
        h("span", { class: "muted small" }, t("studio.listeners.since", { when: new Date(u.since).toLocaleTimeString(i18n.current(), { timeStyle: "short" }) })),
        staged[i] ? h("span", { class: "muted small" }, t("studio.listeners.onstage"))
          : h("button", { "data-action": "invite", onclick: () => invite(u.id) }, t("studio.invite"))))));
    const more = l.signed_in - l.listeners.length + l.unlisted;
    others.textContent = tn("studio.listeners.anonymous", l.anonymous) + (more > 0 ? " " + tn("studio.listeners.more", more) : "");
  }
  const el = h("section", { class: "card stack", "aria-labelledby": "listeners-h" }, h("h2", { id: "listeners-h" }, t("studio.listeners")), box, others);
  return { el, refresh };
}
