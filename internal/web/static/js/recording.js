// Recording, replay and clips in the web app: the REC badge, the replay
// player of an ended room (/r/{id}), the host's recording controls in the
// studio and the clip page (/c/{id}). The server's API is docs/api.md's
// "Recording, replay and clips".
import * as i18n from "./i18n.js";
import { t, tn, isolate } from "./i18n.js";
import * as api from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";
import { reportCard } from "./safety.js";

const rooms = (id) => `/rooms/${encodeURIComponent(id)}`;
export const speeds = [1, 1.5, 2];

// recBadge is shown while the room is being recorded.
export function recBadge(view) {
  if (!view || !view.recording) return h("span", { hidden: true });
  return h("span", { class: "badge badge-rec", "data-testid": "rec", title: t("rec.title") }, t("rec.badge"));
}

function mmss(s) {
  s = Math.max(0, Math.floor(s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// player is an <audio> element with seek and speed controls.
function player(src, testid) {
  const audio = h("audio", { controls: true, preload: "metadata", src, "data-testid": testid });
  const speed = h("div", { class: "row", role: "group", "aria-label": t("replay.speed") }, speeds.map((s) =>
    h("button", { type: "button", "data-speed": String(s), "aria-pressed": s === 1 ? "true" : "false", onclick: (e) => {
      audio.playbackRate = s;
      for (const b of e.target.parentElement.children) b.setAttribute("aria-pressed", b === e.target ? "true" : "false");
    } }, `${s.toLocaleString(i18n.current())}×`)));
  const back = h("button", { type: "button", onclick: () => { audio.currentTime = Math.max(0, audio.currentTime - 15); } }, t("replay.back"));
  const fwd = h("button", { type: "button", onclick: () => { audio.currentTime += 15; } }, t("replay.forward"));
  return { audio, el: h("div", { class: "stack" }, audio, h("div", { class: "row" }, back, fwd, speed)) };
}

// clipButton makes a clip: of the last 30 s of a live room, or of 30 s
// from the replay's position.
export function clipButton(id, from) {
  const out = h("span", { "aria-live": "polite" });
  const btn = h("button", { type: "button", "data-testid": "make-clip", onclick: async () => {
    try {
      const body = { seconds: 30 };
      const f = from ? from() : undefined;
      if (f !== undefined) body.from_s = f;
      const c = await api.call("POST", `${rooms(id)}/clips`, body);
      out.replaceChildren(h("a", { href: c.page, "data-testid": "clip-link" }, t("clip.made")));
    } catch (e) {
      out.textContent = e.code === "clips_off" ? t("clip.off") : errorText(e);
    }
  } }, from ? t("clip.here") : t("clip.last"));
  return h("div", { class: "row" }, btn, out);
}

// replaySection is the replay of an ended room, when there is one the
// caller may hear.
export function replaySection(id) {
  const box = h("section", { class: "card stack", "aria-labelledby": "replay-h", hidden: true, "data-testid": "replay" },
    h("h2", { id: "replay-h" }, t("replay.title")));
  // Just after the end the file is still being closed ("recording"): ask
  // again for a while, as long as the page shows the box.
  let tries = 0;
  const load = () => api.call("GET", `${rooms(id)}/recording`).then((r) => {
    if (r.state === "recording" && tries++ < 20) { setTimeout(() => { if (box.isConnected) load(); }, 1000); return; }
    if (r.state !== "finished" && r.state !== "paused") return;
    // Safari plays HLS natively and Ogg not at all: the HLS VOD rendition there.
    const hls = r.hls && !document.createElement("audio").canPlayType("audio/ogg; codecs=opus") &&
      document.createElement("audio").canPlayType("application/vnd.apple.mpegurl");
    const p = player(hls ? r.hls : `/api/v1${rooms(id)}/recording.ogg`, "replay-audio");
    box.append(h("p", { class: "muted" }, t("replay.length", { d: mmss(r.duration_s) }), " · ", tn("replay.plays", r.plays || 0)), p.el);
    const chapters = r.chapters || [];
    if (chapters.length) {
      // Speaker turns kept while live: jump to the next one, or to any.
      box.append(h("div", { class: "row" }, h("button", { type: "button", "data-testid": "next-speaker", onclick: () => {
        const next = chapters.find((c) => c.t_s > p.audio.currentTime + 0.5);
        if (next) p.audio.currentTime = next.t_s;
      } }, t("replay.next"))),
      h("ol", { class: "chapters", "aria-label": t("replay.chapters") }, chapters.map((c) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => { p.audio.currentTime = c.t_s; } }, t("replay.chapter", { name: isolate(c.name || c.user), t: mmss(c.t_s) }))))));
    }
    if (api.signedIn() && r.clips) box.append(clipButton(id, () => p.audio.currentTime));
    box.hidden = false;
  }, () => {});
  load();
  return box;
}

