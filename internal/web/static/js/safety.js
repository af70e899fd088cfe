// Trust and safety in the web app (docs/safety.md; the API is docs/api.md's
// "Trust and safety"): the listener's notice form (Art. 16 DSA) and its
// receipt, the notice's status page (/report/{id}?key=…), the moderators'
// queue and decision form in /mod, and the affected user's decisions with
// their statements of reasons and complaints (/safety).
import * as i18n from "./i18n.js";
import { t, tn } from "./i18n.js";
import * as api from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";

const catPrefix = "STATEMENT_CATEGORY_";
const minors = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS";
const actions = ["none", "warn", "mute", "remove_from_stage", "end_room", "remove_replay", "remove_clip", "suspend", "terminate"];
const hourS = 3600;

// catLabel is a category's name in the page's language.
export function catLabel(c) { return t(`safety.cat.${String(c).replace(catPrefix, "").toLowerCase()}`); }

// actionLabel is a decision action's name in the page's language.
export function actionLabel(a) { return actions.includes(a) ? t(`safety.action.${a}`) : a; }

function mmss(s) {
  s = Math.max(0, Math.floor(s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// when is a time in the page's language, for people.
export function when(ts) { return ts ? new Date(ts).toLocaleString(i18n.current(), { dateStyle: "medium", timeStyle: "short" }) : ""; }

// isSet says whether an API time is there: Go writes the zero time as 0001-01-01.
export function isSet(ts) { return !!ts && !String(ts).startsWith("0001-"); }

let categories = null;
async function loadCategories() {
  if (!categories) categories = (await api.call("GET", "/safety/categories")).categories;
  return categories;
}

// withPoW sends once; on pow_required it solves the puzzle (as the player
// does for a join) and sends again with Majlis-Pow.
async function withPoW(send, onSolving) {
  try {
    return await send({});
  } catch (e) {
    if (e.code !== "pow_required" || !e.data || !e.data.pow) throw e;
    onSolving();
    return send({ "Majlis-Pow": await api.solvePoW(e.data.pow.challenge, e.data.pow.difficulty) });
  }
}

let formSeq = 0;
function field(label, input, help) {
  const id = input.id || (input.id = `f${++formSeq}`);
  return h("div", { class: "stack field" }, h("label", { for: id }, label), input, help ? h("p", { class: "muted small" }, help) : null);
}

// reportCard is the listener page's "Report" button and form. getView
// returns the room's state view (its stage and state); offset() (maybe a
// promise) the seconds into the room the listener is at, or undefined;
// clip, on a clip's page, the clip (then the notice is about it).
export function reportCard(roomId, getView, offset, clip) {
  const box = h("div", { class: "stack", "data-testid": "report" });
  const open = h("button", { type: "button", id: "report-open", class: "danger", "aria-expanded": "false", onclick: async () => {
    if (box.childElementCount > 1) { box.lastChild.remove(); open.setAttribute("aria-expanded", "false"); return; }
    open.setAttribute("aria-expanded", "true");
    // The moment is taken when the listener asks to report, not when they send.
    let at;
    try { at = await offset(); } catch { at = undefined; }
    box.append(reportForm(roomId, getView(), at, clip));
  } }, t("report.open"));
  box.append(h("div", { class: "row" }, open));
  return box;
}

function reportForm(roomId, view, at, clip) {
  const stage = (view && view.stage) || [];
  const out = h("div", { "aria-live": "assertive" });
  const kinds = clip ? ["clip"] : [view && view.state === "ended" ? "replay" : "room", ...(stage.length ? ["speaker"] : [])];
  const kind = h("select", { id: "report-kind", name: "kind" }, kinds.map((k) => h("option", { value: k }, t(`report.kind.${k}`))));
  const speaker = h("select", { id: "report-speaker", name: "speaker" }, stage.map((m) => h("option", { value: m.id, dir: "auto" }, m.name || m.id)));
  const speakerField = field(t("report.speaker"), speaker);
  const category = h("select", { id: "report-category", name: "category", required: true }, h("option", { value: "" }, t("report.category.choose")));
  loadCategories().then((cs) => category.append(...cs.map((c) => h("option", { value: c }, catLabel(c)))), (e) => out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))));
  const illegal = h("input", { type: "radio", name: "basis", id: "report-illegal", value: "illegal" });
  const terms = h("input", { type: "radio", name: "basis", id: "report-terms", value: "terms", checked: true });
  const law = h("input", { id: "report-law", name: "law", maxlength: "500", dir: "auto" });
  const lawField = field(t("report.law"), law, t("report.law.help"));
  const explanation = h("textarea", { id: "report-explanation", name: "explanation", required: true, minlength: "10", maxlength: "5000", rows: "4", dir: "auto" });
  // A signed-in notifier's name is filled in (they may change it).
  const me = api.user();
  const name = h("input", { id: "report-name", name: "name", maxlength: "200", autocomplete: "name", dir: "auto", value: me && me.name ? me.name : undefined });
  const email = h("input", { id: "report-email", name: "email", type: "email", autocomplete: "email", dir: "ltr" });
  const goodFaith = h("input", { type: "checkbox", id: "report-goodfaith", name: "good_faith", required: true });
  const contactHelp = h("p", { class: "muted small" });
  const sync = () => {
    speakerField.hidden = kind.value !== "speaker";
    lawField.hidden = !illegal.checked;
    law.required = illegal.checked;
    const anon = category.value === minors;
    name.required = email.required = !anon;
    contactHelp.textContent = anon ? t("report.contact.optional") : t("report.contact.required");
  };
  for (const el of [kind, category, illegal, terms]) el.addEventListener("change", sync);
  sync();
  const offsetText = clip ? t("report.clip") : at === undefined ? t("report.at.unknown") : t("report.at", { t: mmss(at) });
  const form = h("form", { class: "card stack", id: "report-form", "aria-labelledby": "report-h", onsubmit: async (e) => {
    e.preventDefault();
    const k = kind.value;
    const body = { kind: k, room: roomId, category: category.value, illegal: illegal.checked,
      explanation: explanation.value.trim(), good_faith: goodFaith.checked };
    if (k === "clip") body.clip = clip; // the whole clip: no moment
    else body.from_s = Math.max(0, Math.floor(at || 0));
    if (k === "speaker") body.speaker = speaker.value;
    if (illegal.checked) body.law = law.value.trim();
    if (name.value.trim()) body.name = name.value.trim();
    if (email.value.trim()) body.email = email.value.trim();
    submit.disabled = true;
    try {
      const rc = await withPoW((hdr) => api.call("POST", "/reports", body, hdr),
        () => out.replaceChildren(h("p", { class: "muted", role: "status" }, t("report.pow"))));
      form.replaceWith(receipt(rc));
    } catch (err) {
      submit.disabled = false;
      out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err)));
    }
  } });
  const submit = h("button", { type: "submit", class: "primary", id: "report-submit" }, t("report.submit"));
  form.append(h("h2", { id: "report-h" }, t("report.title")),
    h("p", { class: "muted", "data-testid": "report-at" }, offsetText),
    field(t("report.kind"), kind), speakerField,
    field(t("report.category"), category),
    h("fieldset", { class: "stack" }, h("legend", {}, t("report.basis")),
      h("div", { class: "check" }, terms, h("label", { for: "report-terms" }, t("report.basis.terms"))),
      h("div", { class: "check" }, illegal, h("label", { for: "report-illegal" }, t("report.basis.illegal")))),
    lawField,
    field(t("report.explanation"), explanation, t("report.explanation.help")),
    h("fieldset", { class: "stack" }, h("legend", {}, t("report.contact")), contactHelp,
      field(t("report.name"), name), field(t("report.email"), email)),
    h("div", { class: "check" }, goodFaith, h("label", { for: "report-goodfaith" }, t("report.goodfaith"))),
    submit, out);
  return form;
}

