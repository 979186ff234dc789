// The notifications page (admins): where red flags go.
import { api, el, t, num, word } from "./core.js";
export async function initNotifications(section) {
  const me = section.dataset.user;  // a rule's proposer is not offered its approval (the server refuses it too)
  const list = (text) => text.split(",").map((x) => x.trim()).filter(Boolean);
  const table = (id, rows) => document.querySelector(`#${id} tbody`).replaceChildren(...rows);
  const removeButton = (label, path, errorId) => {
    const button = el("button", { type: "button", class: "remove" }, label);
    button.addEventListener("click", async () => {
      try { await api(path, { method: "DELETE" }); await load(); } catch (e) { document.getElementById(errorId).textContent = e.message; }
    });
    return button;
  };
  const load = async () => {
    const [endpoints, rules, log, times] = await Promise.all([api("/api/notify/endpoints"), api("/api/notify/rules"), api("/api/notify/log"), api("/api/notify/escalation")]);
    table("delivery-log", log.map((l) => el("tr", { "data-endpoint": l.name, class: l.flagged ? "failing" : "" },
      el("td", {}, l.name + (l.flagged ? t(" — failing") : "")), el("td", {}, l.kind), el("td", {}, l.delivered), el("td", {}, l.pending),
      el("td", {}, l.abandoned), el("td", {}, l.attempts), el("td", {}, t("{n} s", { n: num(l.lag_s, 1) })), el("td", {}, l.last_error || "—"))));
    const failing = log.filter((l) => l.flagged).map((l) => l.name);
    const banner = document.getElementById("failing");
    banner.hidden = !failing.length;
    banner.textContent = failing.length ? t("Failing for too long: {names}", { names: failing.join(", ") }) : "";
    table("endpoints", endpoints.map((e) => el("tr", { "data-endpoint": e.name, class: e.suspended ? "failing" : "" },
      el("td", {}, e.name + (e.suspended ? " — " + t("suspended: {why}", { why: e.suspended }) : "")), el("td", {}, e.kind), el("td", {}, e.url),
      el("td", {}, e.key_id), el("td", {}, t("{n} s", { n: num(e.timeout_s, 0) })), el("td", {}, e.concurrency),
      el("td", {}, removeButton(t("Remove"), "/api/notify/endpoints/" + encodeURIComponent(e.name), "endpoint-error")))));
    table("rules", rules.map((r) => el("tr", { "data-rule": r.name }, el("td", {}, r.name), el("td", {}, r.endpoint), el("td", {}, r.event_kinds.join(", ")),
      el("td", {}, r.categories.map(word).join(", ") || t("all")), el("td", {}, r.camera_groups.join(", ") || t("all")), el("td", {}, r.min_score ?? t("any")),
      el("td", {}, [r.include_crop ? t("crop") : "", r.include_photo ? t("enrolled photo") : ""].filter(Boolean).join(", ") || t("none")),
      el("td", { "data-state": r.state }, r.state === "proposed" ? t("proposed — waiting for a second admin") : word(r.state)),
      el("td", {}, r.state === "proposed" && r.created_by !== me ? Object.assign(el("button", { type: "button", "data-action": "approve" }, t("Approve")), {
        onclick: async () => {  // approves the rule as shown: its digest goes with the approval
          try { await api("/api/notify/rules/" + encodeURIComponent(r.name) + "/approve", { method: "POST", json: { digest: r.digest } }); await load(); }
          catch (e) { document.getElementById("rule-error").textContent = e.message; }
        } }) : "", " ", removeButton(t("Remove"), "/api/notify/rules/" + encodeURIComponent(r.name), "rule-error")))));
    table("escalation", Object.entries(times).map(([category, seconds]) => {
      const input = el("input", { type: "number", min: "0", step: "1", value: seconds ?? "", placeholder: t("never"), "aria-label": t("Seconds for {category}", { category: word(category) }) });
      const save = el("button", { type: "button" }, t("Set"));
      save.addEventListener("click", async () => {
        try { await api("/api/notify/escalation", { method: "PUT", json: { category, seconds: input.value === "" ? null : Number(input.value) } }); await load(); }
        catch (e) { document.getElementById("escalation-error").textContent = e.message; }
      });
      return el("tr", { "data-category": category }, el("td", {}, word(category)), el("td", {}, input, " " + t("s")), el("td", {}, save));
    }));
  };
  await load();
  document.getElementById("endpoint-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      const made = await api("/api/notify/endpoints", { method: "POST", json: { name: f.get("name"), url: f.get("url"), secret: f.get("secret"), username: f.get("username"), timeout_s: Number(f.get("timeout_s") || 5) } });
      document.getElementById("endpoint-error").textContent = "";
      const shown = document.getElementById("endpoint-secret");
      shown.hidden = !made.secret;
      shown.textContent = made.secret ? t("Signing secret for {name} (key id {key}), shown once — give it to the receiver: {secret}", { name: made.name, key: made.key_id, secret: made.secret }) : "";
      event.target.reset(); await load();
    } catch (e) { document.getElementById("endpoint-error").textContent = e.message; }
  });
  document.getElementById("rule-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      await api("/api/notify/rules", { method: "POST", json: { name: f.get("name"), endpoint: f.get("endpoint"), event_kinds: list(f.get("event_kinds")),
        categories: list(f.get("categories")), camera_groups: list(f.get("camera_groups")), min_score: f.get("min_score") === "" ? null : Number(f.get("min_score")),
        include_crop: f.get("include_crop") === "on", include_photo: f.get("include_photo") === "on" } });
      document.getElementById("rule-error").textContent = ""; event.target.reset(); await load();
    } catch (e) { document.getElementById("rule-error").textContent = e.message; }
  });
}
