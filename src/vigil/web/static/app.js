// Vigil control room: small, dependency-free. Data comes from the JSON API; the session cookie is
// HttpOnly, and every state-changing call carries the CSRF token in X-CSRF-Token.
"use strict";
let CSRF = sessionStorage.getItem("vigil-csrf") || "";

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.json !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = CSRF;
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
  // 204 (and 205) carry no body, whatever their content type says: nothing to parse.
  const empty = response.status === 204 || response.status === 205 || response.headers.get("content-length") === "0";
  const body = empty ? null : response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) { const d = body && body.detail; throw new Error(typeof d === "string" ? d : d && d.message ? (d.field ? d.field + ": " : "") + d.message : JSON.stringify(d)); }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") node.className = v; else if (v !== null && v !== undefined) node.setAttribute(k, v); }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
// The page's language: its catalogue (vigil/locale/*.po, handed over by the server) and its tag, which
// formats dates and numbers for India in either language.
const CATALOGUE = JSON.parse((document.getElementById("catalogue") || {}).textContent || "{}");
const LOCALE_TAG = document.documentElement.dataset.localeTag || "en-IN";
function t(message, vars) {
  const text = CATALOGUE[message] || message;
  return vars ? text.replace(/\{(\w+)\}/g, (whole, key) => (key in vars ? String(vars[key]) : whole)) : text;
}
const when = (iso) => new Date(iso).toLocaleString(LOCALE_TAG);
const num = (x, digits) => Number(x).toLocaleString(LOCALE_TAG, { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function refreshCsrf() {
  try { const me = await api("/api/auth/me"); if (me.csrf_token) { CSRF = me.csrf_token; sessionStorage.setItem("vigil-csrf", CSRF); } } catch (e) { /* login page */ }
}

// ------------------------------------------------------------------ login / logout
function initLogin() {
  const form = document.getElementById("login-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const session = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: data.get("username"), password: data.get("password") }) });
      const body = await session.json();
      if (!session.ok) throw new Error(body.detail || t("login failed"));
      sessionStorage.setItem("vigil-csrf", body.csrf_token);
      location.href = sameSitePath(new URLSearchParams(location.search).get("next"));
    } catch (e) { document.getElementById("login-error").textContent = e.message; }
  });
}

// Where to go after logging in: one of the control room's own pages, resolved against this page's origin
// and still on it; anything else ("//x", "/\\x", "/.//x", "/%2F%2Fx", "javascript:", tabs and newlines
// inside) goes home. The URL parser decides, not string tests: it is what the browser will follow.
const OWN_PAGES = /^\/(?:live|field|cameras|watchlist|audit|authorisations|notifications|(?:alerts|subjects)\/[A-Za-z0-9_-]{1,64})?$/;
function sameSitePath(next) {
  if (typeof next !== "string" || !next) return "/";
  try {
    const target = new URL(next, location.origin);
    if (target.origin !== location.origin || !OWN_PAGES.test(target.pathname)) return "/";
    return target.pathname + target.search + target.hash;
  } catch (e) { return "/"; }
}

// ------------------------------------------------------------------ live
// Browsers play no sound before a gesture on the page: the operator clicks "Enable sound" once per page
// load, and the page says so while sound is off.
const sound = { context: null };
function enableSound() {
  try {
    sound.context = sound.context || new (window.AudioContext || window.webkitAudioContext)();
    sound.context.onstatechange = showSound;
    sound.context.resume().then(showSound, showSound);
  } catch (e) { sound.context = null; }
  showSound();
}
function soundOn() { return sound.context !== null && sound.context.state === "running"; }
// Pages without the Live page's sound controls (the field view turns sound on with the first tap) just
// skip showing it: the field page threw three errors on its first tap looking for them.
function showSound() {
  const on = soundOn(), state = document.getElementById("sound-state"), button = document.getElementById("enable-sound");
  if (state) { state.textContent = on ? t("Sound on") : t("Sound is off"); state.classList.toggle("warning", !on); }
  if (button) button.hidden = on;
}
function beep() {
  if (!soundOn()) { showSound(); return; }
  const osc = sound.context.createOscillator(); osc.frequency.value = 880; osc.connect(sound.context.destination);
  osc.start(); osc.stop(sound.context.currentTime + 0.25);
}
// An escalation (nobody acknowledged the red flag in time): louder, longer, three pulses.
function alarm() {
  if (!soundOn()) { showSound(); return; }
  const start = sound.context.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = sound.context.createOscillator(), gain = sound.context.createGain();
    osc.type = "square"; osc.frequency.value = 1320; gain.gain.value = 1.0;
    osc.connect(gain); gain.connect(sound.context.destination);
    osc.start(start + i * 0.4); osc.stop(start + i * 0.4 + 0.3);
  }
  window.vigilAlarms = (window.vigilAlarms || 0) + 1;
}