// statusPath is the app's status page of a notice (the key is the secret).
function statusPath(id, key) { return `/report/${encodeURIComponent(id)}` + (key ? `?key=${encodeURIComponent(key)}` : ""); }

function receipt(rc) {
  const link = `${location.origin}${statusPath(rc.id, rc.key)}`;
  return h("section", { class: "card stack", role: "status", "data-testid": "report-receipt" },
    h("h2", {}, t("report.received")),
    h("p", {}, t("report.received.id"), " ", h("code", { "data-testid": "report-id", dir: "ltr" }, rc.id)),
    h("p", {}, t("report.received.link")),
    h("p", {}, h("a", { href: statusPath(rc.id, rc.key), "data-testid": "report-status-link", dir: "ltr" }, link)),
    h("p", { class: "muted small" }, t("report.received.keep")));
}

// statementBox shows a statement of reasons (Art. 17(3)): what the server
// says in English is replaced by the page's language where it is the
// server's own wording (restriction, redress); the moderator's words
// (facts, explanation, the ground's reference) are shown as written.
function statementBox(d) {
  const st = d.statement_of_reasons;
  if (!st) return h("p", { class: "muted" }, t("safety.nostatement"));
  const scope = st.scope && st.scope.startsWith("room ") ? h("a", { href: `/r/${encodeURIComponent(d.room)}`, dir: "ltr" }, d.room)
    : st.scope && st.scope.startsWith("clip ") ? h("a", { href: `/c/${encodeURIComponent(d.clip)}`, dir: "ltr" }, d.clip) : t("safety.scope.service");
  const dl = h("dl", { class: "facts", "data-testid": "statement" },
    h("dt", {}, t("safety.restriction")), h("dd", { "data-testid": "restriction" }, t(`safety.restriction.${d.action}`)),
    h("dt", {}, t("safety.scope")), h("dd", {}, scope),
    h("dt", {}, t("safety.until")), h("dd", {}, st.until ? when(st.until) : t("safety.until.none")),
    h("dt", {}, t("safety.facts")), h("dd", { class: "description" }, h("bdi", { dir: "auto" }, st.facts)),
    h("dt", {}, t("safety.basis")), h("dd", {}, t(st.basis === "own_initiative" ? "safety.basis.own" : "safety.basis.notice")),
    h("dt", {}, t("safety.automated")), h("dd", {}, t(st.automated ? "safety.automated.yes" : "safety.automated.no")),
    h("dt", {}, t("safety.ground")), h("dd", { "data-testid": "ground" }, t(st.ground === "illegal" ? "safety.ground.illegal" : "safety.ground.terms"), ": ", h("bdi", { dir: "auto" }, st.ground_reference)),
    h("dt", {}, t("safety.explanation")), h("dd", { class: "description" }, h("bdi", { dir: "auto" }, st.explanation)));
  const redress = h("ul", { class: "redress", "data-testid": "redress" }, (st.redress || []).map((r) => h("li", { "data-route": r.route },
    h("strong", {}, t(`safety.redress.${r.route}`)), " ", t(`safety.redress.${r.route}.how`))));
  return h("div", { class: "stack" }, dl, h("h3", {}, t("safety.redress")), redress);
}

