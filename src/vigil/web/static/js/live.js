// The Live page: the operator's red flags, newest first, as they arrive.
import { api, el, t, when, num, word } from "./core.js";
import { enableSound, showSound, beep, alarm } from "./sound.js";
import { categoryText, cameraText, statusText, ackButton } from "./cards.js";
import { openLiveSocket } from "./socket.js";
const LIVE_CAP = 200;  // cards kept on the page; older ones are a click on "Show older alerts" away

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

export async function initLive() {
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
