// The majlis web app: a small router over /, /r/{id}, /studio/{id}, /c/{id},
// /mod, /safety, /report/{id}, /signin and /signup. Views build DOM with h(); every string goes through t().
import * as i18n from "./i18n.js";
import { t, tn, isolate } from "./i18n.js";
import * as api from "./api.js";
import { Player } from "./player.js";
import { Publisher } from "./publisher.js";
import { RoomFeed } from "./feed.js";
import { recBadge, replaySection, clipButton, hostRecording, viewClip } from "./recording.js";
import { h } from "./dom.js";
import { shareButton } from "./share.js";
import { upcoming } from "./upcoming.js";
import { errorText } from "./errors.js";
import { reportCard, viewReportStatus, viewSafety, modQueue, modComplaints, modOwnInitiative, decisionNotice } from "./safety.js";
import { modFlaggers, modMisuse, modAudit, modExport } from "./modtools.js";
import { viewTransparency } from "./transparency.js";
import { inviteByName, listenersCard } from "./people.js";

const pollMs = 2000;
const listenersMs = 3000; // the studio's listener list
// The server's reaction set (GET /api/v1/reactions, internal/room.Reactions),
// loaded once per page.
let reactionSet = null;
async function loadReactions() {
  if (!reactionSet) reactionSet = (await api.call("GET", "/reactions")).reactions;
  return reactionSet;
}

const main = () => document.getElementById("main");
let cleanup = [];

function onLeave(f) { cleanup.push(f); }

function poll(f) {
  f();
  const id = setInterval(f, pollMs);
  onLeave(() => clearInterval(id));
}

function stateBadge(state) {
  return h("span", { class: `badge badge-${state}`, "data-testid": "state" }, t(`state.${state}`));
}

function meter(label, id) {
  return h("div", { class: "meter", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", id },
    h("div", { class: "meter-fill" }));
}

function setMeter(el, rms) {
  if (!el) return;
  const db = rms > 0 ? 20 * Math.log10(rms) : -100;
  const pct = Math.max(0, Math.min(100, (db + 60) / 60 * 100));
  el.firstChild.style.inlineSize = pct + "%";
  el.setAttribute("aria-valuenow", String(Math.round(pct)));
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, errorText(e));
}

// ---- home ----------------------------------------------------------------

function viewHome() {
  const root = h("section", { class: "stack" }, h("h1", {}, t("home.title")));
  const idIn = h("input", { id: "room-id", name: "room", required: true, autocomplete: "off" });
  root.append(h("form", { class: "card row", onsubmit: (e) => { e.preventDefault(); go(`/r/${encodeURIComponent(idIn.value.trim())}`); } },
    h("label", { for: "room-id" }, t("home.open.label")), idIn, h("button", { type: "submit" }, t("home.open.submit"))));

  const create = h("section", { class: "card stack", "aria-labelledby": "create-h" }, h("h2", { id: "create-h" }, t("home.create.title")));
  if (api.signedIn()) {
    const title = h("input", { id: "room-title", name: "title", required: true, maxlength: "200" });
    const desc = h("textarea", { id: "room-desc", name: "description", maxlength: "2000", rows: "3" });
    const when = h("input", { id: "room-when", name: "scheduled_at", type: "datetime-local" });
    const out = h("div", { "aria-live": "polite" });
    create.append(h("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      const body = { title: title.value.trim() };
      if (desc.value.trim()) body.description = desc.value.trim();
      if (when.value) body.scheduled_at = new Date(when.value).toISOString();
      try {
        const r = await api.call("POST", "/rooms", body);
        api.remember(r);
        go(`/studio/${r.id}`);
      } catch (err) { out.replaceChildren(errorBox(err)); }
    } }, h("label", { for: "room-title" }, t("home.create.label")), title,
      h("label", { for: "room-desc" }, t("home.create.description")), desc,
      h("label", { for: "room-when" }, t("home.create.when")), when,
      h("button", { type: "submit", class: "primary" }, t("home.create.submit"))), out);
  } else {
    create.append(h("p", {}, h("a", { href: "/signin" }, t("home.create.signin"))));
  }
  root.append(create);

  // Public lists from the server: live rooms with their audience, then the schedule.
  for (const state of ["live", "scheduled"]) {
    const ul = h("ul", { class: "rooms", "data-testid": `rooms-${state}` });
    root.append(h("section", { class: "card stack", "aria-labelledby": `${state}-h` }, h("h2", { id: `${state}-h` }, t(`home.${state}`)), ul));
    api.listRooms(state).then((rooms) => {
      ul.replaceChildren(...(rooms.length ? rooms.map((r) => h("li", { class: "row", "data-room": r.id },
        h("a", { href: `/r/${encodeURIComponent(r.id)}`, dir: "auto" }, r.title), stateBadge(r.state),
        state === "live" ? h("span", { class: "count" }, tn("room.listeners", r.listeners || 0))
          : h("span", { class: "muted" }, r.scheduled_at ? new Date(r.scheduled_at).toLocaleString(i18n.current()) : "")))
        : [h("li", { class: "muted" }, t(`home.${state}.empty`))]));
    }, (e) => ul.replaceChildren(h("li", { class: "muted" }, errorText(e))));
  }

  const list = h("ul", { class: "rooms", "data-testid": "rooms" });
  root.append(h("section", { class: "card stack", "aria-labelledby": "recent-h" }, h("h2", { id: "recent-h" }, t("home.recent")), list));
  const recent = api.recent();
  if (recent.length === 0) list.append(h("li", { class: "muted" }, t("home.recent.empty")));
  for (const r of recent) {
    const badge = h("span");
    list.append(h("li", {}, h("a", { href: `/r/${encodeURIComponent(r.id)}`, dir: "auto" }, r.title || r.id), " ", badge));
    api.getRoom(r.id).then((room) => badge.replaceWith(stateBadge(room.state)), () => {});
  }
  return root;
}