function decisionHead(d) {
  return h("p", { class: "row" }, h("strong", { "data-testid": "decision-action" }, actionLabel(d.action)),
    h("span", { class: "muted" }, when(d.decided_at)), d.lifted_at ? h("span", { class: "badge" }, t("safety.lifted")) : null);
}

// viewReportStatus is a notice's status page: its state and, once
// decided, the decision and its statement of reasons.
export function viewReportStatus(id) {
  const key = new URLSearchParams(location.search).get("key") || "";
  const root = h("section", { class: "stack" }, h("h1", {}, t("status.title")));
  document.title = `${t("status.title")} · ${t("app.name")}`;
  const body = h("div", { class: "stack" }, h("p", { class: "muted" }, t("common.loading")));
  root.append(body);
  let last = "";
  const load = async () => {
    if (!root.isConnected && last) return;
    let st;
    try {
      st = await api.call("GET", `/reports/${encodeURIComponent(id)}` + (key ? `?key=${encodeURIComponent(key)}` : ""));
    } catch (e) {
      body.replaceChildren(h("p", { class: "error", role: "alert" }, e.code === "notice_not_found" || e.status === 401 ? t("status.notfound") : errorText(e)));
      return;
    }
    const k = JSON.stringify(st);
    if (k === last) return;
    last = k;
    const parts = [h("dl", { class: "facts" },
      h("dt", {}, t("status.id")), h("dd", {}, h("code", { dir: "ltr" }, st.id)),
      h("dt", {}, t("status.state")), h("dd", { "data-testid": "notice-state", "data-state": st.state }, t(`status.state.${st.state}`)),
      h("dt", {}, t("report.kind")), h("dd", {}, t(`report.kind.${st.kind}`)),
      h("dt", {}, t("status.room")), h("dd", {}, h("a", { href: `/r/${encodeURIComponent(st.room)}`, dir: "ltr" }, st.room)),
      h("dt", {}, t("report.category")), h("dd", { "data-testid": "notice-category" }, catLabel(st.category)),
      h("dt", {}, t("status.received")), h("dd", {}, when(st.received_at)))];
    if (st.decision) {
      parts.push(h("section", { class: "card stack", "data-testid": "notice-decision" }, h("h2", {}, t("status.decision")), decisionHead(st.decision),
        st.decision.statement_of_reasons ? statementBox(st.decision) : h("p", { class: "muted" }, t(`safety.outcome.${st.decision.action === "none" ? "none" : "warn"}`)),
        st.decision.action === "none" ? complainForm(st.decision.id, key) : null));
    }
    body.replaceChildren(...parts);
  };
  load();
  const timer = setInterval(() => { if (root.isConnected) load(); else clearInterval(timer); }, 3000);
  return root;
}

