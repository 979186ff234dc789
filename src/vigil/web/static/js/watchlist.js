import { api, el, t, when, num, word } from "./core.js";
export async function initWatchlist() {
  const tbody = document.querySelector("#subjects tbody");
  const load = async () => {
    const q = document.getElementById("search").value.trim();
    const reason = document.getElementById("search-reason").value.trim();
    let subjects;
    try {
      subjects = await api("/api/subjects" + (q ? "?q=" + encodeURIComponent(q) + "&reason=" + encodeURIComponent(reason) : ""));
      document.getElementById("search-error").textContent = "";
    } catch (e) { document.getElementById("search-error").textContent = e.message; return; }
    const action = (s) => s.status === "active" ? "suspend" : (s.status === "suspended" && !s.pending_action ? "reinstate" : null);
    tbody.replaceChildren(...subjects.map((s) => el("tr", { "data-subject-id": s.id },
      el("td", {}, el("a", { href: "/subjects/" + s.id }, s.display_name)), el("td", {}, word(s.category)),
      el("td", {}, word(s.status) + (s.pending_action && s.status !== "proposed" ? t(" ({action} waiting)", { action: word(s.pending_action) }) : "")),
      el("td", {}, s.legal_basis_type + ": " + s.legal_basis_reference),
      el("td", {}, (s.proposed_by || "—") + " / " + (s.approved_by || t("not yet"))), el("td", {}, when(s.expires_at)),
      el("td", {}, action(s) ? Object.assign(el("button", { type: "button" }, action(s) === "suspend" ? t("Suspend") : t("Ask to reinstate")), {
        onclick: async () => { await api(`/api/subjects/${s.id}/${action(s)}`, { method: "POST" }); load(); } }) : ""))));
    await loadPending();
  };
  const loadPending = async () => {
    const waiting = await api("/api/subjects?pending=true");
    document.querySelector("#pending tbody").replaceChildren(...(waiting.length ? waiting.map((s) => el("tr", { "data-subject-id": s.id },
      el("td", {}, el("a", { href: "/subjects/" + s.id }, s.display_name)), el("td", {}, word(s.category)),
      el("td", {}, word(s.pending_action) + (s.pending_expires_at ? t(" to {date}", { date: when(s.pending_expires_at) }) : "")), el("td", {}, s.pending_by),
      el("td", {}, s.legal_basis_type + ": " + s.legal_basis_reference), el("td", {}, when(s.expires_at)),
      el("td", {}, Object.assign(el("button", { type: "button", "data-action": "approve" }, t("Approve")), {
        onclick: async () => {
          try { await api(`/api/subjects/${s.id}/approve`, { method: "POST" }); document.getElementById("pending-error").textContent = ""; load(); }
          catch (e) { document.getElementById("pending-error").textContent = e.message; } } })))) :
      [el("tr", {}, el("td", { class: "muted", colspan: "7" }, t("nothing waiting")))]));
  };
  document.getElementById("search-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  const pct = (x) => (x === null || x === undefined ? t("no calibration") : num(100 * x, x < 0.001 ? 4 : 2) + "%");
  const loadThresholds = async () => {
    const rows = await api("/api/thresholds");
    document.querySelector("#thresholds tbody").replaceChildren(...rows.map((th) => {
      const reason = el("input", { placeholder: t("reason"), "aria-label": t("reason") });
      const submit = (path, json) => async () => {
        try { await api(path, { method: "POST", json: Object.assign(json(), { reason: reason.value }) });
              document.getElementById("threshold-error").textContent = ""; loadThresholds(); }
        catch (e) { document.getElementById("threshold-error").textContent = e.message; } };
      const policy = el("input", { type: "number", step: "0.01", min: "0.001", value: String(th.false_alerts_per_1000), "aria-label": t("policy") });
      const value = el("input", { type: "number", step: "0.001", value: th.threshold.toFixed(3), "aria-label": t("threshold") });
      const setPolicy = Object.assign(el("button", { type: "button", "data-action": "policy" }, t("Set policy")),
        { onclick: submit(`/api/thresholds/${th.category}/policy`, () => ({ false_alerts_per_1000: +policy.value })) });
      const setValue = Object.assign(el("button", { type: "button", "data-action": "threshold" }, t("Set threshold by hand")),
        { onclick: submit("/api/thresholds/" + th.category, () => ({ value: +value.value })) });
      const source = { set: t(" (set by hand)"), policy: t(" ({rule} rule, from the policy)", { rule: word(th.rule) }), provisional: t(" (provisional default)") }[th.source] || "";
      return el("tr", { "data-category": th.category }, el("td", {}, word(th.category) + (th.high_risk ? t(" (high risk)") : "")),
        el("td", {}, policy), el("td", {}, num(th.threshold, 3) + source), el("td", {}, pct(th.expected_false_alert_rate)),
        el("td", {}, pct(th.expected_hit_rate)), el("td", {}, th.watchlist_size), el("td", {}, reason, setPolicy, value, setValue));
    }));
    const live = await api("/api/thresholds/live");
    document.getElementById("live-figures").replaceChildren(...(live.length ? live.map((f) => el("li", { class: f.drift ? "error" : "" },
      t("{camera} / {category}: {confirmed} confirmed, {rejected} rejected, {inconclusive} inconclusive; observed false alerts {observed} vs expected {expected}",
        { camera: f.camera, category: word(f.category), confirmed: f.confirmed, rejected: f.rejected, inconclusive: f.inconclusive,
          observed: pct(f.observed_false_alert_rate), expected: pct(f.expected_false_alert_rate) }) +
      (f.drift ? t(" — WARNING: above the calibrated rate") : ""))) : [el("li", { class: "muted" }, t("no decided alerts yet"))]));
  };
  await loadThresholds();
  const due = await api("/api/subjects/due?days=30");
  document.getElementById("due").replaceChildren(...(due.length ? due.map((s) => el("li", {},
    el("a", { href: "/subjects/" + s.id }, s.display_name), t(" — expires {date}", { date: when(s.expires_at) }) +
    (s.review_date ? t(", review {date}", { date: s.review_date }) : ""))) : [el("li", { class: "muted" }, t("nothing due"))]));
  await load();
  const form = document.getElementById("enroll");
  const preview = document.getElementById("preview");
  form.photo.addEventListener("change", () => { const f = form.photo.files[0]; if (f) { preview.src = URL.createObjectURL(f); preview.hidden = false; } });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("enroll-error");
    try { await api("/api/subjects", { method: "POST", body: new FormData(form) }); error.textContent = ""; form.reset(); preview.hidden = true; load(); }
    catch (e) { error.textContent = e.message; }
  });
}
