// Shared helpers of every page: the JSON API (the session cookie is HttpOnly, and every state-changing
// call carries the CSRF token in X-CSRF-Token), element building, the page's language.
let CSRF = sessionStorage.getItem("vigil-csrf") || "";

export async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (options.json !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = CSRF;
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
  // 204 (and 205) carry no body, whatever their content type says: nothing to parse.
  const empty = response.status === 204 || response.status === 205 || response.headers.get("content-length") === "0";
  const body = empty ? null : response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const d = body && body.detail;
    const error = new Error(typeof d === "string" ? d : d && d.message ? (d.field ? d.field + ": " : "") + d.message : JSON.stringify(d));
    error.status = response.status;  // callers that retry tell a refusal (4xx) from a server away (5xx)
    throw error;
  }
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") node.className = v; else if (v !== null && v !== undefined) node.setAttribute(k, v); }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
// The page's language: its catalogue (vigil/locale/*.po, handed over by the server) and its tag, which
// formats dates and numbers for India in either language.
const CATALOGUE = JSON.parse((document.getElementById("catalogue") || {}).textContent || "{}");
const LOCALE_TAG = document.documentElement.dataset.localeTag || "en-IN";
export function t(message, vars) {
  const text = CATALOGUE[message] || message;
  return vars ? text.replace(/\{(\w+)\}/g, (whole, key) => (key in vars ? String(vars[key]) : whole)) : text;
}
export const when = (iso) => new Date(iso).toLocaleString(LOCALE_TAG);
export const clock = (iso) => new Date(iso).toLocaleTimeString(LOCALE_TAG, { hour: "2-digit", minute: "2-digit" });
export const num = (x, digits) => Number(x).toLocaleString(LOCALE_TAG, { minimumFractionDigits: digits, maximumFractionDigits: digits });
// Words that are data (a status, a category, a role): shown in the page's language where the catalogue has them.
export const word = (value) => t(value);

export async function refreshCsrf() {
  try { const me = await api("/api/auth/me"); if (me.csrf_token) { CSRF = me.csrf_token; sessionStorage.setItem("vigil-csrf", CSRF); } } catch (e) { /* login page */ }
}
// The token of this session (the alert page's evidence download calls fetch itself).
export const csrfToken = () => CSRF;
