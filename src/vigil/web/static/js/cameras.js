// The cameras page: each camera's state and authorisation, its zones and masks.
import { api, el, t, when, num, word } from "./core.js";
import { drawPlaceMap } from "./map.js";
export async function initCameras(section) {
  const admin = section.dataset.admin === "yes";
  const load = async () => {
    const rows = (await api("/api/cameras")).map((c) => el("tr", { "data-camera": c.name },
      el("td", {}, c.name), el("td", {}, c.group || "—"),
      el("td", { class: c.scanning ? "scanning" : "idle", "data-authorisation": c.scanning ? "active" : "none" },
        c.scanning ? scanningUnder(c) : t("idle: {why}", { why: idleReason(c) })),
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
        Object.assign(el("button", { type: "button", class: "remove" }, t("Remove")), { onclick: async () => {
          // asked first: removing stops the camera at once (its alerts and the audit log stay)
          if (!confirm(t("Remove camera {camera}? It stops being analysed at once; its alerts and the audit log stay.", { camera: c.name }))) return;
          try { await api("/api/cameras/" + encodeURIComponent(c.name), { method: "DELETE" }); document.getElementById("camera-error").textContent = ""; load(); }
          catch (e) { document.getElementById("camera-error").textContent = e.message; } } })) : "")));
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

// The authorisations a camera scans under, by purpose and dates (their ids are on the Authorisations page).
function scanningUnder(c) {
  const each = (c.covering || []).map((a) => t("“{purpose}”, {from} to {to}", { purpose: a.purpose, from: when(a.starts_at), to: when(a.ends_at) }));
  return t("scanning under {list}", { list: each.join("; ") || c.authorisations.join(", ") });
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
