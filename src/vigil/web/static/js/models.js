// The face models page (admins): the models, which one is active, a switch with a reason followed to the
// end, and a roll back (docs/models.md).
import { api, el, t, when } from "./core.js";

const short = (sha) => (sha ? sha.slice(0, 12) + "…" : "—");

export async function initModels() {
  const error = document.getElementById("models-error");
  const fail = (e) => { error.textContent = e.message; };
  let following = null;

  async function show() {
    const m = await api("/api/models");
    const active = m.active ? m.active.name : m.running;
    document.getElementById("models-active").textContent = m.active
      ? t("Active: {name} (since {since}, by {by}: {reason})", { name: m.active.name, since: when(m.active.since), by: m.active.by, reason: m.active.reason })
      : t("Active: {name} (the configured model; no switch yet)", { name: m.running });
    const rows = [
      ...m.added.map((a) => el("tr", { "data-model": a.name, class: a.name === active ? "active" : "" },
        el("td", {}, a.name), el("td", {}, a.licence), el("td", {}, a.source || "—"),
        el("td", { title: a.sha256 }, el("code", {}, short(a.sha256))),
        el("td", {}, a.calibrated_at ? `${when(a.calibrated_at)} — ${a.calibrated_on}` : t("not calibrated")),
        el("td", {}, a.name === active ? t("active") : ""))),
      ...m.bundled.map((name) => el("tr", { "data-model": name, class: name === active ? "active" : "" },
        el("td", {}, name), el("td", {}, t("bundled (see vigil models list)")), el("td", {}, "—"), el("td", {}, "—"),
        el("td", {}, t("shipped curves")), el("td", {}, name === active ? t("active") : ""))),
    ];
    document.querySelector("#models tbody").replaceChildren(...rows);
    const select = document.querySelector("#model-switch select");
    select.replaceChildren(...[...m.added.map((a) => a.name), ...m.bundled].filter((n) => n !== active).map((n) => el("option", { value: n }, n)));
    document.getElementById("rollback-to").textContent = m.previous ? t("Back to {name}", { name: m.previous }) : t("No earlier model to roll back to");
    document.querySelector("#model-rollback button").disabled = !m.previous;
    if (m.switch) progress(m.switch);
  }

  function progress(s) {
    const box = document.getElementById("switch-progress");
    box.hidden = false;
    const bar = document.getElementById("switch-bar");
    bar.max = Math.max(1, s.total); bar.value = s.state === "done" ? bar.max : s.done;
    document.getElementById("switch-state").textContent = s.state === "running"
      ? t("Switching to {name}: {done} of {total} photos embedded", { name: s.name, done: s.done, total: s.total })
      : s.state === "done" ? t("Switched to {name}: {count} photos embedded", { name: s.name, count: s.embedded ?? 0 })
        : t("The switch to {name} failed: {error}", { name: s.name, error: s.error || "" });
    box.dataset.state = s.state;
    if (s.state === "running" && !following) following = setInterval(follow, 1000);
    if (s.state !== "running" && following) { clearInterval(following); following = null; show().catch(fail); }
  }

  async function follow() {
    try { const s = await api("/api/models/switch"); if (s) progress(s); } catch (e) { fail(e); }
  }

  async function start(path, json, form) {
    error.textContent = "";
    try { progress(await api(path, { method: "POST", json })); form.reset(); } catch (e) { fail(e); }
  }

  const switchForm = document.getElementById("model-switch");
  switchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(switchForm);
    start("/api/models/switch", { name: data.get("name"), reason: data.get("reason") }, switchForm);
  });
  const rollbackForm = document.getElementById("model-rollback");
  rollbackForm.addEventListener("submit", (event) => {
    event.preventDefault();
    start("/api/models/rollback", { reason: new FormData(rollbackForm).get("reason") }, rollbackForm);
  });
  await show().catch(fail);
}