// ---- listener ------------------------------------------------------------

function roleLabel(role) { return t(`role.${role}`); }

// stageList shows who is on stage; speaking rings the publishing, unmuted
// members for whom talking(id) says so (levels.js: the chunks' levels, or
// the room's "speaking" events).
function stageList(view, talking, controls) {
  const ul = h("ul", { class: "stage", "data-testid": "stage" });
  const members = (view && view.stage) || [];
  if (members.length === 0) ul.append(h("li", { class: "muted" }, t("room.stage.empty")));
  for (const m of members) {
    const speaking = !!talking && m.publishing && !m.muted && talking(m.id);
    ul.append(h("li", { class: speaking ? "speaker speaking" : "speaker", "data-user": m.id },
      h("span", { class: "avatar", "aria-hidden": "true" }, String(m.name || m.id).slice(0, 1).toUpperCase()),
      h("bdi", { class: "name", dir: "auto" }, m.name || m.id),
      h("span", { class: "muted small" }, roleLabel(m.role), m.muted ? ` · ${t("room.muted")}` : "", !m.publishing ? ` · ${t("room.offstage")}` : ""),
      speaking ? h("span", { class: "sr-only" }, t("room.speaking")) : null,
      controls ? controls(m) : null));
  }
  return ul;
}

function pinBox(view) {
  if (!view || !view.pin) return h("p", { class: "pinned", hidden: true });
  return h("p", { class: "pinned", "data-testid": "pin" }, h("strong", {}, t("room.pinned") + ": "),
    h("a", { href: view.pin, rel: "noopener noreferrer nofollow", target: "_blank", dir: "ltr" }, view.pin));
}

function reactionLine(totals) {
  const parts = Object.entries(totals).filter(([, n]) => n > 0);
  if (parts.length === 0) return h("p", { class: "muted", "data-testid": "reaction-totals" }, t("react.none"));
  return h("p", { class: "reactions", "data-testid": "reaction-totals" }, parts.map(([em, n]) => h("span", { class: "tally" }, `${em} ${n.toLocaleString(i18n.current())}`)));
}