// complainForm sends a complaint (Art. 20) about a decision.
function complainForm(decisionId, key) {
  const text = h("textarea", { id: `complain-${decisionId}`, name: "text", required: true, minlength: "10", maxlength: "5000", rows: "3", dir: "auto" });
  const out = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "stack", "data-testid": "complain-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const c = await api.call("POST", `/safety/decisions/${encodeURIComponent(decisionId)}/complaints` + (key ? `?key=${encodeURIComponent(key)}` : ""), { text: text.value.trim() });
      wrap.replaceWith(complaintBox(c));
    } catch (err) { out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err))); }
  } }, field(t("complain.text"), text, t("complain.help")), h("button", { type: "submit", class: "primary", "data-action": "complain" }, t("complain.submit")), out);
  const wrap = h("details", { class: "complain" }, h("summary", {}, t("complain.open")), form);
  return wrap;
}

function complaintBox(c) {
  return h("div", { class: "card stack", role: "status", "data-testid": "complaint", "data-complaint": c.id },
    h("p", {}, h("strong", {}, t("complain.sent")), " ", h("span", { class: "muted" }, when(c.created_at))),
    h("p", { "data-testid": "complaint-outcome" }, c.outcome ? t(`complain.outcome.${c.outcome}`) : t("complain.pending")),
    c.outcome_explanation ? h("p", { dir: "auto" }, c.outcome_explanation) : null);
}

// viewSafety is the signed-in user's page: the decisions about them with
// their statements of reasons and complaints, and the notices they sent.
export function viewSafety() {
  document.title = `${t("safety.title")} · ${t("app.name")}`;
  const root = h("section", { class: "stack" }, h("h1", {}, t("safety.title")));
  if (!api.signedIn()) { root.append(h("p", {}, h("a", { href: "/signin?next=/safety" }, t("safety.signin")))); return root; }
  const decisions = h("div", { class: "stack", "data-testid": "my-decisions" }, h("p", { class: "muted" }, t("common.loading")));
  const notices = h("ul", { class: "rooms", "data-testid": "my-notices" });
  const standing = h("section", { class: "card stack", "aria-labelledby": "mystand-h", "data-testid": "my-standing", hidden: true },
    h("h2", { id: "mystand-h" }, t("safety.standing")));
  root.append(standing, h("section", { class: "stack", "aria-labelledby": "mydec-h" }, h("h2", { id: "mydec-h" }, t("safety.decisions")), decisions),
    h("section", { class: "card stack", "aria-labelledby": "mynot-h" }, h("h2", { id: "mynot-h" }, t("safety.notices")), notices));
  // A notifier warned for manifestly unfounded notices, or whose notices
  // are suspended, is told here (Art. 23(2) DSA).
  api.call("GET", "/safety/standing").then((st) => {
    const lines = [];
    if (isSet(st.notices_suspended_until)) lines.push(h("p", { "data-testid": "standing-suspended" }, t("safety.standing.suspended", { when: when(st.notices_suspended_until) })));
    else if (isSet(st.notifier_warned_at)) lines.push(h("p", { "data-testid": "standing-warned" }, t("safety.standing.warned", { when: when(st.notifier_warned_at) })));
    if (lines.length) { standing.append(...lines); standing.hidden = false; }
  }, () => { /* the decisions and notices still show */ });
  Promise.all([api.call("GET", "/safety/decisions?mine=1"), api.call("GET", "/safety/complaints?mine=1").catch(() => ({ complaints: [] }))]).then(([ds, cs]) => {
    const list = ds.decisions || [];
    const byDecision = new Map((cs.complaints || []).map((c) => [c.decision, c]));
    decisions.replaceChildren(...(list.length ? list.map((d) => h("article", { class: "card stack", "data-decision": d.id },
      decisionHead(d), statementBox(d),
      byDecision.has(d.id) ? complaintBox(byDecision.get(d.id)) : complainForm(d.id, "")))
      : [h("p", { class: "muted" }, t("safety.decisions.none"))]));
  }, (e) => decisions.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))));
  api.call("GET", "/reports").then((r) => {
    const ns = r.notices || [];
    notices.replaceChildren(...(ns.length ? ns.map((n) => h("li", { class: "row", "data-notice": n.id },
      h("a", { href: statusPath(n.id) }, catLabel(n.category)), h("span", { class: "badge" }, t(`status.state.${n.state}`)),
      h("span", { class: "muted" }, when(n.received_at)))) : [h("li", { class: "muted" }, t("safety.notices.none"))]));
  }, (e) => notices.replaceChildren(h("li", { class: "error" }, errorText(e))));
  return root;
}

