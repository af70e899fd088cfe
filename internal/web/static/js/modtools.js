// The platform's trust-and-safety tools in /mod, under the queue and the
// complaints (docs/safety.md, "In the web app"): the trusted flaggers
// (Art. 22 DSA; admins mark and unmark them, moderators see the list), a
// user's Art. 23 standing, the audit log (GET /api/v1/audit, filtered and
// paged) and the export of the statements of reasons in the Transparency
// Database's format (GET /api/v1/safety/statements, downloaded as a file).
// The server decides every permission; the page leaves out only what it
// would refuse.
import * as i18n from "./i18n.js";
import { t, tn } from "./i18n.js";
import * as api from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";
import { catLabel, when, isSet } from "./safety.js";

const anyArea = "*";

function areaLabel(a) { return a === anyArea ? t("modtools.flaggers.any") : catLabel(a); }

// section is a titled card; id names its heading for aria-labelledby.
function section(id, title, ...children) {
  return h("section", { class: "card stack", "aria-labelledby": id, "data-testid": id }, h("h2", { id }, title), ...children);
}

// modFlaggers lists the trusted flaggers; an admin adds and removes them.
export function modFlaggers(poll) {
  const admin = api.user() && api.user().role === "admin";
  const list = h("ul", { class: "rows", "data-testid": "flaggers" });
  const out = h("div", { "aria-live": "polite" });
  const refresh = async () => {
    let fs;
    try { fs = (await api.call("GET", "/safety/trusted-flaggers")).trusted_flaggers || []; } catch (e) { out.replaceChildren(h("p", { class: "error" }, errorText(e))); return; }
    list.replaceChildren(...(fs.length ? fs.map((f) => h("li", { class: "row", "data-flagger": f.user },
      h("bdi", {}, f.user), h("span", {}, areaLabel(f.area)),
      h("span", { class: "muted" }, t("modtools.flaggers.since", { when: when(f.since) })),
      admin ? h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(t("modtools.flaggers.remove.confirm", { user: i18n.isolate(f.user) }))) return;
        try { await api.call("DELETE", `/safety/trusted-flaggers/${encodeURIComponent(f.user)}`); out.replaceChildren(); refresh(); } catch (e) { out.replaceChildren(h("p", { class: "error" }, errorText(e))); }
      } }, t("modtools.flaggers.remove")) : null))
      : [h("li", { class: "muted" }, t("modtools.flaggers.empty"))]));
  };
  poll(refresh);
  const kids = [list, out];
  if (admin) {
    const user = h("input", { id: "flagger-user", required: true, autocomplete: "off", dir: "auto" });
    const area = h("select", { id: "flagger-area" }, h("option", { value: anyArea }, t("modtools.flaggers.any")));
    api.call("GET", "/safety/categories").then((r) => {
      for (const c of (r && r.categories) || []) area.append(h("option", { value: c }, catLabel(c)));
    }).catch(() => { /* "any area" still works */ });
    kids.push(h("form", { class: "stack", "data-testid": "flagger-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api.call("PUT", `/safety/trusted-flaggers/${encodeURIComponent(user.value.trim())}`, { area: area.value });
        user.value = "";
        out.replaceChildren(h("p", {}, t("modtools.flaggers.added")));
        refresh();
      } catch (err) { out.replaceChildren(h("p", { class: "error" }, errorText(err))); }
    } },
    h("label", { for: "flagger-user" }, t("modtools.user")), user,
    h("label", { for: "flagger-area" }, t("modtools.flaggers.area")), area,
    h("button", { type: "submit" }, t("modtools.flaggers.add"))));
  }
  return section("flaggers-h", t("modtools.flaggers"), ...kids);
}

// modMisuse shows a user's Art. 23 standing.
export function modMisuse() {
  const user = h("input", { id: "misuse-user", required: true, autocomplete: "off", dir: "auto" });
  const out = h("div", { "aria-live": "polite", "data-testid": "misuse-out" });
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    let st;
    try { st = await api.call("GET", `/safety/users/${encodeURIComponent(user.value.trim())}/misuse`); } catch (err) { out.replaceChildren(h("p", { class: "error" }, errorText(err))); return; }
    const rows = [
      [t("modtools.misuse.strikes"), tn("modtools.misuse.count", st.strikes || 0), "misuse-strikes"],
      [t("modtools.misuse.unfounded"), tn("modtools.misuse.count", st.unfounded_notices || 0), "misuse-unfounded"],
      [t("modtools.misuse.warned"), isSet(st.notifier_warned_at) ? when(st.notifier_warned_at) : t("modtools.no"), "misuse-warned"],
      [t("modtools.misuse.blocked"), isSet(st.notices_suspended_until) ? when(st.notices_suspended_until) : t("modtools.no"), "misuse-blocked"],
      [t("modtools.misuse.suspended"), st.strike_suspension_in_force ? t("modtools.yes") : t("modtools.no"), "misuse-suspended"],
    ];
    out.replaceChildren(h("table", { class: "figures" }, h("caption", {}, h("bdi", {}, st.user)),
      h("tbody", {}, ...rows.map(([k, v, id]) => h("tr", { "data-testid": id }, h("th", { scope: "row" }, k), h("td", {}, v))))));
  } }, h("label", { for: "misuse-user" }, t("modtools.user")), user, h("button", { type: "submit" }, t("modtools.misuse.show")));
  return section("misuse-h", t("modtools.misuse"), h("p", { class: "muted" }, t("modtools.misuse.help")), form, out);
}

