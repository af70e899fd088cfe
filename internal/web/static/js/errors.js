// errorText says what went wrong in the page's language: an API error by its
// stable code (docs/api.md, "Errors"), never the server's English message.
import { t, has } from "./i18n.js";
import { APIError, token } from "./api.js";

export function errorText(e) {
  if (e instanceof APIError) {
    // A rejected credential: the browser's session, or the pasted API token.
    if (e.code === "unauthorized") return t(token() ? "error.unauthorized.token" : "error.unauthorized");
    if (["busy", "rate_limited", "shutting_down", "overloaded", "queue_full", "hls_full"].includes(e.code)) {
      return t(`error.${e.code}`, { s: Math.max(1, Math.ceil(e.retryAfter || 1)) });
    }
    if (has(`error.${e.code}`)) return t(`error.${e.code}`);
    return t("error.unknown", { code: e.code });
  }
  if (e instanceof TypeError) return t("error.network"); // fetch: no answer from the server
  return t("error.unknown", { code: (e && e.name) || "error" });
}
