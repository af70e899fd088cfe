// Sharing a room's link: the system's share sheet where the browser has
// one (navigator.share: phones, most desktops), else the clipboard, with
// a confirmation screen readers announce (a live region). Where neither
// works (no clipboard permission), the link is shown selected, to copy by hand.
import { t } from "./i18n.js";
import { h } from "./dom.js";

const saidMs = 5000; // how long the confirmation stays

// shareButton shares url; title() is the room's title when asked.
export function shareButton(url, title) {
  const said = h("span", { class: "muted small", role: "status", "aria-live": "polite", "data-testid": "share-status" });
  const manual = h("input", { type: "text", readonly: true, value: url, dir: "ltr", "aria-label": t("share.link"), "data-testid": "share-link", hidden: true });
  let timer = 0;
  const say = (s) => {
    said.textContent = s;
    clearTimeout(timer);
    timer = setTimeout(() => { said.textContent = ""; }, saidMs);
  };
  const button = h("button", { type: "button", id: "share", onclick: async () => {
    const data = { title: title(), url };
    if (typeof navigator.share === "function" && (!navigator.canShare || navigator.canShare(data))) {
      try {
        await navigator.share(data);
        return;
      } catch (e) {
        if (e && e.name === "AbortError") return; // the person closed the sheet
        // Refused (no user activation, a policy): copy instead.
      }
    }
    try {
      await navigator.clipboard.writeText(url);
      manual.hidden = true;
      say(t("share.copied"));
    } catch {
      manual.hidden = false;
      manual.focus();
      manual.select();
      say(t("share.copy.manual"));
    }
  } }, t("share.button"));
  return h("div", { class: "row share" }, button, said, manual);
}
