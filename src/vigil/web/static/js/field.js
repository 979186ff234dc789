// The Field page (a phone, installable): the red flags of the officer's area, and for the shift those the
// officer took up; the actions (acknowledge, on my way, not found) queued on the phone and sent when the
// network allows; the distance from the phone's position; directions in the phone's own map app (issue 29).
import { api, clock, el, num, t, when, word } from "./core.js";
import { enableSound, alarm } from "./sound.js";
import { categoryText, cameraText, statusText } from "./cards.js";
import { openLiveSocket } from "./socket.js";
import { drawPlaceMap } from "./map.js";
function geoLink(lat, lon, label) {
  return `geo:${lat},${lon}?q=${lat},${lon}(${encodeURIComponent(label)})`;
}

// Directions in the phone's own map app: a geo: URI on Android, an https Apple Maps link on an iPhone.
function directionsLink(lat, lon, label) {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) ? `https://maps.apple.com/?daddr=${lat},${lon}&q=${encodeURIComponent(label)}` : geoLink(lat, lon, label);
}

// Great-circle distance in metres (the server's vigil.domain.places.distance_m).
function distanceM(lat1, lon1, lat2, lon2) {
  const r = Math.PI / 180, p1 = lat1 * r, p2 = lat2 * r, dp = (lat2 - lat1) * r, dl = (lon2 - lon1) * r;
  const h = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}
const distanceText = (m) => m < 1000 ? t("{m} m away", { m: Math.round(m / 10) * 10 }) : t("{km} km away", { km: num(m / 1000, 1) });

// The officer's actions (issue 29). Each is queued on the phone first (localStorage) with its own id and
// the time it was tapped, then sent; on a flaky network what could not be sent is sent when the phone is
// back online (the server records a resent id once).
const FIELD_ACTIONS = [["acknowledge", "Acknowledge"], ["on-my-way", "On my way"], ["not-found", "Not found"]];
// One queue per officer on this phone: a tap is only ever sent under the login of the officer who made it.
const queueKey = () => "vigil-field-queue:" + ((document.getElementById("field") || { dataset: {} }).dataset.user || "");
const fieldQueue = {
  items() { try { return JSON.parse(localStorage.getItem(queueKey()) || "[]"); } catch (e) { return []; } },
  save(items) { localStorage.setItem(queueKey(), JSON.stringify(items)); },
  add(item) { this.save([...this.items(), item]); },
  remove(id) { this.save(this.items().filter((i) => i.client_id !== id)); },
};
const newClientId = () => (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2)).replace(/[^A-Za-z0-9_-]/g, "");
let flushing = null;
// Sends what is queued, oldest first; stops at the first failure that may pass (offline, the server away,
// logged out). A refusal (the red flag was removed, a bad request) is dropped from the queue and said.
function flushFieldQueue(after) {
  if (flushing) return flushing;
  flushing = (async () => {
    let sent = 0;
    for (const item of fieldQueue.items()) {
      try {
        await api(`/api/field/${item.alert_id}/actions`, { method: "POST", json: { action: item.action, client_id: item.client_id, acted_at: item.acted_at } });
        fieldQueue.remove(item.client_id); sent += 1;
      } catch (e) {
        // The network, a server away (5xx) or a session to log in again: keep it for later.
        if (e instanceof TypeError || e.message === "login" || (e.status || 0) >= 500) break;
        fieldQueue.remove(item.client_id);
        const note = document.getElementById("field-queue");
        if (note) { note.hidden = false; note.textContent = t("Not recorded: {why}", { why: e.message }); }
      }
    }
    showFieldQueue();
    if (sent && after) await after();
  })().finally(() => { flushing = null; });
  return flushing;
}
function showFieldQueue() {
  const waiting = fieldQueue.items().length, note = document.getElementById("field-queue");
  if (!note) return;
  if (waiting) { note.hidden = false; note.textContent = t("{n} action(s) waiting for the network: sent when back online", { n: waiting }); }
  else if (!note.textContent.startsWith(t("Not recorded: {why}", { why: "" }))) note.hidden = true;
  for (const item of fieldQueue.items()) {
    const button = document.querySelector(`[data-alert-id="${item.alert_id}"] button[data-action="${item.action}"]`);
    if (button) { button.classList.add("queued"); button.textContent = t("{action} (queued)", { action: t(FIELD_ACTIONS.find(([k]) => k === item.action)[1]) }); }
  }
}

function actionButtons(a, reload) {
  const done = new Map((a.my_actions || []).map((m) => [m.action, m]));
  return FIELD_ACTIONS.map(([action, label]) => {
    const mine = done.get(action);
    const button = el("button", { type: "button", class: "field-action " + action, "data-action": action, "aria-pressed": mine ? "true" : "false" },
      mine ? t("{action} ✓ {at}", { action: t(label), at: clock(mine.acted_at) }) : t(label));
    if (action === "acknowledge" && a.acknowledged_by && !mine) button.title = t(" · acknowledged by {user}", { user: a.acknowledged_by });
    button.addEventListener("click", () => {
      fieldQueue.add({ alert_id: a.id, action, client_id: newClientId(), acted_at: new Date().toISOString() });
      button.disabled = true;
      showFieldQueue();
      flushFieldQueue(reload).finally(() => { button.disabled = false; });
    });
    return button;
  });
}

