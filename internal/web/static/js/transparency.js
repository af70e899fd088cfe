// The public transparency report (/transparency): the counts of notices,
// decisions, complaints and Art. 23 suspensions of a year or half year
// (Art. 15 and 24 DSA), from GET /api/v1/transparency, with the JSON and
// the Implementing Regulation 2024/2835 CSV to download. Anyone may read
// it; it holds no personal data.
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import * as api from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";
import { actionLabel, catLabel } from "./safety.js";

const firstYear = 2024;

// periods lists the report's periods, newest first: each year from
// firstYear to now, and each half year that has begun.
function periods(now = new Date()) {
  const out = [];
  for (let y = now.getUTCFullYear(); y >= firstYear; y--) {
    out.push({ id: String(y), label: t("tr.period.year", { year: String(y) }) });
    if (y < now.getUTCFullYear() || now.getUTCMonth() >= 6) out.push({ id: `${y}-H2`, label: t("tr.period.h2", { year: String(y) }) });
    out.push({ id: `${y}-H1`, label: t("tr.period.h1", { year: String(y) }) });
  }
  return out;
}

function num(n) { return new Intl.NumberFormat(i18n.current()).format(n || 0); }

function duration(s) {
  if (!s) return t("tr.none");
  const hours = s / 3600;
  return hours >= 1 ? t("tr.hours", { n: num(Math.round(hours * 10) / 10) }) : t("tr.minutes", { n: num(Math.max(1, Math.round(s / 60))) });
}

// table is a two-column table: a caption, then [label, value, testid] rows.
function table(id, caption, rows) {
  return h("table", { class: "figures", "data-testid": id },
    h("caption", {}, caption),
    h("tbody", {}, ...rows.map(([label, value, tid]) => h("tr", tid ? { "data-testid": tid } : {},
      h("th", { scope: "row" }, label), h("td", {}, value)))));
}

function byKey(m, label) {
  return Object.entries(m || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([k, n]) => [label(k), num(n)]);
}

function report(r) {
  const q = (fmt) => `/api/v1/transparency?period=${encodeURIComponent(r.period)}${fmt ? `&format=${fmt}` : ""}`;
  const from = new Date(r.from).toLocaleDateString(i18n.current(), { dateStyle: "long", timeZone: "UTC" });
  const to = new Date(new Date(r.to).getTime() - 1).toLocaleDateString(i18n.current(), { dateStyle: "long", timeZone: "UTC" });
  return h("div", { class: "stack", "data-testid": "tr-report" },
    h("p", {}, t("tr.range", { from, to })),
    r.complete ? null : h("p", { class: "muted", "data-testid": "tr-partial" }, t("tr.partial")),
    table("tr-notices", t("tr.notices"), [
      [t("tr.notices.total"), num(r.notices), "tr-notices-total"],
      [t("tr.source.article16"), num(r.notices_by_source?.SOURCE_ARTICLE_16)],
      [t("tr.source.trusted"), num(r.notices_by_source?.SOURCE_TRUSTED_FLAGGER)],
      ...byKey(r.notices_by_category, catLabel),
      [t("tr.median.decision"), duration(r.median_time_to_decision_s)],
    ]),
    table("tr-decisions", t("tr.decisions"), [
      [t("tr.decisions.total"), num(r.decisions), "tr-decisions-total"],
      [t("tr.decisions.notice"), num(r.decisions_on_notice)],
      [t("tr.decisions.own"), num(r.decisions_own_initiative)],
      ...byKey(r.decisions_by_action, actionLabel),
      ...byKey(r.decisions_by_ground, (g) => t(`safety.ground.${g}`)),
      [t("tr.automated.decisions"), num(r.decisions_automated)],
      [t("tr.automated.detections"), num(r.detections_automated)],
    ]),
    table("tr-complaints", t("tr.complaints"), [
      [t("tr.complaints.total"), num(r.complaints), "tr-complaints-total"],
      ...["upheld", "reversed", "modified", "open"].map((o) => [t(`tr.outcome.${o}`), num(r.complaints_by_outcome?.[o])]),
      [t("tr.reversals"), num(r.reversals), "tr-reversals"],
      [t("tr.median.complaint"), duration(r.median_time_to_complaint_outcome_s)],
    ]),
    table("tr-misuse", t("tr.misuse"), [
      [t("tr.misuse.accounts"), num(r.art23_account_suspensions)],
      [t("tr.misuse.notices"), num(r.art23_notice_suspensions)],
      [t("tr.misuse.warnings"), num(r.art23_warnings)],
      [t("tr.flaggers"), num(r.trusted_flaggers)],
    ]),
    h("p", { class: "row" },
      h("a", { href: q("csv"), download: "", "data-testid": "tr-csv" }, t("tr.download.csv")),
      h("a", { href: q(""), "data-testid": "tr-json" }, t("tr.download.json"))),
    h("p", { class: "muted small" }, t("tr.template")));
}

export function viewTransparency() {
  document.title = `${t("tr.title")} · ${t("app.name")}`;
  const ps = periods();
  const want = new URLSearchParams(location.search).get("period");
  const select = h("select", { id: "tr-period" }, ...ps.map((p) => h("option", { value: p.id, selected: p.id === want }, p.label)));
  const out = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, t("common.loading")));
  const load = async () => {
    const period = select.value;
    out.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
    try {
      const r = await api.call("GET", `/transparency?period=${encodeURIComponent(period)}`);
      r.period = period;
      out.replaceChildren(report(r));
    } catch (e) {
      out.replaceChildren(h("p", { class: "error", role: "alert" }, errorText(e)));
    }
  };
  select.addEventListener("change", () => {
    history.replaceState(null, "", `/transparency?period=${encodeURIComponent(select.value)}`);
    load();
  });
  load();
  return h("section", { class: "stack" }, h("h1", {}, t("tr.title")), h("p", {}, t("tr.intro")),
    h("div", { class: "stack field" }, h("label", { for: "tr-period" }, t("tr.period")), select), out);
}
