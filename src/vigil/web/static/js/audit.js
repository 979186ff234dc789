// The audit page (auditors): reads by user and day, the entries filtered by who, action, object and time
// and paged past the newest, and a check of the whole chain against the last anchored head.
import { api, el, t, when, num } from "./core.js";
const PAGE = 100;

export async function initAudit() {
  const access = await api("/api/audit/access?days=7");
  const cell = (d, name) => el("td", { class: d.outliers.includes(name) ? "error outlier" : "" }, d[name]);
  document.querySelector("#access tbody").replaceChildren(...(access.length ? access.map((d) =>
    el("tr", { "data-user": d.username, class: d.outliers.length ? "flagged" : "" }, el("td", {}, d.day), el("td", {}, d.username),
      cell(d, "searches"), cell(d, "subjects_viewed"), cell(d, "trails_viewed"), cell(d, "photos_viewed"),
      el("td", { class: d.refused_views ? "error outlier" : "" }, d.refused_views))) :
    [el("tr", {}, el("td", { class: "muted", colspan: "7" }, t("no reads recorded")))]));

  const form = document.getElementById("audit-filter");
  const tbody = document.querySelector("#audit tbody");
  const older = document.getElementById("audit-older");
  const error = document.getElementById("audit-error");
  const row = (e) => el("tr", { "data-action": e.action, "data-id": e.id },
    el("td", {}, e.id), el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action),
    el("td", {}, e.object_type ? `${e.object_type} ${e.object_id}` : ""), el("td", {}, e.source), el("td", { class: "details" }, JSON.stringify(e.details)));
  const query = () => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    for (const [name, value] of new FormData(form)) {
      if (!String(value).trim()) continue;
      q.set(name, name === "since" || name === "until" ? new Date(value).toISOString() : String(value).trim());
    }
    return q;
  };
  // the next page starts before the oldest entry shown (entries keep their place while new ones arrive)
  const load = async (more) => {
    const q = query();
    const last = tbody.lastElementChild && tbody.lastElementChild.dataset.id;
    if (more && last) q.set("before", last);
    try {
      const entries = await api("/api/audit?" + q);
      error.textContent = "";
      if (more) tbody.append(...entries.map(row));
      else tbody.replaceChildren(...(entries.length ? entries.map(row) : [el("tr", {}, el("td", { class: "muted", colspan: "7" }, t("no entries match")))]));
      older.hidden = entries.length < PAGE;
    } catch (e) { error.textContent = e.message; }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  form.addEventListener("reset", () => setTimeout(() => load(false), 0));
  older.addEventListener("click", () => load(true));
  await load(false);

  const button = document.getElementById("verify-chain");
  const result = document.getElementById("verify-result");
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.className = ""; result.textContent = t("Checking every entry…");
    try {
      const v = await api("/api/audit/verify", { method: "POST" });
      result.className = v.ok ? "verified" : "error";
      result.dataset.ok = String(v.ok);
      const head = t("{n} entries; newest hash {head}", { n: num(v.entries, 0), head: v.head.slice(0, 16) + "…" });
      const anchor = v.anchor_at
        ? t("Last anchored head: {n} entries at {at}, hash {head}", { n: num(v.anchor_entries, 0), at: when(v.anchor_at), head: v.anchor_head.slice(0, 16) + "…" })
        : v.anchored ? t("No anchor could be read.") : t("Nothing is anchored: no place to publish anchors is set.");
      const why = v.first_bad ? t("entry {n}: {reason}", { n: v.first_bad, reason: v.reason }) : v.reason;
      result.replaceChildren(
        el("strong", {}, v.ok ? t("Intact.") : t("NOT intact: {why}", { why })),
        " " + head, el("br"), el("span", { class: "anchor-head" }, anchor));
    } catch (e) { result.className = "error"; result.textContent = e.message; }
    button.disabled = false;
  });
}
