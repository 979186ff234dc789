import { t } from "./core.js";
export function initLogin() {
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
const OWN_PAGES = /^\/(?:live|field|cameras|watchlist|audit|authorisations|notifications|models|(?:alerts|subjects)\/[A-Za-z0-9_-]{1,64})?$/;
function sameSitePath(next) {
  if (typeof next !== "string" || !next) return "/";
  try {
    const target = new URL(next, location.origin);
    if (target.origin !== location.origin || !OWN_PAGES.test(target.pathname)) return "/";
    return target.pathname + target.search + target.hash;
  } catch (e) { return "/"; }
}