// modQueue is the moderation console's queue of open notices, in the
// API's order (trusted flaggers, severity, age), each with Claim and a
// decision form. poll registers a refresh with the page.
export function modQueue(poll) {
  const list = h("ol", { class: "queue", "data-testid": "mod-queue" });
  const empty = h("p", { class: "muted", "data-testid": "mod-queue-empty", hidden: true }, t("mod.queue.empty"));
  const items = new Map(); // notice id → {li, state}
  const me = api.user();
  const refresh = async () => {
    let ns;
    try { ns = (await api.call("GET", "/safety/notices")).notices || []; } catch (e) { empty.hidden = false; empty.textContent = errorText(e); return; }
    const seen = new Set();
    let prev = null;
    for (const n of ns) {
      seen.add(n.id);
      let it = items.get(n.id);
      if (!it) { it = { li: h("li", { class: "card stack", "data-notice": n.id }) }; items.set(n.id, it); }
      if (!it.decided) noticeItem(it, n, me, refresh);
      // Keep the API's order without rebuilding what a moderator types.
      if (prev ? prev.nextSibling !== it.li : list.firstChild !== it.li) list.insertBefore(it.li, prev ? prev.nextSibling : list.firstChild);
      prev = it.li;
    }
    for (const [id, it] of items) if (!seen.has(id) && !it.decided) { it.li.remove(); items.delete(id); }
    empty.hidden = ns.length > 0 || list.childElementCount > 0;
  };
  poll(refresh);
  return h("section", { class: "card stack", "aria-labelledby": "reports-h" }, h("h2", { id: "reports-h" }, t("mod.reports")), empty, list);
}

function ageText(ts) {
  const min = Math.max(0, Math.floor((Date.now() - new Date(ts).getTime()) / 60000));
  if (min < 1) return t("mod.age.now");
  if (min < 60) return tn("mod.age.minutes", min);
  const hrs = Math.floor(min / 60);
  return hrs < 48 ? tn("mod.age.hours", hrs) : tn("mod.age.days", Math.floor(hrs / 24));
}

// noticeItem fills a queue entry: the head is redrawn on each refresh, the
// decision form is made once, when the notice is claimed by the caller.
function noticeItem(it, n, me, refresh) {
  const mine = n.state === "claimed" && me && n.claimed_by === me.id;
  const age = ageText(n.received_at);
  const key = JSON.stringify([n.state, n.claimed_by, n.trusted_flagger, age]);
  if (it.key === key) return;
  it.key = key;
  const head = h("div", { class: "stack" },
    h("p", { class: "row" }, n.trusted_flagger ? h("span", { class: "badge badge-trusted", "data-testid": "trusted" }, t("mod.trusted")) : null,
      h("strong", { "data-testid": "notice-category" }, catLabel(n.category)),
      h("span", { class: "badge", "data-testid": "notice-state" }, t(`status.state.${n.state}`)),
      h("span", { class: "muted", "data-testid": "notice-age" }, age)),
    h("p", { class: "row" }, t(`report.kind.${n.kind}`), " · ", h("a", { href: `/r/${encodeURIComponent(n.room)}`, dir: "ltr" }, n.room),
      n.speaker ? [" · ", t("mod.speaker"), " ", h("bdi", { dir: "ltr", "data-testid": "notice-speaker" }, n.speaker)] : null,
      " · ", h("span", { "data-testid": "notice-offset" }, t("mod.offset", { t: mmss(n.from_s) }))),
    h("p", { class: "muted small" }, n.illegal ? [t("report.basis.illegal"), ": ", h("bdi", { dir: "auto" }, n.law || "")] : t("report.basis.terms")),
    h("p", { class: "description", dir: "auto" }, n.explanation));
  const out = h("div", { "aria-live": "assertive" });
  const claim = mine ? null : h("button", { type: "button", "data-action": "claim", onclick: async () => {
    try { await api.call("POST", `/safety/notices/${encodeURIComponent(n.id)}/claim`); refresh(); } catch (e) { out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))); }
  } }, n.state === "claimed" ? t("mod.takeover") : t("mod.claim"));
  if (claim && n.state === "claimed" && !mine && !(me && me.role === "admin")) claim.hidden = true;
  if (!it.head) {
    it.head = h("div"); it.actions = h("div", { class: "row" }); it.evidence = h("div", { class: "stack", "data-testid": "evidence" });
    it.formSlot = h("div"); it.out = h("div");
    it.li.append(it.head, it.actions, it.evidence, it.formSlot, it.out);
  }
  it.head.replaceChildren(head);
  const play = n.kind === "clip" ? null : h("button", { type: "button", "data-action": "evidence", onclick: () => evidence(it.evidence, n) }, t("mod.evidence"));
  it.actions.replaceChildren(...[claim, play].filter(Boolean));
  it.out.replaceChildren(out);
  if (mine && !it.formSlot.childElementCount) it.formSlot.append(decisionForm(it, n, refresh));
  if (!mine) it.formSlot.replaceChildren();
}