const LIVE_CAP = 200;  // cards kept on the page; older ones are a click on "Show older alerts" away

// Words that are data (a status, a category, a role): shown in the page's language where the catalogue has them.
const word = (value) => t(value);
const categoryText = (a) => word(a.category) + (a.high_risk ? t(" (high risk)") : "");
const cameraText = (a) => t("Camera {camera}", { camera: a.camera }) + (a.camera_group ? " · " + a.camera_group : "");
const statusText = (a) => t("Status: {status}", { status: word(a.status) })
  + (a.acknowledged_by ? t(" · acknowledged by {user}", { user: a.acknowledged_by }) : "")
  + (a.escalated_at ? t(" · escalated {at}", { at: when(a.escalated_at) }) : "");

// "I'm on it" for an open red flag nobody has taken up yet (else ""); ``then(alert)`` after it is recorded.
function ackButton(a, then) {
  if (!["pending", "awaiting-second"].includes(a.status) || a.acknowledged_by) return "";
  const ack = el("button", { type: "button", class: "acknowledge" }, t("Acknowledge (I'm on it)"));
  ack.addEventListener("click", async () => {
    ack.disabled = true;
    try { await then(await api(`/api/alerts/${a.id}/acknowledge`, { method: "POST" })); }
    catch (e) { ack.disabled = false; ack.textContent = t("Acknowledge failed: {why}", { why: e.message }); }
  });
  return ack;
}

function alertCard(a, fresh) {
  const open = ["pending", "awaiting-second"].includes(a.status);
  const ack = ackButton(a, (done) => card.replaceWith(alertCard(done, false)));
  const card = el("li", { class: "alert" + (fresh ? " fresh" : "") + (open ? "" : " decided") + (a.escalated_at && !a.acknowledged_by && open ? " escalated" : ""), "data-alert-id": a.id, "data-group": a.camera_group || "", "data-page-mark": a.created_at + "~" + a.id },
    el("img", { src: a.crop_url, alt: t("Face seen on camera") }),
    el("img", { src: a.enrolled_photo_url, alt: t("Enrolled photo") }),
    el("div", {},
      el("h2", {}, el("a", { href: "/subjects/" + a.subject_id }, a.subject_name)),
      el("p", {}, categoryText(a)),
      el("p", {}, cameraText(a) + (a.latitude !== null ? ` (${num(a.latitude, 5)}, ${num(a.longitude, 5)})` : "")),
      el("p", { class: "seen" }, t("{first} · last seen {last} · score {score} · {faces} faces", { first: when(a.first_seen), last: when(a.last_seen), score: num(a.score, 3), faces: a.faces })),
      el("p", { class: "status-line" }, statusText(a)),
      ack,
      a.runner_up ? el("p", { class: "warning near-tie" }, t("Near-tie with {name}: compare both photos", { name: a.runner_up.subject_name || t("another subject") })) : "",
      el("a", { href: "/alerts/" + a.id, class: "open" }, t("Adjudicate"))));
  return card;
}

