import { api, el, t, when } from "./core.js";
export async function initAudit() {
  const access = await api("/api/audit/access?days=7");
  const cell = (d, name) => el("td", { class: d.outliers.includes(name) ? "error outlier" : "" }, d[name]);
  document.querySelector("#access tbody").replaceChildren(...(access.length ? access.map((d) =>
    el("tr", { "data-user": d.username, class: d.outliers.length ? "flagged" : "" }, el("td", {}, d.day), el("td", {}, d.username),
      cell(d, "searches"), cell(d, "subjects_viewed"), cell(d, "trails_viewed"), cell(d, "photos_viewed"),
      el("td", { class: d.refused_views ? "error outlier" : "" }, d.refused_views))) :
    [el("tr", {}, el("td", { class: "muted", colspan: "7" }, t("no reads recorded")))]));
  const entries = await api("/api/audit?limit=500");
  document.querySelector("#audit tbody").replaceChildren(...entries.map((e) => el("tr", { "data-action": e.action },
    el("td", {}, e.id), el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action),
    el("td", {}, e.object_type ? `${e.object_type} ${e.object_id}` : ""), el("td", {}, e.source), el("td", {}, JSON.stringify(e.details)))));
}
