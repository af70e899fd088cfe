// Translations: every user-visible string comes from /i18n/{lang}.json.
// The language is ?lang=, else the saved choice, else the browser's.
const supported = ["en", "ar"];
const rtl = new Set(["ar"]);
let dict = {};
let lang = "en";
let plural = new Intl.PluralRules("en");

export function pickLang() {
  const q = new URLSearchParams(location.search).get("lang");
  if (supported.includes(q)) {
    localStorage.setItem("majlis.lang", q);
    return q;
  }
  const saved = localStorage.getItem("majlis.lang");
  if (supported.includes(saved)) return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = l.toLowerCase().split("-")[0];
    if (supported.includes(base)) return base;
  }
  return "en";
}

export async function load(l) {
  const res = await fetch(`/i18n/${l}.json`);
  dict = await res.json();
  lang = l;
  plural = new Intl.PluralRules(l);
  document.documentElement.lang = l;
  document.documentElement.dir = rtl.has(l) ? "rtl" : "ltr";
}

export function current() { return lang; }

// has reports whether the language has a text for key.
export function has(key) { return Object.hasOwn(dict, key); }

export function other() { return lang === "ar" ? "en" : "ar"; }

export function setLang(l) { localStorage.setItem("majlis.lang", l); }

// t looks a key up and fills {name} placeholders; numbers use the language's digits.
export function t(key, vars = {}) {
  let s = dict[key];
  if (s === undefined) {
    console.warn("missing translation", key);
    s = key;
  }
  return s.replace(/\{(\w+)\}/g, (_, k) => {
    const v = vars[k];
    return typeof v === "number" ? v.toLocaleString(lang) : String(v ?? "");
  });
}

// tn is t for a count: key.zero, key.one, key.two, key.few, key.many or
// key.other, as the language's plural rules (Intl.PluralRules) pick for n
// (Arabic uses all six, English one and other), with {n} filled in.
export function tn(key, n, vars = {}) {
  const form = `${key}.${plural.select(n)}`;
  return t(has(form) ? form : `${key}.other`, { ...vars, n });
}

// isolate wraps user text (a name) set inside a sentence of the other
// direction in First Strong Isolate … Pop Directional Isolate: the <bdi> of
// plain text (dialogs, attributes).
export function isolate(s) { return `\u2068${s}\u2069`; }

// apply fills data-i18n (text), data-i18n-label (aria-label) and data-i18n-ph (placeholder).
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
}
