// RoomFeed keeps a room's state (the view of GET /rooms/{id}/state) current:
// it follows the room's event stream (Server-Sent Events; EventSource resumes
// with Last-Event-ID by itself) and refetches the state when something other
// than counts or reactions changes. A server without the state endpoint or
// the stream is polled instead (GET /rooms/{id}), so the pages work with both.
import { call, APIError } from "./api.js";

const pollMs = 2000;
const maxAwayErrors = 3; // errors in a row on another server's stream before the page's own is used again
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
    this.home = `/api/v1/rooms/${encodeURIComponent(id)}/events`;
    this.url = this.home; // the stream followed: the page's server, or the edge a join placed the listener on
    this.seq = 0; // the last event's number: a stream on another server resumes after it (edges keep the origin's numbers)
  }

  start() {
    this.stopped = false;
    this.refetch();
    if (typeof EventSource === "undefined") { this.poll(); return; }
    this.open();
  }

  // useEvents follows the stream at url (an edge's, from a join answer)
  // from the last event seen.
  useEvents(url) {
    if (url === this.url || this.stopped || typeof EventSource === "undefined") return;
    this.url = url;
    if (this.es) { this.es.close(); this.es = null; }
    if (!this.ended) this.open();
  }

  open() {
    const url = this.seq ? `${this.url}${this.url.includes("?") ? "&" : "?"}since=${this.seq}` : this.url;
    const es = new EventSource(url);
    this.es = es;
    let fails = 0;
    es.onmessage = (m) => {
      fails = 0;
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.seq) this.seq = ev.seq;
      this.apply(ev);
    };
    es.onerror = () => {
      if (this.stopped || this.es !== es) return;
      if (this.url !== this.home && (es.readyState === EventSource.CLOSED || ++fails >= maxAwayErrors)) {
        // The edge is gone or refuses: back to the page's own server.
        es.close();
        this.url = this.home;
        this.open();
        return;
      }
      // CLOSED means the server refused the stream (no such endpoint, or an
      // error status): poll. Otherwise EventSource reconnects by itself.
      if (es.readyState === EventSource.CLOSED) { this.es = null; this.poll(); }
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
      if (ev.type === "room_ended") this.end();
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
        this.end();
        break;
      default:
        this.soon();
    }
  }

  // end: the stream ends with the room; stop EventSource from reconnecting to it.
  end() {
    this.ended = true;
    if (this.es) { this.es.close(); this.es = null; }
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