function viewRoom(id) {
  const title = h("h1", { id: "room-title", dir: "auto" }, t("common.loading"));
  const badge = h("span");
  const count = h("span", { class: "count", "aria-live": "polite", "data-testid": "listeners" });
  const stageBox = h("div");
  const pinSlot = h("div");
  const desc = h("p", { class: "description", dir: "auto" });
  const notice = h("p", { class: "notice", "aria-live": "polite", "data-testid": "notice" });
  const status = h("p", { class: "muted", "aria-live": "polite", "data-testid": "player-status" }, t("player.stopped"));
  const level = meter(t("player.level"), "program-level");
  const extras = h("div", { class: "stack" });
  const totals = {};
  const totalsSlot = h("div", {}, reactionLine(totals));
  const recSlot = h("span");
  const replaySlot = h("div");
  const safetySlot = h("div", { "aria-live": "assertive" });
  let view = null;
  let said = new Set(); // who talks, from the room's "speaking" events and state
  let removed = false;
  const me = api.user();

  const player = new Player(id, (state, info) => {
    const msg = {
      connecting: t("player.connecting"), playing: t("player.playing"), stopped: t("player.stopped"),
      reconnecting: t("player.reconnecting", { s: info.seconds || 1 }),
      waiting: info.pow ? t("room.waiting.pow") : t("room.waiting.body") + (info.position !== undefined ? " " + t("room.waiting.position", { n: info.position }) : ""),
      scheduled: t("room.scheduled.body"), ended: t("room.ended.body"), removed: t("room.removed.body"),
    }[state] || "";
    status.textContent = msg;
    if (state === "notfound") { notFound(); return; }
    if (state === "waiting") badge.replaceChildren(stateBadge("waiting"));
    if (state === "removed") removed = true;
    if (state === "ended" || state === "removed") { badge.replaceChildren(stateBadge(state)); play.disabled = true; }
    playLabel();
  });
  // playLabel: Play; Stop while it plays or connects; while a scheduled room
  // has not started, that it waits (pressing again stops waiting).
  function playLabel() {
    const waits = player.running && (player.s.state === "scheduled" || (view && view.state === "scheduled"));
    play.textContent = !player.running ? t("player.play") : waits ? t("player.waitstart") : t("player.stop");
    play.setAttribute("aria-pressed", player.running ? "true" : "false");
  }
  window.majlisPlayer = { stats: () => player.stats(), player };
  const play = h("button", { class: "play", id: "play", "aria-pressed": "false", onclick: () => {
    if (player.running) player.stop(); else player.start();
  } }, t("player.play"));
  onLeave(() => player.stop());
  // A scheduled room's countdown and reminder; the reminder's button
  // listens once the room is live.
  const coming = upcoming(id, () => { if (!player.running) player.start(); });
  onLeave(() => coming.stop());

  let extrasKey = "";
  loadReactions().then(() => renderExtras()).catch(() => {});
  function renderExtras() {
    const parts = [];
    const live = view && view.state === "live" && !removed;
    // Rebuild only when what is shown changes: rebuilding on every counts
    // event would take keyboard focus away from the buttons.
    const key = JSON.stringify([live, me && me.id, view && view.stage.map((m) => m.id), view && (view.requests || []).map((r) => r.id), !!reactionSet, view && view.recording]);
    if (key === extrasKey) return;
    extrasKey = key;
    if (me && live) {
      parts.push(h("section", { class: "card stack", "aria-labelledby": "react-h" }, h("h2", { id: "react-h" }, t("react.title")),
        h("div", { class: "row" }, (reactionSet || []).map((em) => h("button", { class: "react", "data-emoji": em, "aria-label": t("react.send", { emoji: em }),
          onclick: () => api.call("POST", `/rooms/${encodeURIComponent(id)}/reactions`, { emoji: em }).catch((e) => { status.textContent = errorText(e); }) }, em))),
        totalsSlot));
      parts.push(clipButton(id));
      const onStage = view.stage.some((m) => m.id === me.id);
      const requested = (view.requests || []).some((r) => r.id === me.id);
      if (onStage) {
        parts.push(h("p", {}, h("a", { href: `/studio/${encodeURIComponent(id)}`, id: "to-studio" }, t("room.studio"))));
      } else {
        parts.push(h("div", { class: "row" }, h("button", { id: "request-speak", "aria-pressed": requested ? "true" : "false", onclick: async () => {
          try { await api.call(requested ? "DELETE" : "POST", `/rooms/${encodeURIComponent(id)}/requests`); feed.soon(); } catch (e) { status.textContent = errorText(e); }
        } }, requested ? t("speak.cancel") : t("speak.request")), requested ? h("span", { class: "muted", "data-testid": "request-state" }, t("speak.requested")) : null));
      }
    } else if (!me && live) {
      parts.push(h("p", {}, h("a", { href: "/signin?next=" + encodeURIComponent(location.pathname) }, t("speak.signin"))));
    }
    extras.replaceChildren(...parts);
  }

  const feed = new RoomFeed(id, (v) => {
    if (!v) { notFound(); return; }
    view = v;
    if (Array.isArray(v.speaking)) said = new Set(v.speaking);
    api.remember(v);
    title.textContent = v.title;
    document.title = `${v.title} · ${t("app.name")}`;
    if (!removed && player.s.state !== "waiting") badge.replaceChildren(stateBadge(v.state));
    count.textContent = tn("room.listeners", (v.counts && v.counts.listeners) || 0);
    if (v.state === "live") player.wake();
    desc.textContent = v.description || "";
    desc.hidden = !v.description;
    const when = v.scheduled_at ? new Date(v.scheduled_at).toLocaleString(i18n.current(), { dateStyle: "full", timeStyle: "short" }) : "";
    notice.textContent = v.state === "scheduled" ? t("room.scheduled.body") + (when ? " " + t("room.scheduled.at", { when }) : "") : v.state === "ended" ? t("room.ended.body") : "";
    play.disabled = v.state === "ended" || removed;
    playLabel();
    coming.update(v);
    pinSlot.replaceChildren(pinBox(v));
    recSlot.replaceChildren(recBadge(v));
    if (v.state === "ended" && !replaySlot.childElementCount) replaySlot.append(replaySection(id));
    renderStage();
    renderExtras();
  }, (ev) => {
    if (ev.type === "reactions" && ev.data && ev.data.counts) {
      for (const [em, n] of Object.entries(ev.data.counts)) totals[em] = (totals[em] || 0) + n;
      totalsSlot.replaceChildren(reactionLine(totals));
    }
    if (ev.type === "speaking" && ev.data) { said = new Set(ev.data.speakers || []); if (view) renderStage(); }
    const told = decisionNotice(ev, me);
    if (told) safetySlot.replaceChildren(told);
    const who = ev.data && (ev.data.change ? ev.data.change.user : ev.data.user);
    if (ev.type === "blocked" && me && who === me.id) {
      removed = true;
      player.stop();
      player.setState("removed");
      renderExtras();
    }
  });
  // A joined listener follows the room's events on the server the join
  // placed it on (an edge), not the origin.
  player.onJoin = (j) => { if (j.events) feed.useEvents(j.events); };
  feed.start();
  onLeave(() => feed.stop());
  // notFound replaces the page by what an unknown room is: nothing to play.
  function notFound() {
    feed.stop();
    player.stop();
    coming.stop();
    clearInterval(levelTimer);
    document.title = `${t("state.notfound")} · ${t("app.name")}`;
    page.replaceChildren(h("h1", {}, t("state.notfound")), h("p", {}, t("room.notfound.body")),
      h("p", {}, h("a", { href: "/" }, t("notfound.home"))));
  }
  let stageKey = "";
  // Who talks: the WebSocket player's chunk levels while it plays, the
  // room's "speaking" events (said) otherwise (Ogg, HLS, not playing).
  const talking = (id) => player.running && player.s.transport === "ws" && player.s.state === "playing" ? player.talkers.talking(id) : said.has(id);
  function renderStage() {
    const key = JSON.stringify([view.stage, view.stage.map((m) => talking(m.id))]);
    if (key === stageKey) return;
    stageKey = key;
    stageBox.replaceChildren(stageList(view, talking));
  }
  const levelTimer = setInterval(() => {
    setMeter(level, player.s.level);
    if (view) renderStage();
  }, 250);
  onLeave(() => clearInterval(levelTimer));

  // A notice (Art. 16 DSA) about the room, a speaker or the replay, at the
  // moment the listener is at, as the API's from_s: seconds into the room.
  // Live, the time since the room started; in the replay, its position
  // plus where the recording began in the room and what the host trimmed
  // (a recording paused and resumed leaves a gap this does not see).
  const reportAt = async () => {
    const r = await api.getRoom(id);
    if (!r.started_at) return undefined;
    const started = new Date(r.started_at).getTime();
    const replay = document.querySelector("[data-testid=replay-audio]");
    if (r.state === "ended" && replay) {
      const rec = await api.call("GET", `/rooms/${encodeURIComponent(id)}/recording`);
      const began = rec.created ? Math.max(0, (new Date(rec.created).getTime() - started) / 1000) : 0;
      return began + (rec.trimmed_s || 0) + replay.currentTime;
    }
    return Math.max(0, (Date.now() - started) / 1000);
  };
  const report = reportCard(id, () => view, reportAt);

  const page = h("section", { class: "stack room" },
    h("header", { class: "room-head" }, title, h("div", { class: "row" }, badge, recSlot, count)),
    shareButton(`${location.origin}/r/${encodeURIComponent(id)}`, () => (view ? view.title : "")),
    desc, notice, coming.reminder, coming.section, safetySlot, pinSlot, replaySlot,
    h("section", { class: "card", "aria-labelledby": "stage-h" }, h("h2", { id: "stage-h" }, t("room.stage")), stageBox),
    h("section", { class: "card stack player" }, h("div", { class: "row" }, play, status), level),
    extras, report);
  return page;
}