async function initLive() {
  const list = document.getElementById("alerts");
  const waiting = document.getElementById("waiting");
  const older = document.getElementById("older");
  const announcer = document.getElementById("announcer");
  document.getElementById("enable-sound").addEventListener("click", enableSound);
  showSound();
  const setWaiting = (n) => { waiting.textContent = t("{n} waiting", { n }); document.title = (n ? `(${n}) ` : "") + t("Live") + " · Vigil"; };
  const showEmpty = () => { document.getElementById("empty").hidden = list.children.length > 0; };
  const announce = (a) => { announcer.textContent = t("Red flag: {name}, {category}, camera {camera}", { name: a.subject_name, category: word(a.category), camera: a.camera }); };
  // Each station's officers see their own area: the filter hides the other groups' cards (it is a view,
  // not a permission) and is remembered on this browser.
  const filter = document.getElementById("group-filter");
  const applyFilter = () => {
    const group = filter.value;
    for (const card of list.children) card.hidden = group !== "" && card.dataset.group !== group;
    localStorage.setItem("vigil-live-group", group);
  };
  try {
    const cams = await api("/api/cameras?limit=500");
    const groups = [...new Set((cams.cameras || cams).map((c) => c.group).filter(Boolean))].sort();
    for (const g of groups) filter.append(el("option", { value: g }, g));
    filter.value = groups.includes(localStorage.getItem("vigil-live-group")) ? localStorage.getItem("vigil-live-group") : "";
  } catch (e) { /* cameras unreadable: every area */ }
  filter.addEventListener("change", applyFilter);
  const addNew = (a) => {
    list.prepend(alertCard(a, true));
    applyFilter();
    announce(a);
    while (list.children.length > LIVE_CAP) { list.lastElementChild.remove(); older.hidden = false; }  // off the page, not the record
  };
  const data = await api("/api/alerts?limit=50");
  for (const a of data.alerts) list.append(alertCard(a, false));
  applyFilter();
  older.hidden = !data.next;
  showEmpty();
  setWaiting(data.open);
  older.addEventListener("click", async () => {  // the next page after the oldest card shown
    const mark = list.lastElementChild ? list.lastElementChild.dataset.pageMark : "";
    const page = await api("/api/alerts?limit=50" + (mark ? "&after=" + encodeURIComponent(mark) : ""));
    for (const a of page.alerts) if (!list.querySelector(`[data-alert-id="${a.id}"]`)) list.append(alertCard(a, false));
    older.hidden = !page.next;
  });
  // Red flags raised while the socket was down are fetched on every reconnect; reconnects back off.
  const catchUp = async () => {
    const missed = await api("/api/alerts?limit=50");
    let added = false;
    for (const a of [...missed.alerts].reverse()) {
      if (!list.querySelector(`[data-alert-id="${a.id}"]`)) { addNew(a); added = true; }
    }
    showEmpty();
    setWaiting(missed.open);
    if (added) beep();
  };
  openLiveSocket({
    onReconnect: catchUp,
    onEvent: (event) => {
      if (event.open !== undefined) setWaiting(event.open);
      if (event.type === "alert") {
        addNew(event.alert);
        showEmpty();
        beep();
      } else if (event.type === "alert-updated" || event.type === "alert-escalated") {
        const old = list.querySelector(`[data-alert-id="${event.alert.id}"]`);
        if (old) old.replaceWith(alertCard(event.alert, false)); else if (event.type === "alert-escalated") addNew(event.alert);
        applyFilter();
        if (event.type === "alert-escalated") {
          announcer.textContent = t("Escalated: nobody has acknowledged {name} on camera {camera}", { name: event.alert.subject_name, camera: event.alert.camera });
          alarm();
        }
      }
    },
  });
}

// The live socket (Live and Field pages): reconnects with backoff; after a reconnect the page catches up
// from the API, since pushes sent while it was down are not replayed.
function openLiveSocket({ onEvent, onReconnect }) {
  let attempts = 0, opened = false;
  const connect = () => {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/alerts/live");
    window.vigilSocket = ws;
    const status = document.getElementById("connection");
    ws.onopen = () => {
      status.textContent = t("live");
      if (opened && onReconnect) onReconnect();
      opened = true; attempts = 0;
    };
    ws.onclose = (event) => {
      if (event.code === 4401 || event.code === 4403) {  // logged out, deactivated, expired: log in again
        location.href = "/login?next=" + encodeURIComponent(location.pathname); return;
      }
      const delay = Math.min(30000, 1000 * 2 ** attempts) * (0.5 + Math.random() / 2);
      attempts += 1;
      status.textContent = t("reconnecting…"); setTimeout(connect, delay);
    };
    ws.onmessage = (message) => onEvent(JSON.parse(message.data));
  };
  connect();
}

// ------------------------------------------------------------------ field (a phone, installable)
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

async function initField() {
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

// ------------------------------------------------------------------ adjudication
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
  band.textContent = bandText(c.band, c.looks, c.seconds);
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

async function initAlert(section) {
  const id = section.dataset.alertId;
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
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF }, body: JSON.stringify({ reason: new FormData(evidenceForm).get("reason") }) });
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

// ------------------------------------------------------------------ subject: timeline and map
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

// ------------------------------------------------------------------ maps (Leaflet, from the xstatic-leaflet package)
// Raster tiles from VIGIL_MAP_TILES (the force's tile server, or a local .mbtiles file this server serves);
// none configured: the cameras on a scaled grid with a north arrow and a scale bar — never a blank box.
let mapConfig = null;
const loadMapConfig = () => (mapConfig = mapConfig || api("/api/map"));
const located = (p) => p && p.latitude !== null && p.latitude !== undefined && p.longitude !== null;

