// app.js: the web UI's entry: who is logged in, the login page, and the views by URL fragment
// (#/dashboard, #/flows, #/flows/edit/NS/ID, #/executions, #/executions/ID, #/triggers, #/logs,
// #/namespaces, #/namespaces/NS).
import { api, setCsrf, whenLoggedOut } from "./api.js";
import { h, clear, setTitle } from "./dom.js";
import { flowsView } from "./flows.js";
import { editorView } from "./editor.js";
import { executionsView } from "./executions.js";
import { executionView } from "./execution.js";
import { triggersView } from "./triggers.js";
import { logsView } from "./logs.js";
import { dashboardView } from "./dashboard.js";
import { namespacesView, namespaceView } from "./namespaces.js";

const main = document.getElementById("main");
const header = document.querySelector("header.top");
let user = null;
let cleanup = null; // what the current view must stop (event streams, timers) when left

const routes = [
  [/^\/flows$/, () => flowsView],
  [/^\/flows\/new$/, () => (el, ctx) => editorView(el, ctx, null, null)],
  [/^\/flows\/edit\/([^/]+)\/([^/]+)$/, (m) => (el, ctx) => editorView(el, ctx, decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^\/executions$/, () => executionsView],
  [/^\/executions\/([^/]+)$/, (m) => (el, ctx) => executionView(el, ctx, decodeURIComponent(m[1]))],
  [/^\/dashboard$/, () => dashboardView],
  [/^\/triggers$/, () => triggersView],
  [/^\/logs$/, () => logsView],
  [/^\/namespaces$/, () => namespacesView],
  [/^\/namespaces\/([^/]+)$/, (m) => (el, ctx) => namespaceView(el, ctx, decodeURIComponent(m[1]))],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/flows";
  const [path, query] = raw.split("?");
  return { path, params: new URLSearchParams(query || "") };
}

async function render() {
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  if (!user) return loginView();
  header.hidden = false;
  const { path, params } = parseHash();
  for (const a of document.querySelectorAll("[data-nav]"))
    a.classList.toggle("active", path.startsWith("/" + a.dataset.nav));
  clear(main);
  for (const [re, make] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const ctx = { params, onLeave: (fn) => (cleanup = fn), navigate };
    try {
      await make(m)(main, ctx);
    } catch (e) {
      main.append(h("p.error", { role: "alert" }, e.message));
    }
    return;
  }
  setTitle("Not found");
  main.append(h("h1", "Not found"), h("p", "No page here. ", h("a", { href: "#/flows" }, "Go to the flows.")));
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function loginView() {
  header.hidden = true;
  clear(main);
  setTitle("Log in");
  const err = h("p.error", { role: "alert", hidden: true });
  const name = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form.login", { "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to tern"),
    h("label", { for: "login-user" }, "User"), name,
    h("label", { for: "login-password" }, "Password or API token"), pass,
    h("button", { type: "submit" }, "Log in"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const secret = pass.value;
    const body = secret.startsWith("tern_") && !name.value ? { token: secret } : { username: name.value, password: secret };
    try {
      const s = await api("POST", "/api/v1/session", { json: body, noLoginRedirect: true });
      loggedIn(s);
      render();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      pass.select();
    }
  });
  name.required = false; // an API token needs no user name
  main.append(form);
  name.focus();
}

function loggedIn(s) {
  user = s.username;
  setCsrf(s.csrfToken);
  document.getElementById("who").textContent = user;
}

whenLoggedOut(() => {
  if (!user) return;
  user = null;
  setCsrf(null);
  render();
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("DELETE", "/api/v1/session");
  } finally {
    user = null;
    setCsrf(null);
    render();
  }
});

window.addEventListener("hashchange", render);

(async () => {
  try {
    loggedIn(await api("GET", "/api/v1/session", { noLoginRedirect: true }));
  } catch (e) {
    user = null;
  }
  render();
})();
