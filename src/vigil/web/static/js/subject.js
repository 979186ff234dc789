// The subject page: the trail, live, and the cameras near the last place seen with who they reach.
import { api, el, num, t, when, word } from "./core.js";
import { drawPlaceMap, located } from "./map.js";
import { openLiveSocket } from "./socket.js";
export async function initSubject(section) {
  const id = section.dataset.subjectId;
  const s = await api("/api/subjects/" + id);
  document.getElementById("subject-name").textContent = s.display_name;
  document.getElementById("photos").replaceChildren(...s.photo_urls.map((u) => el("img", { src: u, alt: t("Enrolled photo") })));
  const facts = document.getElementById("subject-facts");
  for (const [k, v] of [[t("Category"), word(s.category)], [t("Status"), word(s.status)], [t("Legal basis"), s.legal_basis_type + ": " + s.legal_basis_reference],
    [t("Approved by"), s.approved_by], [t("Expires"), when(s.expires_at)]]) facts.append(el("dt", {}, k), el("dd", {}, v));
  const from = document.getElementById("trail-from"), to = document.getElementById("trail-to");
  let sightings = [], cameras = [], nearby = null;
  try { cameras = await api("/api/cameras"); } catch (e) { cameras = []; }
  const draw = () => {
    const lo = from.value ? new Date(from.value + "T00:00:00").getTime() : -Infinity;
    const hi = to.value ? new Date(to.value + "T23:59:59.999").getTime() : Infinity;
    const shown = sightings.filter((a) => { const at = new Date(a.first_seen).getTime(); return at >= lo && at <= hi; });
    document.getElementById("timeline").replaceChildren(...shown.map((a) => el("li", { "data-alert-id": a.id },
      a.crop_url ? el("img", { class: "thumb", src: a.crop_url, alt: t("Face seen on camera"), width: 48, height: 48 }) : "",
      el("a", { href: "/alerts/" + a.id }, t("{at} — camera {camera}", { at: when(a.first_seen), camera: a.camera })))));
    const last = shown[shown.length - 1];
    document.getElementById("last-seen").textContent = last
      ? t("Last seen {ago} at camera {camera} ({at})", { ago: ago(last.last_seen || last.first_seen), camera: last.camera, at: when(last.last_seen || last.first_seen) })
      : t("No confirmed sightings in this period.");
    const place = nearby && nearby.last_seen && located(nearby.last_seen) ? nearby.last_seen : null;
    drawPlaceMap(document.getElementById("map"), {
      cameras, trail: shown,
      highlight: nearby ? nearby.cameras.map((c) => c.name) : null,
      around: place ? { latitude: place.latitude, longitude: place.longitude, km: nearby.within_km } : null,
    });
  };
  // Where the person was last seen and who a red flag from the cameras around it reaches (issue 29): the
  // cameras within VIGIL_NEARBY_KM, the officers of their groups (their field view lists it) and the
  // routing rules that send it out.
  const showNearby = () => {
    const box = document.getElementById("nearby");
    if (!nearby || !nearby.last_seen) { box.hidden = true; return; }
    box.hidden = false;
    document.getElementById("nearby-title").textContent = t("Cameras within {km} km of where the person was last seen", { km: num(nearby.within_km, 1) });
    document.getElementById("nearby-cameras").replaceChildren(...(nearby.cameras.length ? nearby.cameras.map((c) => el("li", { "data-camera": c.name },
      t("{camera} ({group}) — {distance}", { camera: c.name, group: c.group || t("no group"), distance: c.distance_m < 1000 ? t("{m} m", { m: Math.round(c.distance_m) }) : t("{km} km", { km: num(c.distance_m / 1000, 2) }) }))) : [el("li", { class: "muted" }, t("No camera with a location lies that close."))]));
    document.getElementById("nearby-officers").replaceChildren(...(nearby.officers.length ? nearby.officers.map((o) => el("li", { "data-officer": o.username },
      t("{name} ({username}, {role}) — areas: {groups}", { name: o.display_name, username: o.username, role: word(o.role), groups: o.groups.join(", ") }))) : [el("li", { class: "muted" }, t("No officer is assigned to these areas: every officer without an area sees them."))]));
    document.getElementById("nearby-rules").replaceChildren(...(nearby.rules.length ? nearby.rules.map((r) => el("li", { "data-rule": r.name },
      t("{rule} → {endpoint} (areas: {groups})", { rule: r.name, endpoint: r.endpoint, groups: r.camera_groups.length ? r.camera_groups.join(", ") : t("every area") })
      + (r.min_score !== null ? t(", when the evidence is at least {score}", { score: num(r.min_score, 2) }) : ""))) : [el("li", { class: "muted" }, t("No routing rule sends red flags from these cameras."))]));
  };
  // The first load and a changed filter are the person's own views; an update after a live confirmation
  // asks with refresh=true (not audited again as a trail read: vigil.web.trails).
  const load = async (refresh) => {
    sightings = await api(`/api/subjects/${id}/sightings` + (refresh ? "?refresh=true" : ""));
    try { nearby = await api(`/api/subjects/${id}/nearby?refresh=true`); } catch (e) { nearby = null; }
    showNearby();
    draw();
  };
  from.addEventListener("change", draw); to.addEventListener("change", draw);
  await load(false);
  setInterval(() => { if (sightings.length) draw(); }, 60000);  // "how long ago" stays true
  openLiveSocket({
    onReconnect: () => load(true),
    onEvent: (event) => { if (event.alert && event.alert.subject_id === id && event.alert.status === "confirmed") load(true); },
  });
}

function ago(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return t("just now");
  if (minutes < 120) return t("{n} min ago", { n: minutes });
  return t("{n} h ago", { n: Math.round(minutes / 60) });
}