// hostRecording is the studio's recording card for those who run the room.
export function hostRecording(id, view, refresh) {
  const out = h("div", { "aria-live": "polite" });
  const card = h("section", { class: "card stack", "aria-labelledby": "rec-h" }, h("h2", { id: "rec-h" }, t("rec.studio.title")));
  const act = async (method, path, body) => {
    try { await api.call(method, `${rooms(id)}${path}`, body); out.replaceChildren(); refresh(); } catch (e) { out.textContent = errorText(e); }
  };
  if (view.state !== "ended") {
    card.append(h("button", { id: "recording-toggle", "aria-pressed": view.recording ? "true" : "false",
      onclick: () => act("POST", "/recording", { on: !view.recording }) }, view.recording ? t("rec.stop") : t("rec.start")));
  }
  if (view.recording_error) card.append(h("p", { class: "error", role: "alert" }, t("rec.error", { message: view.recording_error })));
  api.call("GET", `${rooms(id)}/recording`).then((r) => {
    card.append(h("p", { class: "muted", "data-testid": "rec-storage" }, t("rec.storage", { mb: (r.bytes / 1e6).toLocaleString(i18n.current(), { maximumFractionDigits: 1 }), d: mmss(r.duration_s) })));
    if (r.state === "finished" || r.state === "paused") {
      const trim = h("input", { id: "trim-s", type: "number", min: "1", step: "1", required: true });
      card.append(
        h("div", { class: "row" },
          h("a", { href: `/api/v1${rooms(id)}/recording.ogg`, download: `${id}.ogg` }, t("rec.download")),
          h("button", { "aria-pressed": r.public ? "true" : "false", onclick: () => act("PATCH", "/recording", { public: !r.public }) }, r.public ? t("rec.public.off") : t("rec.public.on")),
          h("button", { "aria-pressed": r.clips ? "true" : "false", onclick: () => act("PATCH", "/recording", { clips: !r.clips }) }, r.clips ? t("rec.clips.off") : t("rec.clips.on")),
          h("button", { class: "danger", onclick: () => { if (confirm(t("rec.delete.confirm"))) act("DELETE", "/recording"); } }, t("rec.delete"))),
        h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); act("PATCH", "/recording", { trim_start_s: Number(trim.value) }); } },
          h("label", { for: "trim-s" }, t("rec.trim.label")), trim, h("button", { type: "submit" }, t("rec.trim"))));
    }
  }, () => {});
  card.append(out);
  return card;
}

// viewClip is the page of a clip (/c/{id}).
export function viewClip(id) {
  const root = h("section", { class: "stack narrow" }, h("h1", {}, t("clip.title")));
  api.call("GET", `/clips/${encodeURIComponent(id)}`).then((c) => {
    const p = player(c.ogg, "clip-audio");
    const link = `${location.origin}${c.page}`;
    root.append(h("section", { class: "card stack" }, p.el,
      h("p", { class: "muted" }, t("clip.length", { s: Math.round(c.seconds) }), " · ", h("a", { href: `/r/${encodeURIComponent(c.room)}` }, t("clip.room"))),
      h("p", {}, t("clip.share"), " ", h("a", { href: link, "data-testid": "clip-share", dir: "ltr" }, link))),
    reportCard(c.room, () => null, () => undefined, id));
  }, (e) => root.append(h("p", { class: "error", role: "alert" }, e.status === 410 ? t("clip.gone") : t("state.notfound"))));
  return root;
}
