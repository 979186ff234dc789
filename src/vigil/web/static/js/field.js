// The Field page (a phone, installable): open red flags in the officer's area.
import { api, el, t, when, word } from "./core.js";
import { enableSound, alarm } from "./sound.js";
import { categoryText, cameraText, statusText, ackButton } from "./cards.js";
import { openLiveSocket } from "./socket.js";
function geoLink(lat, lon, label) {
  return `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(label)})`;
}

// Directions in the phone's own map app: a geo: URI on Android, an https Apple Maps link on an iPhone.
function directionsLink(lat, lon, label) {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) ? `https://maps.apple.com/?daddr=${lat},${lon}&q=${encodeURIComponent(label)}` : geoLink(lat, lon, label);
}

// At 390×844 the photo pair, the place and the actions fit the first screen (issue 29); the map and the
// sightings follow below.
function fieldCard(a, reload) {
  const card = el("li", { class: "field-card" + (a.escalated_at && !a.acknowledged_by ? " escalated" : ""), "data-alert-id": a.id, "data-group": a.camera_group || "" },
    el("div", { class: "field-faces" },
      el("figure", {}, el("img", { src: a.crop_url, alt: t("Face seen on camera") }), el("figcaption", {}, t("On camera"))),
      el("figure", {}, el("img", { src: a.enrolled_photo_url, alt: t("Enrolled photo") }), el("figcaption", {}, t("Enrolled photo")))),
    el("h2", {}, a.subject_name),
    el("p", {}, categoryText(a)),
    el("p", {}, cameraText(a)),
    el("p", { class: "seen" }, t("{first} · last seen {last}", { first: when(a.first_seen), last: when(a.last_seen) })));
  const actions = el("div", { class: "field-actions" });
  const ack = ackButton(a, reload);
  if (ack) actions.append(ack);
  if (a.latitude !== null) actions.append(el("a", { class: "navigate", href: directionsLink(a.latitude, a.longitude, a.camera) }, t("Navigate to camera {camera}", { camera: a.camera })));
  card.append(actions, el("p", { class: "status-line" }, statusText(a)));
  if (a.latitude !== null) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 600 360"); svg.setAttribute("class", "field-map"); svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("Map: this camera and the latest confirmed sightings"));
    drawMap(svg, [{ latitude: a.latitude, longitude: a.longitude, camera: a.camera }, ...a.last_sightings]);
    card.append(svg);
  }
  card.append(el("h3", {}, t("Latest confirmed sightings")),
    a.last_sightings.length
      ? el("ul", { class: "sightings" }, ...a.last_sightings.map((s) => el("li", {}, t("{at} — camera {camera}", { at: when(s.first_seen), camera: s.camera }))))
      : el("p", { class: "muted" }, t("None yet.")));
  return card;
}

export async function initField() {
  const list = document.getElementById("field-alerts");
  const announcer = document.getElementById("announcer");
  let shown = new Set(), timer = null;
  // The first load is the officer's view of the trails (audited); updates after live events ask with
  // refresh=true, which the server does not audit again as a trail read (issue 29).
  let loaded = false;
  const reload = async () => {
    const data = await api(loaded ? "/api/field?refresh=true" : "/api/field");
    loaded = true;
    document.getElementById("field-area").textContent = data.groups.length ? data.groups.join(", ") : t("every area");
    const fresh = data.alerts.filter((a) => !shown.has(a.id));
    list.replaceChildren(...data.alerts.map((a) => fieldCard(a, reload)));
    document.getElementById("field-empty").hidden = data.alerts.length > 0;
    if (shown.size && fresh.length) { announcer.textContent = t("Red flag: {name}, {category}, camera {camera}", { name: fresh[0].subject_name, category: word(fresh[0].category), camera: fresh[0].camera }); alarm(); if (navigator.vibrate) navigator.vibrate([300, 100, 300]); }
    shown = new Set(data.alerts.map((a) => a.id));
  };
  await reload();
  const soon = () => { clearTimeout(timer); timer = setTimeout(reload, 250); };
  openLiveSocket({ onReconnect: soon, onEvent: (event) => { if (event.alert) soon(); } });
  document.addEventListener("click", enableSound, { once: true });  // a phone plays sound after a first touch
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/field-sw.js", { scope: "/field" }).catch(() => {});
}

// The camera and the latest confirmed sightings on a small drawn map (no tiles).
function drawMap(svg, sightings) {
  svg.replaceChildren();
  const points = sightings.filter((s) => s.latitude !== null);
  if (!points.length) { svg.append(el("text", { x: 20, y: 40, fill: "#8fa1b3" }, t("No confirmed sightings with a camera location yet."))); return; }
  const lats = points.map((p) => p.latitude), lons = points.map((p) => p.longitude);
  const pad = 0.002, minLat = Math.min(...lats) - pad, maxLat = Math.max(...lats) + pad, minLon = Math.min(...lons) - pad, maxLon = Math.max(...lons) + pad;
  const x = (lon) => 30 + 540 * (lon - minLon) / (maxLon - minLon), y = (lat) => 330 - 300 * (lat - minLat) / (maxLat - minLat);
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text) n.textContent = text; return n; };
  svg.append(make("polyline", { points: points.map((p) => `${x(p.longitude)},${y(p.latitude)}`).join(" "), fill: "none", stroke: "#f5a524", "stroke-width": 3 }));
  points.forEach((p, i) => {
    svg.append(make("circle", { cx: x(p.longitude), cy: y(p.latitude), r: 8, fill: "#e5484d", "data-camera": p.camera }));
    svg.append(make("text", { x: x(p.longitude) + 12, y: y(p.latitude) + 5, fill: "#e8edf2", "font-size": 14 }, `${i + 1}. ${p.camera}`));
  });
}