// ---- studio --------------------------------------------------------------

function viewStudio(id) {
  if (!api.signedIn()) return h("section", { class: "stack" }, h("h1", {}, t("studio.title")), h("p", {}, h("a", { href: "/signin?next=" + encodeURIComponent(location.pathname) }, t("studio.signin"))));
  const me = api.user();
  const title = h("h1", { dir: "auto" }, t("common.loading"));
  const badge = h("span");
  const count = h("span", { class: "count", "aria-live": "polite", "data-testid": "listeners" });
  const out = h("div", { "aria-live": "assertive" });
  const status = h("p", { "aria-live": "polite", "data-testid": "studio-status" }, t("studio.status.idle"));
  const level = meter(t("studio.mic.level"), "mic-level");
  const link = `${location.origin}/r/${encodeURIComponent(id)}`;
  const stageBox = h("div");
  const requestsBox = h("div");
  const countsBox = h("div");
  const pinSlot = h("div");
  const totals = {};
  const totalsSlot = h("div", {}, reactionLine(totals));
  const manage = h("div", { class: "stack" });
  const recSlot = h("span");
  const recCard = h("div");
  const recNotice = h("span", { hidden: true }, t("rec.speaker"));
  let recKey = "";
  let view = null;
  let stageKey = "";
  let said = new Set(); // who talks: the room's "speaking" events
  const talking = (sid) => said.has(sid);
  function renderStage() {
    // The controls follow one's role too: a hand-over changes them with no change on the stage.
    const key = JSON.stringify([view.stage, canModerate(), myRole(), view.stage.map((m) => talking(m.id))]);
    if (key === stageKey) return;
    stageKey = key;
    stageBox.replaceChildren(stageList(view, talking, memberControls));
  }
  let requestsKey = "";

  const pub = new Publisher(id, (state, info) => {
    status.textContent = {
      idle: t("studio.status.idle"), connecting: t("studio.status.connecting"), live: t("studio.status.live"),
      muted: t("studio.status.muted"), denied: t("studio.mic.denied"), failed: t("studio.status.failed", { message: errorText(info.error || new TypeError()) }),
      reconnecting: info.seconds ? tn("studio.status.reconnecting", info.seconds) : t("studio.status.connecting"),
    }[state] || "";
    const on = state === "live" || state === "muted" || state === "connecting" || state === "reconnecting";
    golive.textContent = on ? t("studio.leave") : t("studio.golive");
    golive.setAttribute("aria-pressed", on ? "true" : "false");
    mute.disabled = !on;
  });
  pub.onLevel = (rms) => setMeter(level, rms);
  window.majlisStudio = { stats: () => pub.stats(), publisher: pub };
  onLeave(() => pub.stop());

  const rid = encodeURIComponent(id);
  const act = (method, path, body) => async () => {
    try {
      const v = await api.call(method, `/rooms/${rid}${path}`, body);
      // Actions on the stage answer the room's state view; start and end
      // answer the room itself (no counts): refetch the view then.
      if (v && v.stage && v.counts) feed.set(v); else feed.soon();
      out.replaceChildren();
      return true;
    } catch (e) { out.replaceChildren(errorBox(e)); return false; }
  };
  const start = h("button", { id: "start-room", onclick: act("POST", "/start") }, t("studio.start"));
  const end = h("button", { id: "end-room", class: "danger", onclick: () => { if (confirm(t("studio.end.confirm"))) { pub.stop(); act("POST", "/end")(); } } }, t("studio.end"));
  const golive = h("button", { id: "go-live", class: "primary", "aria-pressed": "false", onclick: () => {
    if (pub.want) pub.stop(); else pub.start();
  } }, t("studio.golive"));
  const mute = h("button", { id: "mute", disabled: true, "aria-pressed": "false", onclick: () => {
    if (mute.dataset.forced) { status.textContent = t("studio.forcedmuted"); return; }
    const m = !pub.s.muted;
    pub.setMuted(m);
    mute.textContent = m ? t("studio.unmute") : t("studio.mute");
    mute.setAttribute("aria-pressed", m ? "true" : "false");
    // Tell the room too, so the stage shows it (servers without the endpoint: the track alone).
    api.call("POST", `/rooms/${rid}/members/me/mute`, { muted: m }).catch(() => {});
  } }, t("studio.mute"));
  const copy = h("button", { onclick: async () => { try { await navigator.clipboard.writeText(link); copy.textContent = t("common.copied"); } catch { /* no clipboard */ } } }, t("common.copy"));

  // Moderation controls, shown to the host and co-hosts (and platform admins
  // and moderators) when the server has room roles.
  // The host holds the room whether or not they are on the stage now.
  const myRole = () => (view && me && view.host === me.id ? "host" : ((view && view.stage.find((m) => me && m.id === me.id)) || {}).role || "");
  const canRun = () => myRole() === "host" || myRole() === "cohost" || (me && (me.role === "admin" || me.role === "moderator"));
  const canModerate = () => view && feed.hasState && canRun();
  // Host-only: co-hosts made and demoted by the host (and platform staff),
  // the room handed over by the host (or a platform admin).
  const canHost = () => canModerate() && (myRole() === "host" || (me && (me.role === "admin" || me.role === "moderator")));
  const canHandOver = () => canModerate() && (myRole() === "host" || (me && me.role === "admin"));
  const leaveRole = h("button", { id: "leave-role", hidden: true, onclick: () => { pub.stop(); act("DELETE", "/speakers/me")(); } }, t("studio.leaverole"));
  // A co-host steps down to speaker, staying on stage.
  const stepDown = h("button", { id: "step-down", hidden: true, onclick: act("DELETE", "/cohosts/me") }, t("studio.stepdown"));
  const memberControls = (m) => {
    if (!canModerate() || (me && m.id === me.id) || m.role === "host") return null;
    const u = encodeURIComponent(m.id);
    return h("div", { class: "row controls" },
      h("button", { "data-action": "audience", onclick: act("DELETE", `/speakers/${u}`) }, t("studio.audience")),
      h("button", { "data-action": "mute", "aria-pressed": m.forced_mute ? "true" : "false", onclick: act("POST", `/members/${u}/mute`, { muted: !m.forced_mute }) }, m.forced_mute ? t("studio.forceunmute") : t("studio.forcemute")),
      m.role !== "cohost" && canHost() ? h("button", { "data-action": "cohost", onclick: act("POST", `/cohosts/${u}`) }, t("studio.cohost")) : null,
      m.role === "cohost" && canHost() ? h("button", { "data-action": "demote", onclick: act("DELETE", `/cohosts/${u}`) }, t("studio.demote")) : null,
      canHandOver() ? h("button", { "data-action": "host", onclick: () => { if (confirm(t("studio.host.confirm", { name: isolate(m.name || m.id) }))) act("POST", "/host", { user: m.id })(); } }, t("studio.host")) : null,
      h("button", { class: "danger", "data-action": "remove", onclick: () => { if (confirm(t("studio.remove.confirm", { name: isolate(m.name || m.id) }))) act("POST", `/blocks/${u}`)(); } }, t("studio.remove")));
  };

  const invite = (user) => act("POST", `/speakers/${encodeURIComponent(user)}`)();
  // The listener list, refreshed every few seconds while it is shown.
  const listeners = listenersCard(rid, invite, (user) => !!view && (view.host === user || view.stage.some((m) => m.id === user)));
  const listenersTimer = setInterval(() => { if (manage.childElementCount && view && view.state === "live") listeners.refresh(); }, listenersMs);
  onLeave(() => clearInterval(listenersTimer));

  function renderManage() {
    if (!canModerate()) { manage.replaceChildren(); return; }
    if (!manage.childElementCount && view.state === "live") listeners.refresh();
    const reqs = view.requests || [];
    const rk = JSON.stringify(reqs.map((r) => r.id));
    if (rk !== requestsKey) {
      requestsKey = rk;
      requestsBox.replaceChildren(reqs.length === 0 ? h("p", { class: "muted" }, t("studio.requests.empty")) :
      h("ul", { class: "requests", "data-testid": "requests" }, reqs.map((r) => h("li", { class: "row", "data-user": r.id },
        h("bdi", { class: "name", dir: "auto" }, r.name || r.id),
        h("button", { class: "primary", "data-action": "approve", onclick: act("POST", `/requests/${encodeURIComponent(r.id)}/approve`) }, t("studio.approve")),
        h("button", { "data-action": "deny", onclick: act("POST", `/requests/${encodeURIComponent(r.id)}/deny`) }, t("studio.deny"))))));
    }
    const c = view.counts || {};
    countsBox.replaceChildren(h("dl", { class: "counts" },
      h("dt", {}, t("studio.counts.listeners")), h("dd", { "data-testid": "count-listeners" }, (c.listeners || 0).toLocaleString(i18n.current())),
      h("dt", {}, t("studio.counts.peak")), h("dd", {}, (c.peak || 0).toLocaleString(i18n.current())),
      h("dt", {}, t("studio.counts.unique")), h("dd", {}, (c.unique || 0).toLocaleString(i18n.current()))));
    if (manage.childElementCount) return; // the forms keep what is being typed
    // Links read left to right in either language (the placeholder too).
    const pinIn = h("input", { id: "pin-url", type: "url", required: true, placeholder: "https://", dir: "ltr" });
    manage.replaceChildren(
      h("section", { class: "card stack", "aria-labelledby": "req-h" }, h("h2", { id: "req-h" }, t("studio.requests")), requestsBox),
      h("section", { class: "card stack", "aria-labelledby": "counts-h" }, h("h2", { id: "counts-h" }, t("studio.counts")), countsBox, h("h3", {}, t("studio.reactions")), totalsSlot),
      inviteByName(rid, invite),
      listeners.el,
      h("section", { class: "card stack", "aria-labelledby": "pin-h" }, h("h2", { id: "pin-h" }, t("studio.pin")), pinSlot,
        h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); act("PUT", "/pin", { url: pinIn.value.trim() })(); pinIn.value = ""; } },
          h("label", { for: "pin-url" }, t("studio.pin.label")), pinIn, h("button", { type: "submit", id: "pin-submit" }, t("studio.pin")),
          h("button", { type: "button", onclick: act("DELETE", "/pin") }, t("studio.unpin")))));
  }

  const micCard = h("section", { class: "card stack", "aria-labelledby": "mic-h", hidden: true }, h("h2", { id: "mic-h" }, t("studio.mic")),
    h("div", { class: "row" }, golive, mute), level, status,
    h("p", { class: "notice", "data-testid": "rec-notice", "aria-live": "polite" }, recNotice),
    h("p", { class: "muted small", "data-testid": "evidence-notice" }, t("rec.notice")));
  const offStage = h("p", { class: "card", "data-testid": "not-on-stage", hidden: true }, t("studio.notonstage"), " ",
    h("a", { href: `/r/${encodeURIComponent(id)}` }, t("studio.listen")));

  const feed = new RoomFeed(id, (v) => {
    if (!v) { title.textContent = t("state.notfound"); micCard.hidden = offStage.hidden = true; return; }
    view = v;
    if (Array.isArray(v.speaking)) said = new Set(v.speaking);
    api.remember(v);
    title.textContent = v.title;
    document.title = `${t("studio.title")}: ${v.title} · ${t("app.name")}`;
    badge.replaceChildren(stateBadge(v.state));
    count.textContent = tn("room.listeners", (v.counts && v.counts.listeners) || 0);
    const runs = !feed.hasState || canRun();
    start.hidden = v.state !== "scheduled" || !runs;
    end.hidden = v.state === "ended" || !runs;
    const role = myRole();
    leaveRole.hidden = !(role === "speaker" || role === "cohost");
    stepDown.hidden = role !== "cohost";
    // Only members of the stage publish (room decides; without the state
    // endpoint the page cannot tell, and offers it).
    const canPublish = !feed.hasState || role === "host" || role === "cohost" || role === "speaker";
    micCard.hidden = !canPublish && !pub.pc;
    offStage.hidden = !micCard.hidden;
    const mine = v.stage.find((m) => me && m.id === me.id);
    if (mine && mine.forced_mute) {
      pub.setMuted(true);
      mute.textContent = t("studio.unmute");
      mute.setAttribute("aria-pressed", "true");
      status.textContent = t("studio.forcedmuted");
    }
    mute.dataset.forced = mine && mine.forced_mute ? "1" : "";
    pub.checkServer(mine); // the server lost the session (a restart): publish again
    golive.disabled = v.state !== "live";
    if (v.state === "ended" && pub.pc) pub.stop();
    renderStage();
    pinSlot.replaceChildren(pinBox(v));
    recSlot.replaceChildren(recBadge(v));
    recNotice.hidden = !v.recording;
    const rk = JSON.stringify([v.state, v.recording, v.recording_error, canRun()]);
    if (rk !== recKey) { recKey = rk; recCard.replaceChildren(canRun() ? hostRecording(id, v, () => feed.soon()) : ""); }
    renderManage();
  }, (ev) => {
    if (ev.type === "reactions" && ev.data && ev.data.counts) {
      for (const [em, n] of Object.entries(ev.data.counts)) totals[em] = (totals[em] || 0) + n;
      totalsSlot.replaceChildren(reactionLine(totals));
    }
    // The studio does not play the program: its rings follow the room's
    // "speaking" events.
    if (ev.type === "speaking" && ev.data) { said = new Set(ev.data.speakers || []); if (view) renderStage(); }
    const told = decisionNotice(ev, me);
    if (told) out.replaceChildren(told);
  });
  feed.start();
  onLeave(() => feed.stop());

  return h("section", { class: "stack studio" },
    h("header", { class: "room-head" }, h("p", { class: "muted" }, t("studio.title")), title, h("div", { class: "row" }, badge, recSlot, count)),
    h("div", { class: "row" }, start, end, leaveRole, stepDown), out,
    micCard, offStage,
    recCard,
    h("section", { class: "card", "aria-labelledby": "stage-h" }, h("h2", { id: "stage-h" }, t("room.stage")), stageBox),
    manage,
    h("section", { class: "card stack", "aria-labelledby": "link-h" }, h("h2", { id: "link-h" }, t("studio.listen.link")),
      h("div", { class: "row" }, h("a", { href: link, "data-testid": "listen-link", dir: "ltr" }, link), copy)));
}

