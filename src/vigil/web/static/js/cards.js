// What a red flag's card says, on the Live and the Field pages.
import { api, el, t, when, word } from "./core.js";
export const categoryText = (a) => word(a.category) + (a.high_risk ? t(" (high risk)") : "");
export const cameraText = (a) => t("Camera {camera}", { camera: a.camera }) + (a.camera_group ? " · " + a.camera_group : "");
export const statusText = (a) => t("Status: {status}", { status: word(a.status) })
  + (a.acknowledged_by ? t(" · acknowledged by {user}", { user: a.acknowledged_by }) : "")
  + (a.escalated_at ? t(" · escalated {at}", { at: when(a.escalated_at) }) : "");

// "I'm on it" for an open red flag nobody has taken up yet (else ""); ``then(alert)`` after it is recorded.
export function ackButton(a, then) {
  if (!["pending", "awaiting-second"].includes(a.status) || a.acknowledged_by) return "";
  const ack = el("button", { type: "button", class: "acknowledge" }, t("Acknowledge (I'm on it)"));
  ack.addEventListener("click", async () => {
    ack.disabled = true;
    try { await then(await api(`/api/alerts/${a.id}/acknowledge`, { method: "POST" })); }
    catch (e) { ack.disabled = false; ack.textContent = t("Acknowledge failed: {why}", { why: e.message }); }
  });
  return ack;
}

// Which red flags this operator has looked at on this browser (chosen on the Live page or opened): the
// rest of the open ones are "unread", counted in the Live page's title. Kept in localStorage, ids only.
const READ_KEY = "vigil-read", READ_CAP = 2000;
const readIds = () => { try { return JSON.parse(localStorage.getItem(READ_KEY) || "[]"); } catch (e) { return []; } };
export const isRead = (id) => readIds().includes(id);
export function markRead(id) {
  const ids = readIds();
  if (ids.includes(id)) return;
  ids.push(id);
  localStorage.setItem(READ_KEY, JSON.stringify(ids.slice(-READ_CAP)));
}
