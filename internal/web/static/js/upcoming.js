// A scheduled room's listener page: a countdown to its start time, "Remind
// me" (an on-page reminder when the time comes: no notification
// permission, no push; the choice is kept per room in localStorage),
// "Add to calendar" (the room's calendar.ics) and, once the room goes live
// (the page learns it from the room's event stream, RoomFeed), the
// reminder saying so with a button to listen.
import * as i18n from "./i18n.js";
import { t, tn, isolate } from "./i18n.js";
import { h } from "./dom.js";

const tickMs = 1000;
const remindKey = (id) => `majlis.remind.${id}`;

// left formats ms (≥ 0) as [days] h:mm:ss in the page's language and digits.
function left(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const lang = i18n.current();
  const n = (v, digits) => v.toLocaleString(lang, { minimumIntegerDigits: digits, useGrouping: false });
  const hms = `${n(Math.floor(s / 3600) % 24, 1)}:${n(Math.floor(s / 60) % 60, 2)}:${n(s % 60, 2)}`;
  return d > 0 ? `${tn("countdown.days", d)} ${hms}` : hms;
}

// upcoming(id, listen) returns the section and the reminder's slot for
// the page, update(view) for every view of the room, and stop().
export function upcoming(id, listen) {
  const count = h("p", { class: "countdown", role: "timer", "aria-live": "off", "data-testid": "countdown" });
  const note = h("p", { class: "muted small", "data-testid": "remind-note", hidden: true }, t("remind.note"));
  const remind = h("button", { type: "button", id: "remind", "aria-pressed": "false", onclick: () => {
    setReminded(!reminded());
    tick();
  } }, t("remind.set"));
  const calendar = h("a", { href: `/api/v1/rooms/${encodeURIComponent(id)}/calendar.ics?lang=${i18n.current()}`, download: "", "data-testid": "calendar" }, t("calendar.add"));
  const section = h("section", { class: "card stack upcoming", "aria-labelledby": "upcoming-h", "data-testid": "upcoming", hidden: true },
    h("h2", { id: "upcoming-h" }, t("upcoming.title")), count, h("div", { class: "row" }, remind, calendar), note);
  const reminder = h("div", { role: "alert", "data-testid": "reminder" });
  let view = null;
  let fired = "";
  let timer = 0;

  function reminded() { return localStorage.getItem(remindKey(id)) === "1"; }
  function setReminded(on) {
    if (on) localStorage.setItem(remindKey(id), "1"); else localStorage.removeItem(remindKey(id));
    remind.textContent = on ? t("remind.cancel") : t("remind.set");
    remind.setAttribute("aria-pressed", on ? "true" : "false");
    note.hidden = !on;
  }
  // say shows the reminder once per kind ("now": the start time came,
  // "live": the room opened).
  function say(kind) {
    if (fired === kind) return;
    fired = kind;
    const msg = kind === "live" ? t("remind.live", { title: isolate(view.title) }) : t("remind.now", { title: isolate(view.title) });
    reminder.replaceChildren(h("div", { class: "card reminder row" }, h("strong", { "data-testid": "reminder-text" }, msg),
      kind === "live" ? h("button", { type: "button", class: "primary", id: "reminder-listen", onclick: () => { reminder.replaceChildren(); listen(); } }, t("remind.listen")) : null));
  }
  function tick() {
    if (!view || view.state !== "scheduled" || !view.scheduled_at) return;
    const ms = new Date(view.scheduled_at).getTime() - Date.now();
    count.textContent = ms > 0 ? t("countdown.in", { time: left(ms) }) : t("countdown.soon");
    if (ms <= 0 && reminded()) say("now");
  }

  function update(v) {
    const was = view && view.state;
    view = v;
    const waiting = v.state === "scheduled" && !!v.scheduled_at;
    section.hidden = !waiting;
    if (waiting) {
      setReminded(reminded());
      if (!timer) timer = setInterval(tick, tickMs);
      tick();
      return;
    }
    clearInterval(timer);
    timer = 0;
    if (v.state === "live" && reminded()) {
      // Opened while the page was waiting (or on a reload before it did).
      if (was === "scheduled" || fired) say("live");
      localStorage.removeItem(remindKey(id));
    }
    if (v.state === "ended") {
      localStorage.removeItem(remindKey(id));
      reminder.replaceChildren();
    }
  }

  return { section, reminder, update, stop: () => clearInterval(timer) };
}
