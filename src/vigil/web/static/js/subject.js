// The subject page: the trail, live.
import { api, el, t, when, word } from "./core.js";
import { drawPlaceMap } from "./map.js";
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
  let sightings = [], cameras = [];
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
      ? t("Last seen {ago} at camera {camera} ({at})", { ago: ago(last.first_seen), camera: last.camera, at: when(last.first_seen) })
      : t("No confirmed sightings in this period.");
    drawPlaceMap(document.getElementById("map"), { cameras, trail: shown });
  };
  // The first load and a changed filter are the person's own views; an update after a live confirmation
  // asks with refresh=true (not audited again as a trail read: vigil.web.trails).
  const load = async (refresh) => { sightings = await api(`/api/subjects/${id}/sightings` + (refresh ? "?refresh=true" : "")); draw(); };
  from.addEventListener("change", draw); to.addEventListener("change", draw);
  await load(false);
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
