import { t } from "./core.js";
// The live socket (Live and Field pages): reconnects with backoff; after a reconnect the page catches up
// from the API, since pushes sent while it was down are not replayed.
export function openLiveSocket({ onEvent, onReconnect }) {
  let attempts = 0, opened = false, waiting = null;
  const connect = () => {
    waiting = null;
    const status = document.getElementById("connection");
    if (!status) return;  // the page is gone (logging out empties it): no more reconnects
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/alerts/live");
    window.vigilSocket = ws;
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
      status.textContent = t("reconnecting…"); waiting = setTimeout(connect, delay);
    };
    ws.onmessage = (message) => onEvent(JSON.parse(message.data));
  };
  // Back online (a phone out of coverage): reconnect now rather than at the end of the backoff.
  window.addEventListener("online", () => { if (waiting !== null) { clearTimeout(waiting); connect(); } });
  connect();
}