function gridLayer() {
  const Grid = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement("canvas"), size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      const g = tile.getContext("2d");
      g.fillStyle = "#101820"; g.fillRect(0, 0, size.x, size.y);
      g.strokeStyle = "#2c3d4f"; g.lineWidth = 1; g.strokeRect(0.5, 0.5, size.x - 1, size.y - 1);
      g.strokeStyle = "#1c2833"; g.beginPath(); g.moveTo(size.x / 2, 0); g.lineTo(size.x / 2, size.y); g.moveTo(0, size.y / 2); g.lineTo(size.x, size.y / 2); g.stroke();
      return tile;
    },
  });
  return new Grid({ attribution: t("No map tiles configured: camera positions on a grid") });
}

function northArrow() {
  const Control = L.Control.extend({
    onAdd() { return el("div", { class: "north-arrow", title: t("North"), "aria-label": t("North") }, "▲", el("span", {}, t("N"))); },
  });
  return new Control({ position: "topright" });
}

function arrowIcon(degrees) {
  const head = el("span", { class: "trail-arrow" }, "➤");
  head.style.transform = `rotate(${degrees}deg)`;
  return L.divIcon({ html: head, className: "trail-arrow-icon", iconSize: [18, 18] });
}

// Draws the map in ``container`` (a div): ``cameras`` as grey dots with their names, ``trail`` (sightings,
// oldest first) as numbered red dots with their times joined by a path with arrows. Returns the map.
async function drawPlaceMap(container, { cameras = [], trail = [], highlight = null } = {}) {
  const config = await loadMapConfig();
  if (container.vigilMap) container.vigilMap.remove();
  container.replaceChildren();
  const map = L.map(container, { zoomControl: true, attributionControl: true, minZoom: config.min_zoom, maxZoom: config.max_zoom });
  container.vigilMap = map;
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  container.dataset.tiles = config.tiles ? "tiles" : "grid";
  (config.tiles ? L.tileLayer(config.tiles, { attribution: config.attribution, minZoom: config.min_zoom, maxZoom: config.max_zoom }) : gridLayer()).addTo(map);
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  northArrow().addTo(map);
  const bounds = [];
  for (const c of cameras.filter(located)) {
    const marker = L.circleMarker([c.latitude, c.longitude], { radius: c.name === highlight ? 9 : 6, color: c.name === highlight ? "#f5a524" : "#8fa1b3", weight: 2, fillOpacity: 0.8, className: "map-camera" });
    marker.bindTooltip(c.name + (c.group ? " · " + c.group : ""), { permanent: cameras.length <= 12, direction: "right" }).addTo(map);
    bounds.push([c.latitude, c.longitude]);
  }
  const points = trail.filter(located);
  if (points.length > 1) {
    L.polyline(points.map((p) => [p.latitude, p.longitude]), { color: "#f5a524", weight: 4, className: "trail-path" }).addTo(map);
    for (let i = 1; i < points.length; i++) {
      const a = map.options.crs.project(L.latLng(points[i - 1].latitude, points[i - 1].longitude));
      const b = map.options.crs.project(L.latLng(points[i].latitude, points[i].longitude));
      if (a.equals(b)) continue;
      const degrees = Math.atan2(-(b.y - a.y), b.x - a.x) * 180 / Math.PI;  // projected y grows northwards
      const middle = [(points[i - 1].latitude + points[i].latitude) / 2, (points[i - 1].longitude + points[i].longitude) / 2];
      L.marker(middle, { icon: arrowIcon(degrees), interactive: false, keyboard: false }).addTo(map);
    }
  }
  points.forEach((p, i) => {
    L.circleMarker([p.latitude, p.longitude], { radius: 8, color: "#e5484d", fillColor: "#e5484d", fillOpacity: 0.9, className: "trail-point" })
      .bindTooltip(`${i + 1}. ${when(p.first_seen)} · ${p.camera}`, { permanent: true, direction: "left", className: "trail-time" }).addTo(map);
    bounds.push([p.latitude, p.longitude]);
  });
  if (bounds.length) map.fitBounds(bounds, { padding: [40, 40], maxZoom: Math.min(17, config.max_zoom) });
  else {
    map.setView([0, 0], config.min_zoom);
    container.append(el("p", { class: "map-empty" }, t("No camera with a location to show.")));
  }
  return map;
}