// ---- moderation ----------------------------------------------------------

// isStaff: the signed-in user is a platform moderator or admin (the server
// decides every action; the page only leaves out what would be refused).
function isStaff() {
  const me = api.user();
  return !!me && (me.role === "admin" || me.role === "moderator");
}

function viewMod() {
  const root = h("section", { class: "stack" }, h("h1", {}, t("mod.title")));
  if (!api.signedIn()) { root.append(h("p", {}, h("a", { href: "/signin?next=/mod" }, t("mod.signin")))); return root; }
  if (!isStaff()) { root.append(h("p", { class: "card" }, t("mod.forbidden"))); return root; }
  const list = h("ul", { class: "rooms", "data-testid": "mod-rooms" });
  const out = h("div", { "aria-live": "assertive" });
  const idIn = h("input", { id: "mod-room", required: true, autocomplete: "off" });
  const ids = new Set(api.recent().map((r) => r.id));
  const refresh = async () => {
    const rows = [];
    try { for (const r of await api.listRooms("live")) ids.add(r.id); } catch { /* looked-up rooms still show */ }
    for (const rid of ids) {
      try {
        const r = await api.getRoom(rid);
        if (r.state === "ended") continue;
        rows.push(h("li", { class: "row", "data-room": r.id }, h("a", { href: `/r/${encodeURIComponent(r.id)}`, dir: "auto" }, r.title), stateBadge(r.state),
          h("span", { class: "count" }, tn("room.listeners", r.listeners || 0)),
          h("a", { href: `/studio/${encodeURIComponent(r.id)}` }, t("mod.moderate")),
          h("button", { class: "danger", onclick: async () => {
            if (!confirm(t("studio.end.confirm"))) return;
            try { await api.call("POST", `/rooms/${encodeURIComponent(r.id)}/end`); refresh(); } catch (e) { out.replaceChildren(errorBox(e)); }
          } }, t("mod.end"))));
      } catch { /* gone */ }
    }
    list.replaceChildren(...(rows.length ? rows : [h("li", { class: "muted" }, t("mod.rooms.empty"))]));
  };
  poll(refresh);
  root.append(
    h("section", { class: "card stack", "aria-labelledby": "modrooms-h" }, h("h2", { id: "modrooms-h" }, t("mod.rooms")), list,
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); ids.add(idIn.value.trim()); refresh(); } },
        h("label", { for: "mod-room" }, t("mod.lookup")), idIn, h("button", { type: "submit" }, t("common.open")))),
    out,
    modQueue(poll),
    modComplaints(poll),
    modOwnInitiative(),
    modFlaggers(poll),
    modMisuse(),
    modAudit(),
    modExport());
  return root;
}

