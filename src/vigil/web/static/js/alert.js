// The alert page: the evidence to decide a red flag on, and the decision.
import { api, el, t, when, num, word, csrfToken } from "./core.js";
import { drawPlaceMap } from "./map.js";
import { markRead } from "./cards.js";
// Evidence bands (docs/control-room.md): strong, moderate or weak, with the looks and seconds behind them.
const bandText = (band, looks, seconds) => t("{band} evidence: {looks} looks over {seconds} s", { band: word(band), looks, seconds: num(seconds, 0) });

// An image at its own resolution (its width and height attributes are its pixels: never stretched).
function natural(src, alt, width, height, attrs = {}) {
  return el("img", Object.assign({ src, alt, width: String(width), height: String(height), class: "natural" }, attrs));
}

async function showContext(id) {
  const c = await api(`/api/alerts/${id}/context`);
  const band = document.getElementById("band");
  band.hidden = false; band.dataset.band = c.band; band.className = "band band-" + c.band;
  band.replaceChildren(el("strong", {}, bandText(c.band, c.looks, c.seconds)), " ", el("span", { class: "band-margin" }, c.band_scale === "nats"
    ? t("({margin} nats past the threshold in force)", { margin: num(c.band_margin, 1) })
    : t("(read on the similarity scale: no evidence in nats was kept for this alert)")));
  document.getElementById("track-faces").replaceChildren(...(c.faces.length ? c.faces.map((f) => el("li", { "data-at": f.at },
    natural(f.url, t("A face of the track"), f.width, f.height),
    el("span", {}, t("{at} · {px} px between the eyes", { at: when(f.at), px: num(f.iod_px, 0) })))) :
    [el("li", { class: "muted" }, t("Only the best face was kept for this alert."))]));
  document.getElementById("scene-box").hidden = !c.scene;
  document.getElementById("no-scene").hidden = !!c.scene;
  if (c.scene) Object.assign(document.getElementById("scene"), { src: c.scene.url, width: c.scene.width, height: c.scene.height });
  document.getElementById("photos").replaceChildren(...c.photos.map((p) => el("li", {},
    natural(p.url, t("Enrolled photo"), p.width, p.height), el("span", {}, t("enrolled {date}", { date: when(p.added_at) })))));
  const facts = document.getElementById("facts");
  const earlier = c.earlier_decided
    ? t("{n} decided, {confirmed} confirmed", { n: c.earlier_decided, confirmed: c.earlier_confirmed }) + (c.last_confirmed_camera ? t("; last confirmed on camera {camera} at {at}", { camera: c.last_confirmed_camera, at: when(c.last_confirmed_at) }) : "")
    : t("none");
  for (const [k, label, v] of [["legal-basis", t("Legal basis"), c.legal_basis], ["expires", t("On the watchlist until"), when(c.expires_at)], ["earlier", t("Earlier sightings"), earlier]]) {
    facts.append(el("dt", {}, label), el("dd", { "data-fact": k }, v));
  }
}

// A decision in two keystrokes: C, R or I, then the number of a reason; N opens the next open alert.
const REASONS = {
  confirmed: [t("Same person: the face matches the enrolled photos"), t("Same person: face, hair and build match across the track")],
  rejected: [t("Different person"), t("The face is too unclear to be this person"), t("Different age or build")],
  inconclusive: [t("The images are too poor to decide"), t("Could be this person or another: needs another look")],
};
function initDecisionKeys(id, render) {
  const form = document.getElementById("decide");
  const list = document.getElementById("reasons");
  let chosen = null;
  const decide = async (decision, reason) => {
    try { render(await api(`/api/alerts/${id}/decision`, { method: "POST", json: { decision, reason } })); form.reset(); document.getElementById("decide-error").textContent = ""; }
    catch (e) { document.getElementById("decide-error").textContent = e.message; }
    chosen = null; list.hidden = true;
  };
  const next = async () => {
    const open = await api("/api/alerts?open_only=true&limit=50");
    const others = open.alerts.filter((a) => a.id !== id);
    if (others.length) location.href = "/alerts/" + others[others.length - 1].id;  // the longest waiting
    else document.getElementById("decide-error").textContent = t("No other open alert.");
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, textarea, select")) return;
    const key = event.key.toLowerCase();
    if (key === "n") { event.preventDefault(); next(); return; }
    if (form.hidden) return;
    const decision = { c: "confirmed", r: "rejected", i: "inconclusive" }[key];
    if (decision) {
      event.preventDefault();
      chosen = decision;
      list.replaceChildren(...REASONS[decision].map((r, i) => el("li", { "data-key": String(i + 1) }, `${i + 1} — ${r}`)));
      list.dataset.decision = decision;
      list.hidden = false;
      return;
    }
    if (chosen && /^[1-9]$/.test(key) && REASONS[chosen][Number(key) - 1]) { event.preventDefault(); decide(chosen, REASONS[chosen][Number(key) - 1]); }
    else if (key === "escape") { chosen = null; list.hidden = true; }
  });
}