// ------------------------------------------------------------------ subject: the trail, live
async function initSubject(section) {
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

// ------------------------------------------------------------------ cameras, watchlist, audit
async function initCameras(section) {
  const admin = section.dataset.admin === "yes";
  const load = async () => {
    const rows = (await api("/api/cameras")).map((c) => el("tr", { "data-camera": c.name },
      el("td", {}, c.name), el("td", {}, c.group || "—"),
      el("td", { class: c.scanning ? "scanning" : "idle", "data-authorisation": c.scanning ? "active" : "none" },
        c.scanning ? t("scanning under {ids}", { ids: c.authorisations.join(", ") }) : t("idle: {why}", { why: idleReason(c) })),
      el("td", {}, c.state ? word(c.state) : t("not running")), el("td", {}, c.analysed_fps ?? "—"), el("td", {}, c.dropped_frames ?? "—"),
      el("td", { class: "detection" }, detectionText(c)),
      el("td", {}, c.last_frame_at ? when(c.last_frame_at) : "—"), el("td", {}, `${num(c.latitude, 5)}, ${num(c.longitude, 5)}`), el("td", {}, c.url),
      el("td", {}, admin ? el("span", {},
        Object.assign(el("button", { type: "button", class: "show-frame" }, t("Frame")), { onclick: () => {
          const figure = document.getElementById("camera-frame");
          figure.querySelector("img").src = "/api/cameras/" + encodeURIComponent(c.name) + "/frame?at=" + Date.now();
          figure.querySelector("figcaption").textContent = t("{camera} now, every face blurred (not stored)", { camera: c.name });
          figure.hidden = false; } }),
        Object.assign(el("button", { type: "button", class: "edit-zones" }, t("Zones")), { onclick: () => zoneEditor.open(c) }),
        Object.assign(el("button", { type: "button" }, t("Remove")), { onclick: async () => { await api("/api/cameras/" + encodeURIComponent(c.name), { method: "DELETE" }); load(); } })) : "")));
    document.querySelector("#cameras tbody").replaceChildren(...rows);
  };
  const zoneEditor = admin ? makeZoneEditor(load) : null;
  await load();
  drawPlaceMap(document.getElementById("cameras-map"), { cameras: await api("/api/cameras") });
  setInterval(load, 5000);
  const form = document.getElementById("camera-add");
  if (form) form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    try { await api("/api/cameras", { method: "POST", json: { name: d.name, url: d.url, latitude: +d.latitude, longitude: +d.longitude, analysis_fps: +d.analysis_fps, group: d.group || "" } }); form.reset(); load(); document.getElementById("camera-error").textContent = ""; }
    catch (e) { document.getElementById("camera-error").textContent = e.message; }
  });
}

function idleReason(c) {
  const at = c.authorisation_reason_at ? when(c.authorisation_reason_at) : "";
  return {
    uncovered: t("no authorisation covers this camera"),
    scheduled: t("no active authorisation; the next starts {at}", { at }),
    ended: t("no active authorisation; the last ended {at}", { at }),
  }[c.authorisation_reason] || c.authorisation_status;
}

function detectionText(c) {
  const d = c.detection;
  const where = c.zones ? t("{zones} zone(s), {masks} mask(s)", { zones: c.zones.zones.length, masks: c.zones.masks.length }) : t("whole frame");
  if (!d) return where;
  const frames = d.full_passes + d.region_passes + d.quiet_frames;
  const pct = (n) => frames ? Math.round(100 * n / frames) + "%" : "—";
  return where + "; " + t("searched whole {full}, in regions {regions}, not needed {quiet}; {pixels}% of pixels",
    { full: pct(d.full_passes), regions: pct(d.region_passes), quiet: pct(d.quiet_frames), pixels: Math.round(100 * d.detected_share) });
}

