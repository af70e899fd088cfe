// Who is talking, for the speaking rings. The program's WebSocket chunks
// carry the level of each speaker heard in them (docs/listen-protocol.md:
// a 32-bit key, FNV-1a of the member id, and dB above -100 dBFS); pages
// without the chunks (the studio, the Ogg and HLS players) follow the
// room's "speaking" events instead.

// speakingLevel is program.SpeakingLevel: -50 dBFS.
export const speakingLevel = 50;
// holdMs keeps a ring lit between a talker's words, so it does not flicker.
export const holdMs = 400;

const enc = new TextEncoder();

// speakerKey is audio.SpeakerKey: FNV-1a (32 bits) of the id's UTF-8 bytes.
export function speakerKey(id) {
  let h = 0x811c9dc5;
  for (const b of enc.encode(String(id))) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Talkers keeps, per speaker key, the span in which it was last heard at a
// speaking level, timed by when its audio plays (performance.now() ms).
export class Talkers {
  constructor() { this.m = new Map(); }

  // heard notes one chunk's levels, played from at until at + durMs.
  heard(levels, at, durMs) {
    for (const { key, level } of levels) {
      if (level < speakingLevel) continue;
      const e = this.m.get(key);
      if (e && at <= e.to + holdMs) e.to = Math.max(e.to, at + durMs);
      else this.m.set(key, { from: at, to: at + durMs });
    }
  }

  talking(id, now = performance.now()) {
    const e = this.m.get(speakerKey(id));
    return !!e && now >= e.from && now <= e.to + holdMs;
  }

  clear() { this.m.clear(); }
}

// parseLevels reads the levels after the packets of a version 2 chunk
// message (off is where the packets end), or [] when there are none or the
// list is malformed.
export function parseLevels(v, off) {
  const len = v.byteLength;
  if (off >= len) return [];
  const k = v.getUint8(off);
  if (k === 0 || len !== off + 1 + 5 * k) return [];
  const out = [];
  for (let i = 0; i < k; i++) {
    const e = off + 1 + 5 * i;
    out.push({ key: v.getUint32(e), level: v.getUint8(e + 4) });
  }
  return out;
}
