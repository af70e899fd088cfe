// Publisher puts the microphone on a room's stage with WHIP (RFC 9725):
// one sendrecv audio transceiver for the microphone plus recvonly ones, so
// the SFU can forward every other stage member on a slot of its own (the
// server gives each receivable m-line one other speaker); non-trickle: it waits for ICE gathering, then POSTs the whole offer.
import { token, APIError } from "./api.js";

const gatherTimeout = 3000; // ms; post what we have after this
const disconnectedGrace = 5000; // ms of ICE "disconnected" that make a lost session
const serverGrace = 3000; // ms after going live before the room's state may say the session is gone
const backoffBase = 1000, backoffMax = 30000; // ms
// Stage seats besides one's own: host + 2 co-hosts + 10 speakers − 1. The
// sendrecv transceiver carries one of them back, the recvonly ones the rest.
const otherSeats = 12;

export class Publisher {
  constructor(roomId, onState) {
    this.roomId = roomId;
    this.onState = onState || (() => {});
    this.s = { state: "idle", level: 0, peak: 0, muted: false, ice: "", bytesSent: 0, reconnects: 0 };
  }

  async stats() {
    if (this.pc) {
      this.s.ice = this.pc.iceConnectionState;
      const rep = await this.pc.getStats();
      rep.forEach((r) => { if (r.type === "outbound-rtp" && r.kind === "audio") this.s.bytesSent = r.bytesSent; });
    }
    return { ...this.s };
  }

  setState(state, info = {}) {
    this.s.state = state;
    this.onState(state, info);
  }

  // start puts the microphone on the stage and keeps it there: a session
  // the server loses (a restart, a network change: ICE fails, or the room's
  // state says this member no longer publishes, see checkServer) is
  // published again with backoff, until stop. Refusals that another try
  // cannot change (not a stage member, the room ended, signed out) stop it.
  async start() {
    this.want = true;
    this.attempt = 0;
    this.setState("connecting");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false });
    } catch (e) {
      this.want = false;
      this.setState("denied", { message: e.message });
      return;
    }
    this.meterStart();
    await this.connect();
  }

  // connect opens one WHIP session with the microphone's track.
  async connect() {
    if (!this.want || !this.stream) return;
    this.setState(this.attempt ? "reconnecting" : "connecting", { attempt: this.attempt });
    const track = this.stream.getAudioTracks()[0];
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.addTransceiver(track, { direction: "sendrecv", streams: [this.stream] });
    for (let i = 1; i < otherSeats; i++) pc.addTransceiver("audio", { direction: "recvonly" });
    this.remotes = new Map();
    pc.ontrack = (ev) => {
      // Another stage member, forwarded by the SFU on this transceiver's slot.
      const key = ev.transceiver.mid;
      let el = this.remotes.get(key);
      if (!el) { el = new Audio(); this.remotes.set(key, el); }
      el.srcObject = new MediaStream([ev.track]);
      el.play().catch(() => {});
    };
    pc.oniceconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const st = pc.iceConnectionState;
      clearTimeout(this.iceTimer);
      if (st === "failed") this.lost("ice " + st);
      // Disconnected may recover by itself; a few seconds of it is a lost session.
      if (st === "disconnected") this.iceTimer = setTimeout(() => { if (this.pc === pc && pc.iceConnectionState === "disconnected") this.lost("ice disconnected"); }, disconnectedGrace);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
        pc.addEventListener("icegatheringstatechange", done);
        setTimeout(resolve, gatherTimeout);
      });
      const headers = { "Content-Type": "application/sdp", "X-Majlis-CSRF": "1" };
      if (token()) headers.Authorization = `Bearer ${token()}`;
      const res = await fetch(`/api/v1/rooms/${encodeURIComponent(this.roomId)}/whip`, {
        method: "POST", headers, credentials: "same-origin", body: pc.localDescription.sdp,
      });
      const body = await res.text();
      if (res.status !== 201) {
        let e = {};
        try { e = JSON.parse(body).error || {}; } catch { /* not JSON */ }
        throw new APIError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
      }
      if (this.pc !== pc) return; // stopped meanwhile
      this.location = new URL(res.headers.get("Location"), location.href).href;
      await pc.setRemoteDescription({ type: "answer", sdp: body });
      this.attempt = 0;
      this.liveSince = Date.now();
      this.setState(this.s.muted ? "muted" : "live");
    } catch (e) {
      if (this.pc !== pc) return;
      const final = e instanceof APIError && [400, 401, 403, 404, 410].includes(e.status);
      if (!final && this.want) { this.lost(e.message); return; }
      this.stop();
      this.setState("failed", { message: e.message, error: e });
    }
  }

  // lost ends the current session and, while wanted, publishes again after
  // a jittered exponential backoff (1 s, 2 s … 30 s).
  lost(why) {
    if (!this.want || this.retryTimer) return;
    this.closeSession();
    const ms = Math.min(backoffMax, backoffBase * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.s.reconnects = (this.s.reconnects || 0) + 1;
    this.s.lastLoss = why;
    this.setState("reconnecting", { seconds: Math.ceil(ms / 1000), why });
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.connect(); }, ms);
  }

  // checkServer compares the room's state with the session: a member the
  // server says is not publishing, a few seconds after the session went
  // live, lost it (the server restarted, or ended it).
  checkServer(mine) {
    const on = this.s.state === "live" || this.s.state === "muted";
    if (on && mine && mine.publishing === false && Date.now() - this.liveSince > serverGrace) this.lost("server");
  }

  setMuted(m) {
    this.s.muted = m;
    if (this.stream) for (const tr of this.stream.getAudioTracks()) tr.enabled = !m;
    if (this.s.state === "live" || this.s.state === "muted") this.setState(m ? "muted" : "live");
  }

  async stop() {
    this.want = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.closeSession();
    if (this.stream) { for (const tr of this.stream.getTracks()) tr.stop(); this.stream = null; }
    clearInterval(this.meterTimer);
    if (this.ctx) { this.ctx.close(); this.ctx = null; }
    this.s.level = 0;
    this.setState("idle");
  }

  // closeSession ends the WHIP session (DELETE; harmless if the server
  // lost it) and the peer connection, keeping the microphone.
  closeSession() {
    const loc = this.location;
    this.location = null;
    if (loc) {
      const headers = { "X-Majlis-CSRF": "1" };
      if (token()) headers.Authorization = `Bearer ${token()}`;
      fetch(loc, { method: "DELETE", headers, credentials: "same-origin" }).catch(() => {});
    }
    clearTimeout(this.iceTimer);
    if (this.pc) { this.pc.close(); this.pc = null; }
    if (this.remotes) for (const el of this.remotes.values()) el.srcObject = null;
  }

  meterStart() {
    this.ctx = new AudioContext();
    const an = this.ctx.createAnalyser();
    an.fftSize = 1024;
    this.ctx.createMediaStreamSource(this.stream).connect(an);
    const buf = new Float32Array(an.fftSize);
    // A timer, not requestAnimationFrame: it keeps metering in background tabs.
    this.meterTimer = setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      const rms = this.s.muted ? 0 : Math.sqrt(sum / buf.length);
      this.s.level = rms;
      if (rms > this.s.peak) this.s.peak = rms;
      if (this.onLevel) this.onLevel(rms);
    }, 50);
  }
}