// evidenceAround is how much before and after the reported moment the
// console looks for evidence segments (the hold is 30 s either side).
const evidenceAround = 30000; // ms

// evidence lists the evidence segments around a notice's moment (the
// room's start plus from_s); each is fetched only when the moderator asks
// to listen, since every access is recorded in the audit log with the
// notice as its reason. The audio is fetched with the moderator's
// credentials and played from a blob: URL, at the reported moment.
async function evidence(slot, n) {
  slot.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
  try {
    const r = await api.getRoom(n.room);
    if (!r.started_at) { slot.replaceChildren(h("p", { class: "muted" }, t("mod.evidence.none"))); return; }
    const moment = new Date(r.started_at).getTime() + n.from_s * 1000;
    const end = moment + Math.max(0, (n.to_s || n.from_s) - n.from_s) * 1000;
    const q = new URLSearchParams({ room: n.room, from: new Date(moment - evidenceAround).toISOString(), to: new Date(end + evidenceAround).toISOString() });
    const segs = ((await api.call("GET", `/evidence?${q}`)).segments || [])
      .sort((a, b) => (a.track === b.track ? a.start.localeCompare(b.start) : a.track === "program" ? -1 : b.track === "program" ? 1 : a.track.localeCompare(b.track)));
    if (!segs.length) { slot.replaceChildren(h("p", { class: "muted" }, t("mod.evidence.none"))); return; }
    slot.replaceChildren(h("ul", { class: "requests" }, segs.map((s) => {
      const cell = h("div", { class: "stack" });
      const label = s.track === "program" ? t("mod.evidence.program") : t("mod.evidence.speaker", { user: s.track.replace(/^speaker-/, "") });
      return h("li", { class: "stack", "data-segment": s.id, "data-track": s.track },
        h("div", { class: "row" }, h("span", {}, label), h("span", { class: "muted small" }, when(s.start)),
          finished(s) ? h("button", { type: "button", "data-action": "listen", onclick: (e) => { e.target.disabled = true; listen(cell, s, n, moment); } }, t("mod.evidence.listen"))
            : h("span", { class: "muted small" }, t("mod.evidence.writing"))),
        cell);
    })));
  } catch (e) { slot.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))); }
}

// finished: a segment still being written has no end (and cannot be played yet).
function finished(s) { return isSet(s.end); }

async function listen(cell, s, n, moment) {
  try {
    const res = await fetch(`/api/v1/evidence/${encodeURIComponent(s.id)}.ogg?reason=${encodeURIComponent(`notice ${n.id}`)}`,
      { headers: api.authHeaders(), credentials: "same-origin" });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new api.APIError(res.status, (body.error && body.error.code) || `http_${res.status}`, "", 0);
    }
    const url = URL.createObjectURL(await res.blob());
    // The blob lives as long as the page shows it.
    const gone = new MutationObserver(() => { if (!audio.isConnected) { URL.revokeObjectURL(url); gone.disconnect(); } });
    const audio = h("audio", { controls: true, preload: "metadata", src: url, "data-testid": "evidence-audio" });
    const at = Math.max(0, (moment - new Date(s.start).getTime()) / 1000);
    audio.addEventListener("loadedmetadata", () => { audio.currentTime = Math.min(at, Math.max(0, audio.duration - 0.1) || at); }, { once: true });
    cell.replaceChildren(audio, h("p", { class: "muted small" }, t("mod.evidence.at", { t: mmss(at) })));
    gone.observe(document.getElementById("main"), { childList: true, subtree: true });
  } catch (e) { cell.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))); }
}

