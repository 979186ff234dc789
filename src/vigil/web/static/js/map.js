// Maps (Leaflet, from the xstatic-leaflet package, loaded before the page's modules as the global L).
import { api, el, t, when } from "./core.js";
// Raster tiles from VIGIL_MAP_TILES (the force's tile server, or a local .mbtiles/.pmtiles file served here);
// none configured: the cameras on a scaled grid with a north arrow and a scale bar — never a blank box.
let mapConfig = null;
const loadMapConfig = () => (mapConfig = mapConfig || api("/api/map"));
export const located = (p) => p && p.latitude !== null && p.latitude !== undefined && p.longitude !== null;

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
// ``around`` ({latitude, longitude, km}) draws the nearby radius; ``you`` the officer's own position.
export async function drawPlaceMap(container, { cameras = [], trail = [], highlight = null, around = null, you = null } = {}) {
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
  const marked = new Set([].concat(highlight || []));
  if (around && located(around)) {
    L.circle([around.latitude, around.longitude], { radius: around.km * 1000, color: "#f5a524", weight: 1, dashArray: "6 6", fillOpacity: 0.05, className: "nearby-radius", interactive: false }).addTo(map);
  }
  if (you && located(you)) {
    L.circleMarker([you.latitude, you.longitude], { radius: 7, color: "#4cc38a", fillColor: "#4cc38a", fillOpacity: 0.9, className: "map-you" }).bindTooltip(t("You"), { permanent: true, direction: "top" }).addTo(map);
    bounds.push([you.latitude, you.longitude]);
  }
  for (const c of cameras.filter(located)) {
    const lit = marked.has(c.name);
    const marker = L.circleMarker([c.latitude, c.longitude], { radius: lit ? 9 : 6, color: lit ? "#f5a524" : "#8fa1b3", weight: 2, fillOpacity: 0.8, className: "map-camera" + (lit ? " map-camera-near" : "") });
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
  if (around && located(around)) { const box = L.latLng(around.latitude, around.longitude).toBounds(around.km * 2000); bounds.push(box.getNorthEast(), box.getSouthWest()); }
  if (bounds.length) map.fitBounds(bounds, { padding: [40, 40], maxZoom: Math.min(17, config.max_zoom) });
  else {
    map.setView([0, 0], config.min_zoom);
    container.append(el("p", { class: "map-empty" }, t("No camera with a location to show.")));
  }
  return map;
}