const auditPage = 50;

// modAudit reads the audit log: filters, a table, the next page.
export function modAudit() {
  const filters = ["action", "actor", "target", "room"].map((name) => ({ name, input: h("input", { id: `audit-${name}`, autocomplete: "off", dir: "auto" }) }));
  const body = h("tbody", { "data-testid": "audit-rows" });
  const out = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, t("modtools.audit.more"));
  let after = 0;
  const load = async (fresh) => {
    if (fresh) { after = 0; body.replaceChildren(); }
    const q = new URLSearchParams({ limit: String(auditPage) });
    for (const f of filters) if (f.input.value.trim()) q.set(f.name, f.input.value.trim());
    if (after) q.set("after", String(after));
    let r;
    try { r = await api.call("GET", `/audit?${q}`); } catch (e) { out.replaceChildren(h("p", { class: "error" }, errorText(e))); return; }
    out.replaceChildren();
    const rows = r.rows || [];
    for (const x of rows) {
      body.append(h("tr", { "data-seq": String(x.seq) },
        h("td", {}, String(x.seq)), h("td", {}, when(x.at)), h("td", {}, h("bdi", {}, x.actor)), h("td", {}, h("code", {}, x.action)),
        h("td", {}, h("bdi", {}, x.target)), h("td", {}, h("bdi", {}, x.room || "")), h("td", { dir: "auto" }, x.reason || "")));
    }
    if (!body.childElementCount) body.append(h("tr", {}, h("td", { colspan: "7", class: "muted" }, t("modtools.audit.empty"))));
    after = r.next_after || after;
    more.hidden = rows.length < auditPage;
  };
  more.addEventListener("click", () => load(false));
  const form = h("form", { class: "stack", "data-testid": "audit-form", onsubmit: (e) => { e.preventDefault(); load(true); } },
    ...filters.map((f) => [h("label", { for: f.input.id }, t(`modtools.audit.${f.name}`)), f.input]),
    h("button", { type: "submit" }, t("modtools.audit.search")));
  // A region the keyboard can scroll too, on a phone (WCAG 2.1.1).
  const table = h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": t("modtools.audit.caption") }, h("table", { class: "figures audit" },
    h("caption", {}, t("modtools.audit.caption")),
    h("thead", {}, h("tr", {}, ...["seq", "at", "actor", "action", "target", "room", "reason"].map((c) => h("th", { scope: "col" }, t(`modtools.audit.col.${c}`))))),
    body));
  load(true);
  return section("audit-h", t("modtools.audit"), form, table, more, out);
}

const exportPages = 100; // at most 100 pages of 1,000 statements per file

// modExport downloads the statements of reasons since a date as one JSON
// file in the Transparency Database's format (the API's pages joined).
export function modExport() {
  const since = h("input", { id: "export-since", type: "date" });
  const out = h("div", { "aria-live": "polite", "data-testid": "export-out" });
  const form = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    out.replaceChildren(h("p", {}, t("modtools.export.working")));
    const all = [];
    let next = since.value ? new Date(`${since.value}T00:00:00Z`).toISOString() : "";
    try {
      for (let page = 0; page < exportPages; page++) {
        const q = new URLSearchParams({ limit: "1000" });
        if (next) q.set("since", next);
        const r = await api.call("GET", `/safety/statements?${q}`);
        all.push(...(r.statements || []));
        if (!r.next_since || !(r.statements || []).length) break;
        next = r.next_since;
      }
    } catch (err) { out.replaceChildren(h("p", { class: "error" }, errorText(err))); return; }
    const blob = new Blob([JSON.stringify({ statements: all }, null, 2)], { type: "application/json" });
    const name = `statements-${since.value || "all"}.json`;
    out.replaceChildren(h("p", {}, tn("modtools.export.ready", all.length), " ",
      h("a", { href: URL.createObjectURL(blob), download: name, "data-testid": "export-link" }, t("modtools.export.download", { name }))));
  } }, h("label", { for: "export-since" }, t("modtools.export.since")), since, h("button", { type: "submit" }, t("modtools.export.make")));
  return section("export-h", t("modtools.export"), h("p", { class: "muted" }, t("modtools.export.help")), form, out);
}