// decisionFields are a decision's inputs (action, suspension hours,
// ground and its reference, explanation, facts); body() is the decision's
// JSON. id makes the inputs' ids unique in the page.
function decisionFields(id, choices) {
  const action = h("select", { id: `dec-action-${id}`, name: "action" }, choices.map((a) => h("option", { value: a }, actionLabel(a))));
  const ground = h("select", { id: `dec-ground-${id}`, name: "ground" }, h("option", { value: "terms" }, t("safety.ground.terms")), h("option", { value: "illegal" }, t("safety.ground.illegal")));
  const ref = h("input", { id: `dec-ref-${id}`, name: "ground_ref", maxlength: "500", dir: "auto" });
  const alsoIllegal = h("input", { type: "checkbox", id: `dec-also-${id}` });
  const alsoField = h("div", { class: "check" }, alsoIllegal, h("label", { for: alsoIllegal.id }, t("mod.decide.alsoillegal")));
  const explanation = h("textarea", { id: `dec-expl-${id}`, name: "dec_explanation", maxlength: "2000", rows: "3", dir: "auto" });
  const facts = h("textarea", { id: `dec-facts-${id}`, name: "dec_facts", maxlength: "5000", rows: "3", dir: "auto" });
  const hours = h("input", { id: `dec-hours-${id}`, type: "number", min: "1", max: "8760", step: "1", value: "168" });
  const hoursField = field(t("mod.decide.hours"), hours);
  const refLabel = h("label", { for: ref.id });
  const el = h("div", { class: "stack" }, field(t("mod.decide.action"), action), hoursField,
    field(t("mod.decide.ground"), ground), h("div", { class: "stack field" }, refLabel, ref), alsoField,
    field(t("mod.decide.explanation"), explanation),
    field(t("mod.decide.facts"), facts, t("mod.decide.facts.help")));
  let on = true;
  const sync = () => {
    hoursField.hidden = action.value !== "suspend";
    hours.required = on && action.value === "suspend";
    ref.required = explanation.required = facts.required = on;
    refLabel.textContent = ground.value === "illegal" ? t("mod.decide.law") : t("mod.decide.clause");
    alsoField.hidden = ground.value !== "terms";
  };
  action.addEventListener("change", sync);
  ground.addEventListener("change", sync);
  sync();
  return {
    el,
    // enable says whether the fields are asked for (a hidden set is not required).
    enable(v) { on = v; el.hidden = !v; sync(); },
    body() {
      const b = { action: action.value, ground: ground.value, explanation: explanation.value.trim(), facts: facts.value.trim() };
      if (ground.value === "illegal") b.legal_ground = ref.value.trim();
      else { b.terms_ground = ref.value.trim(); b.also_illegal = alsoIllegal.checked; }
      if (action.value === "suspend") b.duration_s = Math.round(Number(hours.value) * hourS);
      return b;
    },
  };
}

function decisionForm(it, n, refresh) {
  const id = n.id;
  const fields = decisionFields(id, actions.filter((a) => a !== "remove_clip" || n.clip));
  const out = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "stack", "data-testid": "decision-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const d = await api.call("POST", `/safety/notices/${encodeURIComponent(id)}/decision`, fields.body());
      it.decided = true;
      it.actions.replaceChildren();
      form.replaceWith(h("div", { class: "stack", role: "status", "data-testid": "decision-result" },
        h("p", {}, h("strong", {}, t("mod.decided", { action: actionLabel(d.action) }))),
        h("p", { class: "muted" }, d.statement_of_reasons ? t("mod.decided.statement") : t("mod.decided.nostatement")),
        h("p", { class: "muted small" }, h("code", { dir: "ltr" }, d.puid))));
      refresh();
    } catch (err) { out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err))); }
  } }, h("h3", {}, t("mod.decide")), fields.el,
    h("button", { type: "submit", class: "primary", "data-action": "decide" }, t("mod.decide.submit")), out);
  return form;
}

// modComplaints is the console's list of open complaints (Art. 20), oldest
// first, each with its decision and the outcome form. The server refuses an
// answer from the moderator who made the decision (same_decider).
export function modComplaints(poll) {
  const list = h("ol", { class: "queue", "data-testid": "mod-complaints" });
  const empty = h("p", { class: "muted", hidden: true }, t("mod.complaints.empty"));
  const items = new Map(); // complaint id → li
  const refresh = async () => {
    let cs;
    try { cs = (await api.call("GET", "/safety/complaints")).complaints || []; } catch (e) { empty.hidden = false; empty.textContent = errorText(e); return; }
    const seen = new Set(cs.map((c) => c.id));
    for (const c of cs) {
      if (items.has(c.id)) continue;
      const li = h("li", { class: "card stack", "data-complaint": c.id });
      items.set(c.id, li);
      list.append(li);
      fillComplaint(li, c);
    }
    for (const [id, li] of items) if (!seen.has(id) && !li.dataset.answered) { li.remove(); items.delete(id); }
    empty.hidden = list.childElementCount > 0;
  };
  poll(refresh);
  return h("section", { class: "card stack", "aria-labelledby": "complaints-h" }, h("h2", { id: "complaints-h" }, t("mod.complaints")), empty, list);
}

