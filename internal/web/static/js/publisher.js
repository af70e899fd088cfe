// Publisher puts the microphone on a room's stage with WHIP (RFC 9725):
// one sendrecv audio transceiver for the microphone plus recvonly ones, so
// the SFU can forward every other stage member on a slot of its own (the
// server gives each receivable m-line one other speaker); non-trickle: it waits for ICE gathering, then POSTs the whole offer.
import { token, APIError } from "./api.js";

const gatherTimeout = 3000; // ms; post what we have after this
// Stage seats besides one's own: host + 2 co-hosts + 10 speakers − 1. The
// sendrecv transceiver carries one of them back, the recvonly ones the rest.
const otherSeats = 12;

export class Publisher {
  constructor(roomId, onState) {
    this.roomId = roomId;
    this.onState = onState || (() => {});
    this.s = { state: "idle", level: 0, peak: 0, muted: false, ice: "", bytesSent: 0 };
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

  async start() {
    this.setState("connecting");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false });
    } catch (e) {
      this.setState("denied", { message: e.message });
      return;
    }
    const track = this.stream.getAudioTracks()[0];
    this.meterStart();
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
      const st = pc.iceConnectionState;
      if (st === "failed" || st === "closed") this.setState("failed", { message: st });
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
      this.location = new URL(res.headers.get("Location"), location.href).href;
      await pc.setRemoteDescription({ type: "answer", sdp: body });
      this.setState(this.s.muted ? "muted" : "live");
    } catch (e) {
      this.stop();
      this.setState("failed", { message: e.message, error: e });
    }
  }

  setMuted(m) {
    this.s.muted = m;
    if (this.stream) for (const tr of this.stream.getAudioTracks()) tr.enabled = !m;
    if (this.s.state === "live" || this.s.state === "muted") this.setState(m ? "muted" : "live");
  }

  async stop() {
    const loc = this.location;
    this.location = null;
    if (loc) {
      const headers = { "X-Majlis-CSRF": "1" };
      if (token()) headers.Authorization = `Bearer ${token()}`;
      fetch(loc, { method: "DELETE", headers, credentials: "same-origin" }).catch(() => {});
    }
    if (this.pc) { this.pc.close(); this.pc = null; }
    if (this.stream) { for (const tr of this.stream.getTracks()) tr.stop(); this.stream = null; }
    if (this.remotes) for (const el of this.remotes.values()) el.srcObject = null;
    cancelAnimationFrame(this.raf);
    clearInterval(this.meterTimer);
    if (this.ctx) { this.ctx.close(); this.ctx = null; }
    this.s.level = 0;
    this.setState("idle");
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
