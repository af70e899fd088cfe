// Player plays a room's program. The choice, in order: listen.ws decoded
// with WebCodecs where the browser has AudioDecoder for Opus; else the LL-HLS
// rendition (listen.hls) in an <audio> element, natively where the browser
// plays HLS (Safari, iOS) or through the vendored hls.js where Media Source
// Extensions take Opus in fMP4; else listen.ogg in an <audio> element. It joins
// (gets a ticket), connects, and on any loss reconnects by itself with
// jittered exponential backoff, honouring Retry-After from the join endpoint.
import { call, APIError, solvePoW } from "./api.js";
import { Talkers, parseLevels } from "./levels.js";

const backoffBase = 500; // ms
const wsFallbackAfter = 3; // WebSocket refusals in a row before the next transport
const backoffMax = 15000; // ms
// Playout: audio is scheduled this far ahead of the audio clock, plus one
// chunk (chunks grow from 40 ms up to 1 s with the audience, and arrive whole).
const leadSeconds = 0.15;
const slackSeconds = 0.5; // scheduled further ahead than lead + 2 chunks + this: drop frames to catch up
const maxLobbyWait = 10; // s: re-ask a scheduled room at least this often
const hlsJsPath = "/vendor/hls.js/hls.light.min.js"; // hls.js 1.6.15 (vendor/hls.js/README.md)
const hlsMime = 'audio/mp4; codecs="opus"';

// loadHlsJs loads the vendored hls.js once and resolves to its Hls class.
let hlsJs = null;
function loadHlsJs() {
  if (!hlsJs) {
    hlsJs = new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = hlsJsPath;
      el.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
      el.onerror = () => { hlsJs = null; reject(new Error("hls.js did not load")); };
      document.head.appendChild(el);
    });
  }
  return hlsJs;
}

// hlsSupport says how this browser can play LL-HLS: "native", "hlsjs" or "".
// Safari and iOS play it natively (their own LL-HLS player); elsewhere
// hls.js over Media Source Extensions, which must take Opus in fMP4 (newer
// Chromium also answers canPlayType for HLS, but its native player does not
// follow LL-HLS as hls.js does); the native player of other browsers last.
function hlsSupport() {
  const native = document.createElement("audio").canPlayType("application/vnd.apple.mpegurl") !== "";
  if (native && /Apple/.test(navigator.vendor || "")) return "native";
  const MS = window.ManagedMediaSource || window.MediaSource;
  if (MS && MS.isTypeSupported && MS.isTypeSupported(hlsMime)) return "hlsjs";
  return native ? "native" : "";
}

export class Player {
  // onState(state, info): state is connecting|playing|reconnecting|waiting|scheduled|ended|removed|stopped.
  constructor(roomId, onState) {
    this.roomId = roomId;
    this.onState = onState || (() => {});
    this.running = false;
    this.attempt = 0;
    // ?transport=ogg (or hls) forces that fallback (tests, and browsers whose WebCodecs misbehave).
    const transport = new URLSearchParams(location.search).get("transport");
    this.forceOgg = transport === "ogg";
    this.forceHLS = transport === "hls";
    this.s = { transport: "", frames: 0, level: 0, peak: 0, reconnects: 0, state: "stopped", lastSeq: -1, gaps: 0, errors: 0, dropped: 0, buffered: 0, chunk: 0, levelChunks: 0 };
    // Who talks, from the levels in the WebSocket chunks (levels.js).
    this.talkers = new Talkers();
    this.wsFails = 0; // WebSocket connections in a row that ended before a first message
    this.onJoin = null; // onJoin(answer) after each join: the page follows the room's events where the answer says
  }

  stats() { return { ...this.s }; }

  setState(state, info = {}) {
    this.s.state = state;
    this.onState(state, info);
  }

  // start must run in a user gesture (or with autoplay allowed) so audio may play.
  start() {
    if (this.running) return;
    this.running = true;
    this.ctx = this.ctx || new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
    this.ctx.resume();
    this.gain = this.gain || this.ctx.createGain();
    this.gain.connect(this.ctx.destination);
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.teardown();
    this.setState("stopped");
  }

  teardown() {
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    if (this.dec) { try { this.dec.close(); } catch { /* already closed */ } this.dec = null; }
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    if (this.audio) { this.audio.onended = this.audio.onerror = null; this.audio.pause(); this.audio.removeAttribute("src"); this.audio.load(); }
    clearInterval(this.meterTimer);
    clearTimeout(this.beatTimer);
    this.talkers.clear();
  }