export async function initAlert(section) {
  const id = section.dataset.alertId;
  markRead(id);  // opened: no longer unread on the Live page
  const render = (a) => {
    document.getElementById("crop").src = a.crop_url || "";
    document.getElementById("enrolled").src = a.enrolled_photo_url || "";
    const tie = a.runner_up;
    document.getElementById("runner-up").hidden = !tie;
    document.getElementById("near-tie").hidden = !tie;
    if (tie) {
      document.getElementById("runner-up-photo").src = tie.enrolled_photo_url || "";
      document.getElementById("enrolled-caption").textContent = t("First candidate: {name}", { name: a.subject_name });
      document.getElementById("runner-up-caption").textContent = t("Second candidate: {name}", { name: tie.subject_name || tie.subject_id });
    }
    const facts = document.getElementById("facts"); facts.replaceChildren();
    for (const [k, label, v] of [["subject", t("Subject"), a.subject_name], ["category", t("Category"), word(a.category) + (a.high_risk ? t(" (high risk: two confirmations)") : "")],
      ["camera", t("Camera"), a.camera], ["first seen", t("First seen"), when(a.first_seen)], ["last seen", t("Last seen"), when(a.last_seen)], ["faces", t("Faces"), a.faces], ["status", t("Status"), word(a.status)]]) {
      facts.append(el("dt", {}, label), el("dd", { "data-fact": k }, v));
    }
    document.getElementById("score").textContent = t("score {score}", { score: num(a.score, 3) }) + (a.evidence !== null ? t(", track evidence {evidence}", { evidence: num(a.evidence, 3) }) : "") + t(" (threshold {threshold})", { threshold: num(a.threshold, 3) }) + (tie && tie.score !== null ? t("; second candidate {score}", { score: num(tie.score, 3) }) : "");
    // the second person of a two-person category sees who decided first, and why
    const first = a.status === "awaiting-second" ? a.decisions.find((d) => d.decision === "confirmed") : null;
    const banner = document.getElementById("first-decision");
    banner.hidden = !first;
    banner.textContent = first ? t("First confirmed by {user} ({role}) at {at}: “{reason}”. A second person must confirm.", { user: first.user, role: word(first.role), at: when(first.at), reason: first.reason }) : "";
    const decisions = document.getElementById("decisions"); decisions.replaceChildren();
    for (const d of a.decisions) decisions.append(el("li", {}, `${when(d.at)} ${d.user} (${word(d.role)}): ${word(d.decision)} — ${d.reason}`));
    document.getElementById("decide").hidden = !["pending", "awaiting-second"].includes(a.status);
    const box = document.getElementById("template-box");
    if (box) box.hidden = a.status !== "confirmed";
    const evidence = document.getElementById("evidence");
    if (evidence) evidence.hidden = a.status !== "confirmed";
    const outcome = document.getElementById("outcome");
    if (outcome) {
      outcome.hidden = a.status !== "confirmed";
      const list = document.getElementById("outcomes"); list.replaceChildren();
      for (const o of a.outcomes) list.append(el("li", { "data-outcome": o.outcome }, `${when(o.at)} ${o.user}: ${word(o.outcome)}` + (o.note ? ` — ${o.note}` : "")));
    }
  };
  const shown = await api("/api/alerts/" + id);
  render(shown);
  // The camera that saw the face among the cameras around it.
  const here = { name: shown.camera, group: shown.camera_group, latitude: shown.latitude, longitude: shown.longitude };
  api("/api/cameras").catch(() => [here]).then((cameras) => drawPlaceMap(document.getElementById("alert-map"), { cameras, highlight: shown.camera }));
  // the page's own controls work at once; the track's faces and the subject's facts arrive beside them
  const context = showContext(id).catch((e) => { Object.assign(document.getElementById("no-scene"), { hidden: false, textContent: e.message }); });
  initDecisionKeys(id, render);
  const addTemplate = document.getElementById("add-template");
  if (addTemplate) addTemplate.addEventListener("click", async () => {
    const out = document.getElementById("template-result");
    try { await api(`/api/alerts/${id}/template`, { method: "POST" }); out.textContent = t("Added: the subject now matches on this face too."); addTemplate.disabled = true; }
    catch (e) { out.textContent = e.message; }
  });
  const evidenceForm = document.getElementById("evidence");
  if (evidenceForm) evidenceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("evidence-result");
    // the pack comes back as a ZIP, not JSON: fetched here and handed to the browser as a download
    const response = await fetch(`/api/alerts/${id}/evidence`, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() }, body: JSON.stringify({ reason: new FormData(evidenceForm).get("reason") }) });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const d = body.detail;
      out.textContent = typeof d === "string" ? d : d && d.message ? d.message : String(response.status);
      return;
    }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `vigil-evidence-${id}.zip` });
    document.body.append(link); link.click(); link.remove();
    out.textContent = t("Exported and recorded in the audit log. The pack's SHA-256: {hash}", { hash: response.headers.get("X-Evidence-SHA256") });
    evidenceForm.reset();
  });
  const outcomeForm = document.getElementById("outcome");
  if (outcomeForm) outcomeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(outcomeForm);
    try { render(await api(`/api/alerts/${id}/outcome`, { method: "POST", json: { outcome: data.get("outcome"), note: data.get("note") } })); outcomeForm.reset(); document.getElementById("outcome-error").textContent = ""; }
    catch (e) { document.getElementById("outcome-error").textContent = e.message; }
  });
  document.getElementById("reveal").addEventListener("click", () => { document.getElementById("score").hidden = false; });
  const form = document.getElementById("decide");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const decision = event.submitter.value;
    try { render(await api(`/api/alerts/${id}/decision`, { method: "POST", json: { decision, reason: new FormData(form).get("reason") } })); form.reset(); document.getElementById("decide-error").textContent = ""; }
    catch (e) { document.getElementById("decide-error").textContent = e.message; }
  });
  await context;
}