// ---- sign in / sign up -----------------------------------------------------

function safeNext() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

// credentialsForm is the name + password form of sign-in and sign-up.
function credentialsForm(kind) {
  const name = h("input", { id: `${kind}-name`, name: "username", required: true, autocomplete: "username", maxlength: "64" });
  const pw = h("input", { id: `${kind}-password`, name: "password", type: "password", required: true,
    autocomplete: kind === "signup" ? "new-password" : "current-password" });
  const out = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "card stack", onsubmit: async (e) => {
    e.preventDefault();
    const send = (hdr) => api.call("POST", kind === "signup" ? "/signup" : "/login", { name: name.value.trim(), password: pw.value }, hdr);
    try {
      let u;
      try {
        u = await send();
      } catch (err) {
        // After failed sign-ins, or while the server is under load, a
        // browser the account has not signed in from before (and every
        // sign-up under load) proves a little work first (docs/api.md,
        // Accounts).
        if (err.code !== "pow_required" || !err.data || !err.data.pow) throw err;
        out.replaceChildren(h("p", { class: "muted", role: "status" }, t("auth.pow")));
        u = await send({ "Majlis-Pow": await api.solvePoW(err.data.pow.challenge, err.data.pow.difficulty) });
      }
      api.setMe(u);
      go(safeNext());
    } catch (err) {
      const msg = err.code === "signup_disabled" ? t("auth.signup.unavailable")
        : err.code === "busy" ? t("auth.busy", { s: Math.max(1, Math.ceil(err.retryAfter || 1)) })
        : err.code === "name_reserved" ? t("auth.reserved")
        : err.code === "bad_credentials" ? t("error.bad_credentials")
        : t("auth.failed", { message: errorText(err) });
      out.replaceChildren(h("p", { class: "error", role: "alert" }, msg));
    }
  } }, h("label", { for: `${kind}-name` }, t("auth.name")), name, h("label", { for: `${kind}-password` }, t("auth.password")), pw,
    h("button", { type: "submit", class: "primary" }, t(kind === "signup" ? "auth.submit.signup" : "auth.submit.signin")), out);
  return form;
}