  // retry schedules the next connect: at exactMs (plus a little jitter) when
  // the server named a time, else with full-jitter exponential backoff, never
  // sooner than minSeconds (Retry-After). docs/api.md, "Clients".
  retry(minSeconds = 0, exactMs = null) {
    this.teardown();
    if (!this.running) return 0;
    let ms;
    if (exactMs !== null) {
      ms = exactMs + Math.random() * 300;
    } else {
      const cap = Math.min(backoffMax, backoffBase * 2 ** this.attempt);
      ms = Math.max(minSeconds * 1000, Math.random() * cap);
    }
    this.attempt++;
    this.s.reconnects++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), ms);
    return ms;
  }

  // wake connects now if the player is waiting for the room to start.
  wake() {
    if (this.running && this.s.state === "scheduled") {
      clearTimeout(this.timer);
      this.connect();
    }
  }

  async connect() {
    if (!this.running) return;
    this.setState("connecting");
    let j;
    const hdr = {};
    if (this.queueToken) hdr["Majlis-Queue"] = this.queueToken;
    if (this.pow) { hdr["Majlis-Pow"] = this.pow; this.pow = null; }
    try {
      j = await call("POST", `/rooms/${encodeURIComponent(this.roomId)}/join`, undefined, hdr);
      this.queueToken = null; // admitted: the place in line is used up
    } catch (e) {
      if (!this.running) return;
      if (!(e instanceof APIError)) { // network blip
        const ms = this.retry(0);
        this.setState("reconnecting", { seconds: Math.ceil(ms / 1000) });
        return;
      }
      const d = e.data || {};
      if (d.queue && d.queue.token) this.queueToken = d.queue.token; // keep our place in line
      if (e.code === "pow_required" && d.pow) {
        this.setState("waiting", { pow: true });
        try { this.pow = await solvePoW(d.pow.challenge, d.pow.difficulty); } catch { this.pow = null; }
        if (this.running) this.connect();
        return;
      }
      if (e.status === 410) { this.running = false; this.setState("ended"); return; }
      if (e.status === 403) { this.running = false; this.setState("removed"); return; }
      if (e.status === 404) { this.running = false; this.setState("notfound"); return; }
      if (e.status === 409 && e.code === "room_not_live") {
        // The lobby: ask again after Retry-After (capped), or when the room's events say it started (wake).
        this.retry(0, Math.min(maxLobbyWait, Math.max(e.retryAfter, 1)) * 1000);
        this.setState("scheduled");
        return;
      }
      if (e.code === "queued" && d.queue) {
        // Our turn is a time: come back then with the queue token.
        this.retry(0, d.queue.wait_ms ?? e.retryAfter * 1000);
        this.setState("waiting", { position: d.queue.position });
        return;
      }
      if (e.status === 429 || e.status === 503) {
        this.retry(e.retryAfter || 1);
        this.setState("waiting", { position: d.queue ? d.queue.position : undefined });
        return;
      }
      const ms = this.retry(e.retryAfter);
      this.setState("reconnecting", { seconds: Math.ceil(ms / 1000) });
      return;
    }
    if (!this.running) return;
    if (this.onJoin) this.onJoin(j);
    const useWS = typeof AudioDecoder !== "undefined" && j.listen.ws && !this.forceOgg && !this.forceHLS && !this.noWS &&
      (await AudioDecoder.isConfigSupported({ codec: "opus", sampleRate: 48000, numberOfChannels: 1 }).then((r) => r.supported, () => false));
    const hls = j.listen.hls && !this.forceOgg ? hlsSupport() : "";
    if (useWS) this.connectWS(j.listen.ws);
    else if (hls) this.connectHLS(j, hls);
    else this.connectOgg(j.listen.ogg);
  }

  // attachAudio makes the <audio> element (once) and meters what it plays.
  attachAudio() {
    if (!this.audio) {
      this.audio = new Audio();
      this.audio.crossOrigin = "anonymous";
      this.analyser = this.ctx.createAnalyser();
      this.ctx.createMediaElementSource(this.audio).connect(this.analyser);
      this.analyser.connect(this.gain);
    }
    const a = this.audio;
    const buf = new Float32Array(960);
    let lastT = a.currentTime;
    this.meterTimer = setInterval(() => {
      this.analyser.getFloatTimeDomainData(buf);
      this.meter(buf);
      this.s.frames += Math.max(0, Math.round((a.currentTime - lastT) * 50));
      lastT = a.currentTime;
    }, 100);
    return a;
  }

  // lost asks the room whether it ended, else reconnects.
  lost() {
    call("GET", `/rooms/${encodeURIComponent(this.roomId)}`).then((r) => {
      if (r.state === "ended") { this.running = false; this.teardown(); this.setState("ended"); return; }
      const ms = this.retry(0);
      this.setState("reconnecting", { seconds: Math.ceil(ms / 1000) });
    }, () => { const ms = this.retry(0); this.setState("reconnecting", { seconds: Math.ceil(ms / 1000) }); });
  }

  // connectHLS plays listen.hls (natively or with hls.js) and sends the
  // heartbeat that counts this listener (docs/api.md, "LL-HLS").
  async connectHLS(j, how) {
    this.s.transport = "hls";
    const a = this.attachAudio();
    a.onplaying = () => { this.attempt = 0; this.setState("playing"); };
    a.onended = () => this.lost(); // EXT-X-ENDLIST reached: the room ended
    if (how === "native") {
      a.onerror = () => { this.s.errors++; this.s.lastError = "media " + (a.error ? a.error.code : ""); this.lost(); };
      a.src = j.listen.hls;
    } else { // hls.js reports (and recovers from) media errors itself
      a.onerror = null;
      let Hls;
      try { Hls = await loadHlsJs(); } catch { this.connectOgg(j.listen.ogg); return; }
      if (!this.running) return;
      this.hls = new Hls({ lowLatencyMode: true, backBufferLength: 10, liveSyncDurationCount: 1 });
      this.hls.on(Hls.Events.ERROR, (_, d) => {
        if (!d.fatal) return;
        this.s.errors++;
        this.s.lastError = d.details;
        this.lost();
      });
      const h = this.hls;
      this.hls.on(Hls.Events.FRAG_BUFFERED, () => { this.s.latency = h.latency || 0; }); // s behind live (program-date-time)
      this.hls.loadSource(j.listen.hls);
      this.hls.attachMedia(a);
    }
    a.play().catch(() => {});
    // prev is the ticket a renewal replaced: the first beat with the new
    // one names it, so the origin stops counting it at once (without it
    // both would count for up to 30 s).
    let prev = null;
    const beat = () => {
      let url = j.listen.hls_heartbeat;
      if (prev) url += (url.includes("?") ? "&" : "?") + "prev=" + encodeURIComponent(prev);
      fetch(url, { method: "POST" }).then(async (r) => {
        if (!this.running || this.s.transport !== "hls") return;
        if (r.status === 401) {
          // The ticket expired (the playback does not need it): join again
          // for a fresh one, without stopping what plays.
          call("POST", `/rooms/${encodeURIComponent(this.roomId)}/join`).then((nj) => {
            this.s.renewals = (this.s.renewals || 0) + 1;
            if (nj.listen && nj.listen.hls_heartbeat) {
              prev = prev || new URL(j.listen.hls_heartbeat, location.href).searchParams.get("t");
              j.listen.hls_heartbeat = nj.listen.hls_heartbeat;
            }
            beat();
          }, (e) => { this.beatTimer = setTimeout(beat, Math.max((e.retryAfter || 10) * 1000, 1000)); });
          return;
        }
        const b = await r.json().catch(() => ({}));
        if (r.status === 403 && b.error && b.error.code === "listener_removed") {
          // A moderator removed this listener: stop, and do not come back.
          this.running = false; this.teardown(); this.setState("removed"); return;
        }
        if (prev && (r.ok || r.status === 400)) {
          // Named (or refused as bad_prev_ticket: too old, another room's):
          // beat without it from now on, at once when it was refused.
          prev = null;
          if (!r.ok) { beat(); return; }
        }
        this.beatTimer = setTimeout(beat, b.every_ms || 10000);
      }, () => { this.beatTimer = setTimeout(beat, 10000); });
    };
    beat();
  }

  connectWS(path) {
    this.s.transport = "ws";
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.nextTime = 0;
    let heard = false;
    ws.onmessage = (ev) => {
      heard = true;
      this.wsFails = 0;
      if (typeof ev.data === "string") { this.hello(JSON.parse(ev.data)); return; }
      this.chunk(ev.data);
    };
    ws.onclose = (ev) => {
      this.ws = null;
      if (ev.code === 1000 && ev.reason === "room ended") { this.running = false; this.teardown(); this.setState("ended"); return; }
      // 4403: a moderator removed this listener (docs/listen-protocol.md).
      if (ev.code === 4403) { this.running = false; this.teardown(); this.setState("removed"); return; }
      // Refused before a first message, again and again (a proxy that does
      // not pass WebSocket upgrades, or rewrites Host): the next transport.
      if (!heard && ++this.wsFails >= wsFallbackAfter) { this.noWS = true; this.s.fallback = "ws refused"; }
      const ms = this.retry(0);
      this.setState("reconnecting", { seconds: Math.ceil(ms / 1000) });
    };
  }

  hello(h) {
    this.channels = h.channels || 1;
    this.dec = new AudioDecoder({
      output: (d) => this.output(d),
      error: () => { this.s.errors++; if (this.ws) this.ws.close(); },
    });
    this.dec.configure({ codec: "opus", sampleRate: h.sample_rate || 48000, numberOfChannels: this.channels });
  }

  // chunk parses one binary message (docs/listen-protocol.md) and decodes its packets.
  chunk(buf) {
    const v = new DataView(buf);
    const version = buf.byteLength > 0 ? v.getUint8(0) : 0;
    if (buf.byteLength < 20 || (version !== 1 && version !== 2) || !this.dec) return;
    const seq = Number(v.getBigUint64(1));
    const ts = Number(v.getBigUint64(9));
    const fs = v.getUint16(17);
    const n = v.getUint8(19);
    if (this.s.lastSeq >= 0 && seq !== this.s.lastSeq + 1) this.s.gaps++;
    this.s.chunk = n * fs / 48000;
    let off = 20;
    for (let i = 0; i < n; i++) {
      if (off + 2 > buf.byteLength) return;
      const len = v.getUint16(off);
      off += 2;
      if (off + len > buf.byteLength) return;
      this.dec.decode(new EncodedAudioChunk({ type: "key", timestamp: Math.round((ts + i * fs) * 1e6 / 48000), data: new Uint8Array(buf, off, len) }));
      off += len;
      this.s.lastSeq = seq + i;
    }
    // Version 2: the speakers heard in the chunk, after its packets. The
    // chunk plays once what is buffered ahead of it has.
    const levels = version === 2 ? parseLevels(v, off) : [];
    if (levels.length) {
      this.s.levelChunks++;
      this.talkers.heard(levels, performance.now() + Math.max(0, this.s.buffered) * 1000, this.s.chunk * 1000);
    }
    if (this.s.state !== "playing") { this.attempt = 0; this.setState("playing"); }
  }

  output(d) {
    const n = d.numberOfFrames;
    const ch = new Float32Array(n);
    d.copyTo(ch, { planeIndex: 0, format: "f32-planar" });
    const ab = this.ctx.createBuffer(1, n, d.sampleRate);
    ab.copyToChannel(ch, 0);
    d.close();
    this.meter(ch);
    this.s.frames++;
    const now = this.ctx.currentTime;
    const lead = leadSeconds + this.s.chunk;
    if (this.nextTime < now + 0.02) this.nextTime = now + lead; // underrun (or first frame): rebuffer
    // A whole chunk is decoded at once, so up to lead + one chunk is normal.
    if (this.nextTime > now + lead + this.s.chunk + slackSeconds) { this.s.dropped++; return; } // too far behind live
    this.s.buffered = this.nextTime - now;
    const src = this.ctx.createBufferSource();
    src.buffer = ab;
    src.connect(this.gain);
    src.start(this.nextTime);
    this.nextTime += ab.duration;
  }

  meter(samples) {
    let sum = 0;
    for (const x of samples) sum += x * x;
    const rms = Math.sqrt(sum / samples.length);
    this.s.level = rms;
    if (rms > this.s.peak) this.s.peak = rms;
  }

  connectOgg(path) {
    this.s.transport = "ogg";
    const a = this.attachAudio();
    a.src = path;
    a.onplaying = () => { this.attempt = 0; this.setState("playing"); };
    // The body ends cleanly when the room ends; lost asks the room which it was.
    a.onended = () => this.lost();
    a.onerror = () => this.lost();
    a.play().catch(() => {});
  }
}
