import { api, el, t, when, word } from "./core.js";
export async function initAuthorisations(section) {
  const canEnd = section.dataset.canEnd === "yes";
  const canSign = section.dataset.canSign === "yes";
  const signButton = (a, load) => Object.assign(el("button", { type: "button", "data-action": "sign" }, t("Sign")), {
    onclick: async () => {  // signs the request as shown: its digest goes with the signature
      try { await api(`/api/authorisations/${a.id}/sign`, { method: "POST", json: { digest: a.digest } }); load(); }
      catch (e) { document.getElementById("authorisation-error").textContent = e.message; }
    } });
  const list = (xs) => xs.length ? xs.join(", ") : "—";
  const load = async () => {
    const rows = (await api("/api/authorisations")).map((a) => el("tr", { "data-authorisation-id": a.id, "data-state": a.state },
      el("td", {}, word(a.state)), el("td", {}, a.purpose), el("td", {}, list([...a.cameras, ...a.camera_groups.map((g) => t("group {name}", { name: g }))])),
      el("td", {}, list([...a.categories.map(word), ...a.subjects.map((s) => t("subject {id}", { id: s }))])), el("td", {}, when(a.starts_at)),
      el("td", {}, when(a.ended_at || a.ends_at)), el("td", {}, a.review_date || "—"),
      el("td", {}, a.state === "requested" ? t("waiting for a signature (asked by {asker})", { asker: a.requested_by })
        : t("{by} (asked by {asker})", { by: a.authorised_by, asker: a.requested_by })),
      el("td", {}, a.state === "requested" ? (canSign && a.requested_by !== section.dataset.user ? signButton(a, load) : "")
        : canEnd && ["active", "scheduled"].includes(a.state) ? Object.assign(el("button", { type: "button" }, t("End now")), {
        onclick: async () => {
          const reason = prompt(t("Why does it end early?"));
          if (!reason) return;
          try { await api(`/api/authorisations/${a.id}/end`, { method: "POST", json: { reason } }); load(); }
          catch (e) { document.getElementById("authorisation-error").textContent = e.message; }
        } }) : "")));
    document.querySelector("#authorisations tbody").replaceChildren(...rows);
  };
  await load();
  const form = document.getElementById("authorisation-add");
  if (form) form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    const split = (s) => (s || "").split(",").map((x) => x.trim()).filter(Boolean);
    const iso = (local) => local ? new Date(local).toISOString() : "";
    try {
      await api("/api/authorisations", { method: "POST", json: { cameras: split(d.cameras), camera_groups: split(d.camera_groups),
        categories: split(d.categories), subjects: split(d.subjects), starts_at: iso(d.starts_at), ends_at: iso(d.ends_at),
        purpose: d.purpose, reason: d.reason, review_date: d.review_date || null } });
      form.reset(); document.getElementById("authorisation-error").textContent = ""; load();
    } catch (e) { document.getElementById("authorisation-error").textContent = e.message; }
  });
}