// Zones and masks drawn on one blurred live frame (never stored): click to add points, close a polygon,
// save. Coordinates are in the frame's own pixels.
function makeZoneEditor(reload) {
  const card = document.getElementById("zone-editor");
  const image = card.querySelector("img");
  const svg = card.querySelector("svg");
  const status = card.querySelector(".zone-status");
  const error = document.getElementById("zone-error");
  let camera = null, polygons = { zones: [], masks: [] }, current = [];
  const kind = () => card.querySelector("input[name=zone-kind]:checked").value;
  const make = (tag, attrs) => { const n = document.createElementNS("http://www.w3.org/2000/svg", tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; };
  const draw = () => {
    svg.setAttribute("viewBox", `0 0 ${image.naturalWidth || 1} ${image.naturalHeight || 1}`);
    svg.replaceChildren();
    for (const [name, colour] of [["zones", "#30a46c"], ["masks", "#e5484d"]]) {
      for (const p of polygons[name]) svg.append(make("polygon", { points: p.map((q) => q.join(",")).join(" "), fill: colour, "fill-opacity": 0.3, stroke: colour, "stroke-width": 3, class: name }));
    }
    if (current.length) svg.append(make("polyline", { points: current.map((q) => q.join(",")).join(" "), fill: "none", stroke: "#f5d90a", "stroke-width": 3 }));
    for (const q of current) svg.append(make("circle", { cx: q[0], cy: q[1], r: 6, fill: "#f5d90a" }));
    status.textContent = t("{zones} zone(s), {masks} mask(s)", { zones: polygons.zones.length, masks: polygons.masks.length })
      + (current.length ? "; " + (kind() === "mask" ? t("drawing a mask ({n} point(s))", { n: current.length }) : t("drawing a zone ({n} point(s))", { n: current.length })) : "");
  };
  svg.addEventListener("click", (event) => {
    const box = svg.getBoundingClientRect();
    current.push([Math.round((event.clientX - box.left) * image.naturalWidth / box.width), Math.round((event.clientY - box.top) * image.naturalHeight / box.height)]);
    draw();
  });
  card.querySelector(".zone-close").onclick = () => {
    if (current.length < 3) { error.textContent = t("A polygon needs at least three points."); return; }
    polygons[kind() === "mask" ? "masks" : "zones"].push(current); current = []; error.textContent = ""; draw();
  };
  card.querySelector(".zone-undo").onclick = () => { current.pop(); draw(); };
  card.querySelector(".zone-clear").onclick = () => { polygons = { zones: [], masks: [] }; current = []; draw(); };
  card.querySelector(".zone-cancel").onclick = () => { card.hidden = true; image.removeAttribute("src"); };
  card.querySelector(".zone-save").onclick = async () => {
    try {
      await api("/api/cameras/" + encodeURIComponent(camera) + "/zones", { method: "PUT", json: { frame: [image.naturalWidth, image.naturalHeight], zones: polygons.zones, masks: polygons.masks } });
      error.textContent = ""; card.hidden = true; image.removeAttribute("src"); reload();
    } catch (e) { error.textContent = e.message; }
  };
  image.addEventListener("load", () => {
    const stored = card.dataset.stored ? JSON.parse(card.dataset.stored) : null;
    if (stored) {  // drawn on a frame of another size: scale to this one
      const fx = image.naturalWidth / stored.frame[0], fy = image.naturalHeight / stored.frame[1];
      const scale = (p) => p.map((q) => [Math.round(q[0] * fx), Math.round(q[1] * fy)]);
      polygons = { zones: stored.zones.map(scale), masks: stored.masks.map(scale) };
    }
    draw();
  });
  return {
    open(c) {
      camera = c.name; current = []; polygons = { zones: [], masks: [] }; error.textContent = "";
      card.dataset.stored = c.zones ? JSON.stringify(c.zones) : "";
      card.querySelector("h2").textContent = t("Zones and masks: {camera}", { camera: c.name });
      image.src = "/api/cameras/" + encodeURIComponent(c.name) + "/frame?at=" + Date.now();
      card.hidden = false;
    },
  };
}

async function initAuthorisations(section) {
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

async function initWatchlist() {
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

// ------------------------------------------------------------------ notifications (admins)
async function initNotifications() {
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
      el("td", {}, r.state === "proposed" ? Object.assign(el("button", { type: "button", "data-action": "approve" }, t("Approve")), {
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

async function initAudit() {
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

document.addEventListener("DOMContentLoaded", async () => {
  initLogin();
  const logout = document.getElementById("logout");
  const page = document.querySelector("[data-page]");
  if (page || logout) await refreshCsrf();
  // After logging out the login page replaces this one (not kept in history: Back shows no personal data).
  if (logout) logout.addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } finally {
      sessionStorage.removeItem("vigil-csrf");
      document.querySelector("main")?.replaceChildren();
      location.replace("/login");
    }
  });
  const language = document.getElementById("language");
  if (language) language.addEventListener("change", async () => {
    await api("/api/auth/locale", { method: "PUT", json: { locale: language.value || null } });
    location.reload();
  });
  if (!page) return;
  const init = { live: initLive, alert: initAlert, subject: initSubject, cameras: initCameras, authorisations: initAuthorisations, watchlist: initWatchlist, audit: initAudit, field: initField, notifications: initNotifications }[page.dataset.page];
  if (init) await init(page);
});
