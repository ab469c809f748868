// api.js: the REST API as the pages call it: the session cookie, its CSRF token on state changes,
// JSON in and out, and a way back to the login page when the session ends.

let csrfToken = null;
let onLoggedOut = () => {};

export function setCsrf(token) {
  csrfToken = token || null;
}

export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// fetch() of an API path: opts.json is sent as JSON, opts.body as is; the answer's JSON (or text,
// or null for 204). Throws ApiError with the server's message.
export async function api(method, path, opts = {}) {
  const headers = { "X-Requested-With": "tern-ui", Accept: "application/json", ...(opts.headers || {}) };
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  const ct = resp.headers.get("Content-Type") || "";
  const data = resp.status === 204 ? null : ct.startsWith("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    if (resp.status === 401 && !opts.noLoginRedirect) onLoggedOut();
    const msg = (data && data.message) || `${method} ${path}: HTTP ${resp.status}`;
    throw new ApiError(resp.status, msg, data);
  }
  return data;
}

export function q(params) {
  const u = new URLSearchParams();
  // An array is the parameter repeated (?labels=a:1&labels=b:2).
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.filter((x) => x !== "").forEach((x) => u.append(k, x));
    else if (v !== undefined && v !== null && v !== "") u.set(k, v);
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

export const enc = encodeURIComponent;
