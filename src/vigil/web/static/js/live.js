// The Live page: the operator's red flags, newest first, as they arrive — tabs (open, decided, all),
// filters (camera, area, category, evidence band, time, subject) asked of the server, J/K and Enter, an
// unread count in the tab's title; a new flag is announced (sound, title, a screen-reader line) without
// moving what the operator is reading.
import { api, el, t, when, word } from "./core.js";
import { enableSound, showSound, beep, alarm } from "./sound.js";
import { categoryText, statusText, ackButton, isRead, markRead } from "./cards.js";
import { openLiveSocket } from "./socket.js";
const LIVE_CAP = 200;  // cards kept on the page; older ones are a click on "Show older alerts" away
const PAGE = 50;
const OPEN = ["pending", "awaiting-second"];
const FILTERS_KEY = "vigil-live-filters";

// "{subject} seen on camera {camera}": the subject and the camera named in the operator's language.
const seenText = (a) => a.camera_group
  ? t("{subject} seen on camera {camera} ({area})", { subject: a.subject_name, camera: a.camera, area: a.camera_group })
  : t("{subject} seen on camera {camera}", { subject: a.subject_name, camera: a.camera });
const bandLine = (a) => t("{band} evidence: {looks} looks over {seconds} s", {
  band: word(a.band), looks: a.faces, seconds: Math.max(0, Math.round((new Date(a.last_seen) - new Date(a.first_seen)) / 1000)) });

function alertCard(a, fresh) {
  const open = OPEN.includes(a.status);
  const ack = ackButton(a, (done) => card.replaceWith(alertCard(done, false)));
  const unread = open && !isRead(a.id);
  const card = el("li", { class: "alert" + (fresh ? " fresh" : "") + (open ? "" : " decided") + (unread ? " unread" : "") + (a.escalated_at && !a.acknowledged_by && open ? " escalated" : ""),
    "data-alert-id": a.id, "data-group": a.camera_group || "", "data-page-mark": a.created_at + "~" + a.id, "data-band": a.band, tabindex: "-1",
    "aria-label": t("Red flag: {name}, {category}, camera {camera}", { name: a.subject_name, category: word(a.category), camera: a.camera }) },
    el("img", { src: a.crop_url, alt: t("Face seen on camera") }),
    el("img", { src: a.enrolled_photo_url, alt: t("Enrolled photo") }),
    el("div", {},
      el("h2", {}, el("a", { href: "/subjects/" + a.subject_id }, a.subject_name)),
      el("p", { class: "where" }, seenText(a)),
      el("p", {}, categoryText(a)),
      el("p", { class: "seen" }, t("{first} · last seen {last}", { first: when(a.first_seen), last: when(a.last_seen) })),
      el("p", { class: "card-band", "data-band": a.band }, bandLine(a)),
      el("p", { class: "status-line" }, statusText(a)),
      ack,
      a.runner_up ? el("p", { class: "warning near-tie" }, t("Near-tie with {name}: compare both photos", { name: a.runner_up.subject_name || t("another subject") })) : "",
      el("a", { href: "/alerts/" + a.id, class: "open" }, t("Adjudicate"))));
  card.addEventListener("click", (event) => { if (!event.target.closest("a, button")) select(card); });
  return card;
}

let selected = null;
function select(card, { quietly = false } = {}) {
  if (selected) { selected.classList.remove("selected"); selected.removeAttribute("aria-current"); }
  selected = card;
  if (!card) return;
  card.classList.add("selected"); card.setAttribute("aria-current", "true");
  if (quietly) return;  // kept chosen across a reload: the focus stays where the operator is typing
  card.focus({ preventScroll: true });
  card.scrollIntoView({ block: "nearest" });
  markRead(card.dataset.alertId);
  card.classList.remove("unread");
  document.dispatchEvent(new Event("vigil-read"));
}