function viewSignin() {
  const tok = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off", "aria-describedby": "token-help" });
  const out = h("div", { "aria-live": "assertive" });
  return h("section", { class: "stack narrow" }, h("h1", {}, t("auth.signin.title")),
    credentialsForm("signin"),
    h("details", {}, h("summary", {}, t("auth.or.token")),
      h("form", { class: "card stack", id: "token-form", onsubmit: async (e) => {
        e.preventDefault();
        localStorage.setItem(api.tokenKey, tok.value.trim());
        await api.loadMe();
        go(safeNext());
      } }, h("label", { for: "token" }, t("auth.token")), tok, h("p", { class: "muted", id: "token-help" }, t("auth.token.help")),
        h("button", { type: "submit" }, t("auth.submit.signin")))), out,
    api.signupEnabled() ? h("p", {}, h("a", { href: "/signup" }, t("nav.signup"))) : null);
}

function viewSignup() {
  return h("section", { class: "stack narrow" }, h("h1", {}, t("auth.signup.title")),
    api.signupEnabled() ? credentialsForm("signup") : h("p", { class: "card" }, t("auth.signup.unavailable")),
    h("p", {}, h("a", { href: "/signin" }, t("nav.signin"))));
}

function viewNotFound() {
  document.title = `${t("notfound.title")} · ${t("app.name")}`;
  return h("section", { class: "stack" }, h("h1", {}, t("notfound.title")), h("p", {}, t("notfound.body")),
    h("p", {}, h("a", { href: "/" }, t("notfound.home"))));
}