function fillComplaint(li, c) {
  const decision = h("div", { class: "stack" });
  api.call("GET", `/safety/decisions/${encodeURIComponent(c.decision)}`).then((d) => decision.replaceChildren(
    h("p", { class: "row" }, h("strong", {}, actionLabel(d.action)), h("span", { class: "muted" }, when(d.decided_at)),
      d.room ? h("a", { href: `/r/${encodeURIComponent(d.room)}`, dir: "ltr" }, d.room) : null,
      d.decider ? h("span", { class: "muted small" }, t("mod.complaints.decider"), " ", h("bdi", { dir: "ltr" }, d.decider)) : null),
    h("p", { class: "description", dir: "auto" }, d.explanation)), () => {});
  const outcome = h("select", { id: `out-${c.id}`, name: "outcome" }, ["upheld", "reversed", "modified"].map((o) => h("option", { value: o }, t(`mod.outcome.${o}`))));
  // modified: the restriction is lifted and this decision replaces it (the
  // original's room, user, clip and category unless given).
  const replacement = decisionFields(`repl-${c.id}`, actions.filter((a) => a !== "none"));
  replacement.enable(false);
  outcome.addEventListener("change", () => replacement.enable(outcome.value === "modified"));
  const expl = h("textarea", { id: `out-expl-${c.id}`, name: "explanation", required: true, maxlength: "2000", rows: "2", dir: "auto" });
  const out = h("div", { "aria-live": "assertive" });
  const form = h("form", { class: "stack", "data-testid": "outcome-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const body = { outcome: outcome.value, explanation: expl.value.trim() };
      if (outcome.value === "modified") body.replacement = replacement.body();
      const r = await api.call("POST", `/safety/complaints/${encodeURIComponent(c.id)}/decision`, body);
      li.dataset.answered = "1";
      form.replaceWith(h("p", { role: "status", "data-testid": "outcome-result" }, t(`complain.outcome.${r.outcome}`)));
    } catch (err) { out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err))); }
  } }, field(t("mod.outcome"), outcome), field(t("mod.outcome.explanation"), expl), replacement.el,
    h("button", { type: "submit", class: "primary", "data-action": "answer" }, t("mod.outcome.submit")), out);
  li.append(h("p", { class: "row" }, h("strong", {}, t("mod.complaints.about")), h("span", { class: "muted" }, when(c.created_at))),
    decision, h("blockquote", { class: "description", dir: "auto" }, c.text), form);
}

// decisionNotice tells a member of a live room that a decision concerns
// them (the room's safety_decision event names only its user and URL).
export function decisionNotice(ev, me) {
  const ch = ev && ev.data && ev.data.change;
  if (ev.type !== "safety_decision" || !ch || !me || ch.user !== me.id) return null;
  return h("p", { class: "card notice", role: "alert", "data-testid": "safety-decision-notice" }, t("safety.live.notice"), " ",
    h("a", { href: "/safety" }, t("safety.live.read")));
}

// modOwnInitiative is the console's form for a decision without a notice
// (POST /safety/decisions): its source is SOURCE_VOLUNTARY, and a
// restriction has its statement of reasons as any other.
export function modOwnInitiative() {
  const room = h("input", { id: "own-room", name: "room", autocomplete: "off", dir: "ltr" });
  const user = h("input", { id: "own-user", name: "user", autocomplete: "off", dir: "ltr" });
  const clip = h("input", { id: "own-clip", name: "clip", autocomplete: "off", dir: "ltr" });
  const category = h("select", { id: "own-category", name: "category", required: true }, h("option", { value: "" }, t("report.category.choose")));
  const out = h("div", { "aria-live": "assertive" });
  loadCategories().then((cs) => category.append(...cs.map((c) => h("option", { value: c }, catLabel(c)))), (e) => out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e))));
  const fields = decisionFields("own", actions.filter((a) => a !== "none"));
  const form = h("form", { class: "stack", "data-testid": "own-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { ...fields.body(), category: category.value };
    for (const [k, el] of [["room", room], ["user", user], ["clip", clip]]) if (el.value.trim()) body[k] = el.value.trim();
    try {
      const d = await api.call("POST", "/safety/decisions", body);
      out.replaceChildren(h("div", { class: "stack", role: "status", "data-testid": "own-result" },
        h("p", {}, h("strong", {}, t("mod.decided", { action: actionLabel(d.action) }))),
        h("p", { class: "muted" }, d.statement_of_reasons ? t("mod.decided.statement") : t("mod.decided.nostatement")),
        h("p", { class: "muted small" }, h("code", { dir: "ltr" }, d.puid))));
    } catch (err) { out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(err))); }
  } }, field(t("mod.own.room"), room), field(t("mod.own.user"), user, t("mod.own.user.help")), field(t("mod.own.clip"), clip),
    field(t("report.category"), category), fields.el,
    h("button", { type: "submit", class: "primary", "data-action": "decide-own" }, t("mod.decide.submit")), out);
  return h("section", { class: "card stack", "aria-labelledby": "own-h" }, h("details", {}, h("summary", { id: "own-h" }, t("mod.own")), form));
}
