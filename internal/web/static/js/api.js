// API calls: bearer token from this browser's sign-in, cookies for sessions.
export const tokenKey = "majlis.token";

export function token() { return localStorage.getItem(tokenKey) || ""; }

// me is the signed-in user ({id, name, role}) from GET /me, or null.
let me = null;
let meKnown = false; // false when the server has no /me: fall back to "has a token"
export function user() { return me; }
export function signedIn() { return meKnown ? me !== null : token() !== ""; }

export async function loadMe() {
  try {
    me = await call("GET", "/me");
    meKnown = true;
  } catch (e) {
    me = null;
    meKnown = e instanceof APIError && e.status !== 404;
  }
  return me;
}

export function setMe(u) { me = u; meKnown = true; }

// Whether the server takes self sign-up (GET /signup); false when unknown.
let signup = false;
export function signupEnabled() { return signup; }
export async function loadSignup() {
  try { signup = (await call("GET", "/signup")).enabled === true; } catch { signup = false; }
}

export class APIError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// authHeaders are the credentials of a plain fetch (media the API serves
// only to moderators, which an <audio> element could not ask for itself).
export function authHeaders() {
  const tok = token();
  return tok ? { Authorization: `Bearer ${tok}` } : {};
}

export async function call(method, path, body, extraHeaders = {}) {
  // The CSRF header lets cookie-authenticated mutations through (docs/api.md).
  const headers = { "X-Majlis-CSRF": "1", ...extraHeaders };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const ra = parseFloat(res.headers.get("Retry-After") || "");
    const e = data && data.error ? data.error : {};
    const err = new APIError(res.status, e.code || "http_" + res.status, e.message || res.statusText, isNaN(ra) ? 0 : ra);
    err.data = data;
    throw err;
  }
  return data;
}

export const getRoom = (id) => call("GET", `/rooms/${encodeURIComponent(id)}`);

// listRooms returns the server's public list of rooms in state (live or scheduled).
export const listRooms = async (state) => (await call("GET", `/rooms?state=${state}`)).rooms || [];

// Rooms opened in this browser, newest first (the server has no list endpoint yet).
export function remember(room) {
  const list = recent().filter((r) => r.id !== room.id);
  list.unshift({ id: room.id, title: room.title });
  localStorage.setItem("majlis.recent", JSON.stringify(list.slice(0, 20)));
}

export function recent() {
  try { return JSON.parse(localStorage.getItem("majlis.recent") || "[]"); } catch { return []; }
}

// solvePoW answers a pow_required challenge in a Worker; it resolves to the
// Majlis-Pow header value.
export function solvePoW(challenge, difficulty) {
  return new Promise((resolve, reject) => {
    const w = new Worker("/js/pow-worker.js", { type: "module" });
    w.onmessage = (ev) => { w.terminate(); resolve(ev.data); };
    w.onerror = (ev) => { w.terminate(); reject(new Error(ev.message || "pow worker failed")); };
    w.postMessage({ challenge, difficulty });
  });
}