// ---- shell ---------------------------------------------------------------

const routes = [
  [/^\/$/, viewHome],
  [/^\/r\/([^/]+)$/, viewRoom],
  [/^\/studio\/([^/]+)$/, viewStudio],
  [/^\/c\/([^/]+)$/, viewClip],
  [/^\/mod$/, viewMod],
  [/^\/safety$/, viewSafety],
  [/^\/report\/([^/]+)$/, viewReportStatus],
  [/^\/transparency$/, viewTransparency],
  [/^\/signin$/, viewSignin],
  [/^\/signup$/, viewSignup],
];

function render() {
  for (const f of cleanup) f();
  cleanup = [];
  const path = location.pathname;
  let view = null;
  for (const [re, v] of routes) {
    const m = path.match(re);
    if (m) { view = v(...m.slice(1).map(decodeURIComponent)); break; }
  }
  main().replaceChildren(view || viewNotFound());
  shell();
}

function go(path) {
  history.pushState(null, "", path);
  render();
  main().focus();
}

function shell() {
  i18n.apply();
  document.getElementById("signin").hidden = api.signedIn();
  document.getElementById("signup").hidden = api.signedIn() || !api.signupEnabled();
  document.getElementById("signout").hidden = !api.signedIn();
  document.getElementById("nav-mod").hidden = !isStaff();
  document.getElementById("nav-safety").hidden = !api.signedIn();
  const sw = document.getElementById("lang");
  sw.textContent = t("lang.switch");
  sw.lang = i18n.other();
}

async function boot() {
  await Promise.all([i18n.load(i18n.pickLang()), api.loadMe(), api.loadSignup()]);
  document.getElementById("lang").addEventListener("click", async () => {
    const l = i18n.other();
    i18n.setLang(l);
    await i18n.load(l);
    render();
  });
  document.getElementById("signout").addEventListener("click", async () => {
    await api.call("POST", "/logout").catch(() => {});
    localStorage.removeItem(api.tokenKey);
    api.setMe(null);
    await api.loadMe();
    render();
  });
  // Internal links navigate without reloading (a playing room keeps playing in other tabs only).
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a");
    if (!a || a.target || a.origin !== location.origin || a.pathname.startsWith("/api/") || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    go(a.pathname + a.search);
  });
  addEventListener("popstate", render);
  render();
}

boot();