// At 390×844 the photo pair, the place, the distance and the actions fit the first screen (issue 29); the
// map and the sightings follow below.
function fieldCard(a, reload, here) {
  const open = ["pending", "awaiting-second"].includes(a.status);
  const card = el("li", { class: "field-card" + (a.escalated_at && !a.acknowledged_by ? " escalated" : "") + (open ? "" : " decided"), "data-alert-id": a.id, "data-group": a.camera_group || "" },
    el("div", { class: "field-faces" },
      el("figure", {}, el("img", { src: a.crop_url, alt: t("Face seen on camera") }), el("figcaption", {}, t("On camera"))),
      el("figure", {}, el("img", { src: a.enrolled_photo_url, alt: t("Enrolled photo") }), el("figcaption", {}, t("Enrolled photo")))),
    el("h2", {}, a.subject_name),
    el("p", {}, categoryText(a)),
    el("p", { class: "place" }, cameraText(a) + " · " + t("{first} · last seen {last}", { first: when(a.first_seen), last: when(a.last_seen) })),
    el("p", { class: "distance" }, a.latitude === null ? t("The camera has no location.") : here ? distanceText(distanceM(here.latitude, here.longitude, a.latitude, a.longitude)) : t("Distance: turn on location")));
  const actions = el("div", { class: "field-actions" }, ...actionButtons(a, reload));
  if (a.latitude !== null) actions.append(el("a", { class: "navigate", href: directionsLink(a.latitude, a.longitude, a.camera) }, t("Directions")));
  card.append(actions, el("p", { class: "status-line" }, statusText(a)));
  if (a.latitude !== null) {
    const box = el("div", { class: "field-map place-map", role: "img", "aria-label": t("Map: this camera and the latest confirmed sightings") });
    card.append(box);
    // drawn once the card is on the page (Leaflet measures its box)
    requestAnimationFrame(() => drawPlaceMap(box, { cameras: [{ name: a.camera, group: a.camera_group, latitude: a.latitude, longitude: a.longitude }], trail: [...a.last_sightings].reverse(), highlight: a.camera, you: here }).catch(() => {}));
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
  let shown = new Set(), timer = null, here = null, last = null;
  // The first load is the officer's view of the trails (audited); updates after live events ask with
  // refresh=true, which the server does not audit again as a trail read (issue 29).
  let loaded = false;
  const render = () => {
    if (!last) return;
    list.replaceChildren(...last.alerts.map((a) => fieldCard(a, reload, here)));
    showFieldQueue();
  };
  const reload = async () => {
    let data;
    try { data = await api(loaded ? "/api/field?refresh=true" : "/api/field"); }
    catch (e) { if (e instanceof TypeError) { document.getElementById("connection").textContent = t("offline"); return; } throw e; }
    loaded = true; last = data;
    document.getElementById("field-area").textContent = data.groups.length ? data.groups.join(", ") : t("every area");
    const fresh = data.alerts.filter((a) => !shown.has(a.id));
    render();
    document.getElementById("field-empty").hidden = data.alerts.length > 0;
    if (shown.size && fresh.length) { announcer.textContent = t("Red flag: {name}, {category}, camera {camera}", { name: fresh[0].subject_name, category: word(fresh[0].category), camera: fresh[0].camera }); alarm(); if (navigator.vibrate) navigator.vibrate([300, 100, 300, 100, 300]); }
    shown = new Set(data.alerts.map((a) => a.id));
  };
  await reload();
  // The distance to each camera from the phone's own position, when the officer lets the page have it.
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition((p) => {
      const moved = !here || distanceM(here.latitude, here.longitude, p.coords.latitude, p.coords.longitude) > 25;
      here = { latitude: p.coords.latitude, longitude: p.coords.longitude };
      if (moved) render();
    }, () => {}, { enableHighAccuracy: true, maximumAge: 15000 });
  }
  const soon = () => { clearTimeout(timer); timer = setTimeout(reload, 250); };
  openLiveSocket({ onReconnect: () => { flushFieldQueue(reload); soon(); }, onEvent: (event) => { if (event.alert) soon(); } });
  window.addEventListener("online", () => { flushFieldQueue(reload); soon(); });  // a page opened offline fills in
  setInterval(() => { if (fieldQueue.items().length) flushFieldQueue(reload); }, 10000);
  flushFieldQueue(reload);
  document.addEventListener("click", enableSound, { once: true });  // a phone plays sound after a first touch
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/field-sw.js", { scope: "/field" }).catch(() => {});
}