export async function initLive() {
  const list = document.getElementById("alerts");
  const waiting = document.getElementById("waiting");
  const older = document.getElementById("older");
  const announcer = document.getElementById("announcer");
  const above = document.getElementById("new-above");
  const fields = { subject: document.getElementById("f-subject"), camera: document.getElementById("f-camera"), group: document.getElementById("group-filter"),
    category: document.getElementById("f-category"), band: document.getElementById("f-band"), since: document.getElementById("f-since") };
  const tabs = [...document.querySelectorAll("[role=tab][data-tab]")];
  document.getElementById("enable-sound").addEventListener("click", enableSound);
  document.addEventListener("click", enableSound, { once: true });  // sound after the first tap anywhere
  showSound();
  let open = 0, hiddenAbove = 0;
  const unreadCount = () => list.querySelectorAll("li.unread").length;
  const showCounts = () => {
    const unread = unreadCount();
    waiting.textContent = t("{n} waiting", { n: open });
    const shown = document.getElementById("unread");
    if (shown) shown.textContent = unread ? t("{n} unread", { n: unread }) : "";
    document.title = (unread ? `(${unread}) ` : "") + t("Live") + " · Vigil";
  };
  const setWaiting = (n) => { open = n; showCounts(); };
  document.addEventListener("vigil-read", showCounts);
  // (each is asked after an await: the page may be going away meanwhile — logging out empties it first)
  const showEmpty = () => { const empty = document.getElementById("empty"); if (empty) empty.hidden = list.children.length > 0; };

  // The filters: remembered on this browser, asked of the server (GET /api/alerts), and applied to each
  // red flag that arrives live.
  let tab = "open";
  const saved = (() => { try { return JSON.parse(localStorage.getItem(FILTERS_KEY) || "{}"); } catch (e) { return {}; } })();
  if (!saved.group && localStorage.getItem("vigil-live-group")) saved.group = localStorage.getItem("vigil-live-group");
  try {
    const cams = await api("/api/cameras?limit=500");
    const cameras = (cams.cameras || cams);
    for (const c of [...cameras].sort((x, y) => x.name.localeCompare(y.name))) fields.camera.append(el("option", { value: c.name }, c.name));
    for (const g of [...new Set(cameras.map((c) => c.group).filter(Boolean))].sort()) fields.group.append(el("option", { value: g }, g));
  } catch (e) { /* cameras unreadable: every camera and area */ }
  if (!list.isConnected) return;  // logged out (or reloaded) while the cameras were asked for
  const sinceIso = () => fields.since.value ? new Date(Date.now() - Number(fields.since.value) * 3600_000).toISOString() : "";
  const query = () => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (tab === "open") q.set("open_only", "true"); else if (tab === "decided") q.set("decided_only", "true");
    for (const name of ["camera", "group", "category", "band"]) if (fields[name].value) q.set(name, fields[name].value);
    if (fields.since.value) q.set("since", sinceIso());
    if (fields.subject.value.trim()) q.set("subject", fields.subject.value.trim());
    return q;
  };
  const matches = (a) => {
    if (tab === "open" && !OPEN.includes(a.status)) return false;
    if (tab === "decided" && OPEN.includes(a.status)) return false;
    if (fields.camera.value && a.camera !== fields.camera.value) return false;
    if (fields.group.value && a.camera_group !== fields.group.value) return false;
    if (fields.category.value && a.category !== fields.category.value) return false;
    if (fields.band.value && a.band !== fields.band.value) return false;
    if (fields.since.value && new Date(a.created_at) < new Date(sinceIso())) return false;
    const q = fields.subject.value.trim().toLowerCase();
    return !q || a.subject_name.toLowerCase().includes(q);
  };
  const remember = () => localStorage.setItem(FILTERS_KEY, JSON.stringify({ tab, ...Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.value])) }));
  const showTab = () => { for (const b of tabs) b.setAttribute("aria-selected", String(b.dataset.tab === tab)); };

  let loading = 0;
  const load = async () => {
    const mine = ++loading;
    const asked = query();
    const data = await api("/api/alerts?" + asked);
    if (mine !== loading || !list.isConnected) return;  // a newer filter's answer is on its way, or the page left
    if (fields.category.options.length === 1) {  // the categories come with the first answer
      for (const c of data.categories || []) fields.category.append(el("option", { value: c }, word(c)));
      if (saved.category && (data.categories || []).includes(saved.category)) {
        fields.category.value = saved.category;
        if (!asked.has("category")) return load();  // the remembered category: ask again with it
      }
    }
    const chosen = selected ? selected.dataset.alertId : null;
    list.replaceChildren(...data.alerts.map((a) => alertCard(a, false)));
    const again = chosen ? list.querySelector(`[data-alert-id="${chosen}"]`) : null;  // still listed: still chosen
    selected = null;
    if (again) select(again, { quietly: true });
    older.hidden = !data.next;
    hiddenAbove = 0; above.hidden = true;
    showEmpty();
    setWaiting(data.open);
  };
  for (const [name, field] of Object.entries(fields)) {
    if (saved[name] !== undefined && name !== "category") field.value = saved[name];
    if (field.value !== (saved[name] ?? "") && name !== "category") field.value = "";  // an option no longer offered
  }
  if (["open", "decided", "all"].includes(saved.tab)) tab = saved.tab;
  showTab();
  for (const b of tabs) b.addEventListener("click", () => { tab = b.dataset.tab; showTab(); remember(); load(); });
  for (const field of Object.values(fields)) field.addEventListener("change", () => { remember(); load(); });
  let typing = null;
  fields.subject.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { remember(); load(); }, 300); });
  document.getElementById("triage").addEventListener("submit", (event) => { event.preventDefault(); remember(); load(); });

  // A red flag that arrives is put on top; if the operator is reading further down (scrolled, or a card
  // chosen), what they read stays where it was on the screen and a button says how many arrived above.
  const addNew = (a) => {
    announce(a);
    if (!matches(a)) return;
    const reading = selected || (window.scrollY > 0 ? [...list.children].find((c) => c.getBoundingClientRect().bottom > 0) : null);
    const before = reading ? reading.getBoundingClientRect().top : 0;
    const card = alertCard(a, true);
    list.prepend(card);
    while (list.children.length > LIVE_CAP) { list.lastElementChild.remove(); older.hidden = false; }  // off the page, not the record
    if (reading && reading.isConnected) {
      // put back what moved, now and once more at the next frame (the browser may shift it itself)
      const keep = () => { const moved = reading.getBoundingClientRect().top - before; if (Math.abs(moved) >= 1) window.scrollBy(0, moved); };
      if (card.getBoundingClientRect().bottom <= reading.getBoundingClientRect().top - before) {
        hiddenAbove += 1; above.hidden = false;
        above.textContent = t("↑ {n} new red flag(s) above", { n: hiddenAbove });
      }
      keep();
      requestAnimationFrame(keep);
    }
    showCounts();
  };
  above.addEventListener("click", () => { hiddenAbove = 0; above.hidden = true; window.scrollTo(0, 0); select(list.firstElementChild); });
  window.addEventListener("scroll", () => { if (!above.hidden && window.scrollY === 0) { hiddenAbove = 0; above.hidden = true; } }, { passive: true });
  const announce = (a) => { announcer.textContent = t("Red flag: {name}, {category}, camera {camera}", { name: a.subject_name, category: word(a.category), camera: a.camera }); };

  await load();
  if (!list.isConnected) return;  // the page left while the first red flags were asked for: no socket
  older.addEventListener("click", async () => {  // the next page after the oldest card shown
    const mark = list.lastElementChild ? list.lastElementChild.dataset.pageMark : "";
    const q = query();
    if (mark) q.set("after", mark);
    const page = await api("/api/alerts?" + q);
    for (const a of page.alerts) if (!list.querySelector(`[data-alert-id="${a.id}"]`)) list.append(alertCard(a, false));
    older.hidden = !page.next;
    showCounts();
  });

  // J and K move between the cards shown, Enter opens the one chosen (not while typing in a field).
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && event.target.closest("#triage")) { event.target.blur(); return; }  // back to the list
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest("input, textarea, select")) return;
    const cards = [...list.children].filter((c) => !c.hidden);
    const at = cards.indexOf(selected);
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      const next = event.key === "j" ? Math.min(cards.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
      if (cards[next]) select(cards[next]);
    } else if (event.key === "Enter" && selected && !event.target.closest("a, button")) {
      event.preventDefault();
      location.href = "/alerts/" + selected.dataset.alertId;
    }
  });

  // Red flags raised while the socket was down are fetched on every reconnect; reconnects back off.
  const catchUp = async () => {
    const missed = await api("/api/alerts?" + query());
    if (!list.isConnected) return;  // logged out meanwhile
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
        if (old) {
          const card = alertCard(event.alert, false);
          if (old === selected) { old.replaceWith(card); selected = null; select(card, { quietly: true }); } else old.replaceWith(card);
        } else if (event.type === "alert-escalated") addNew(event.alert);
        showCounts();
        if (event.type === "alert-escalated") {
          announcer.textContent = t("Escalated: nobody has acknowledged {name} on camera {camera}", { name: event.alert.subject_name, camera: event.alert.camera });
          alarm();
        }
      }
    },
  });
}
