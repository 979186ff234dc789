// Vigil control room: small, dependency-free ES modules loaded by the browser (no bundler). This entry
// point wires the header (log out, language) and starts the page's own module (js/<page>.js); shared
// helpers are in js/core.js (API, elements, language), js/sound.js, js/socket.js, js/cards.js, js/map.js.
import { api, refreshCsrf } from "./js/core.js";
import { initLogin } from "./js/login.js";
import { initLive } from "./js/live.js";
import { initField } from "./js/field.js";
import { initAlert } from "./js/alert.js";
import { initSubject } from "./js/subject.js";
import { initCameras } from "./js/cameras.js";
import { initAuthorisations } from "./js/authorisations.js";
import { initWatchlist } from "./js/watchlist.js";
import { initAudit } from "./js/audit.js";
import { initNotifications } from "./js/notifications.js";
import { initModels } from "./js/models.js";

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
  document.documentElement.dataset.ready = "header";  // log out and language answer from now on (tests wait for it)
  if (!page) return;
  const init = { live: initLive, alert: initAlert, subject: initSubject, cameras: initCameras, authorisations: initAuthorisations, watchlist: initWatchlist, audit: initAudit, field: initField, notifications: initNotifications, models: initModels }[page.dataset.page];
  if (init) await init(page);
  document.documentElement.dataset.ready = "page";
});
