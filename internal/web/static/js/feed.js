// RoomFeed keeps a room's state (the view of GET /rooms/{id}/state) current:
// it follows the room's event stream (Server-Sent Events; EventSource resumes
// with Last-Event-ID by itself) and refetches the state when something other
// than counts or reactions changes. A server without the state endpoint or
// the stream is polled instead (GET /rooms/{id}), so the pages work with both.
import { call, APIError } from "./api.js";

const pollMs = 2000;
const refetchDelay = 150; // ms: events arrive in bursts; one fetch per burst

// fromRoom maps the core room JSON to the state view's shape.
function fromRoom(r) {
  return {
    id: r.id, title: r.title, state: r.state, host: r.host, pin: r.pin || "", requests: [],
    stage: (r.stage || []).map((id) => ({ id, name: id, role: id === r.host ? "host" : "speaker", publishing: true, muted: false })),
    counts: { listeners: r.listeners || 0 },
  };
}

export class RoomFeed {
  // onView(view) after every change; onEvent(ev) for each event (reactions, blocks…).
  constructor(id, onView, onEvent) {
    this.id = id;
    this.onView = onView;
    this.onEvent = onEvent || (() => {});
    this.view = null;
    this.hasState = true;
  }

  start() {
    this.stopped = false;
    this.refetch();
    if (typeof EventSource === "undefined") { this.poll(); return; }
    const es = new EventSource(`/api/v1/rooms/${encodeURIComponent(this.id)}/events`);
    this.es = es;
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      this.apply(ev);
    };
    es.onerror = () => {
      // CLOSED means the server refused the stream (no such endpoint, or an
      // error status): poll. Otherwise EventSource reconnects by itself.
      if (es.readyState === EventSource.CLOSED && !this.stopped) { this.es = null; this.poll(); }
    };
  }

  stop() {
    this.stopped = true;
    if (this.es) { this.es.close(); this.es = null; }
    clearInterval(this.timer);
    clearTimeout(this.pending);
  }

  poll() {
    if (this.timer) return;
    this.timer = setInterval(() => this.refetch(), pollMs);
  }

  apply(ev) {
    this.onEvent(ev);
    // State changes carry the whole new state: {"change":…, "room":<state>}.
    if (ev.data && ev.data.room && ev.data.room.stage) {
      this.set(ev.data.room);
      if (ev.type === "room_ended" && this.es) { this.es.close(); this.es = null; }
      return;
    }
    switch (ev.type) {
      case "snapshot":
        if (ev.data) this.set(ev.data); else this.soon();
        break;
      case "counts":
        if (this.view) { this.view.counts = ev.data; this.onView(this.view); }
        break;
      case "reactions":
      case "speaking":
        break;
      case "room_ended":
        this.soon();
        // The stream ends with the room; stop EventSource from reconnecting to it.
        if (this.es) { this.es.close(); this.es = null; }
        break;
      default:
        this.soon();
    }
  }

  soon() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refetch(), refetchDelay);
  }

  // set shows v unless it is older than the view shown: a fetch answered
  // before an event already applied must not undo it (View.Version).
  set(v) {
    if (v && v.version && this.view && this.view.version > v.version) return;
    this.view = v;
    this.onView(v);
  }

  async refetch() {
    const id = encodeURIComponent(this.id);
    try {
      if (this.hasState) {
        try {
          this.set(await call("GET", `/rooms/${id}/state`));
          return;
        } catch (e) {
          if (!(e instanceof APIError) || e.code !== "not_found") throw e;
          this.hasState = false; // an older server: the core room JSON
        }
      }
      this.set(fromRoom(await call("GET", `/rooms/${id}`)));
    } catch (e) {
      if (e instanceof APIError && e.status === 404) this.onView(null);
    }
  }
}
