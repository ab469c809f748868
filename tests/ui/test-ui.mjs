// test-ui.mjs: the web UI in a real browser (Debian's chromium, headless, driven by playwright-core)
// against a real "tern server standalone": log in, write a flow with an error and see it on its
// line, fix and save, execute with inputs and a FILE, watch the Gantt reach SUCCESS, open a task's
// logs, see markup in a log line stay text, kill a running execution, refuse a state change
// without the CSRF token. TAP output; a screenshot per step in $TERN_UI_SHOTS.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const { TERN, TERN_UI_DIR, TERN_UI_SHOTS, TERN_UI_NODE_DIR } = process.env;
const CHROMIUM = process.env.TERN_UI_CHROMIUM || "/usr/bin/chromium";
const require = createRequire(path.join(TERN_UI_NODE_DIR, "node_modules", "x.js"));
const { chromium } = require("playwright-core");

let n = 0, failed = 0;
function ok(cond, what, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? "ok" : "not ok"} ${n} - ${what}`);
  if (!cond && detail) console.log(`# ${String(detail).split("\n").join("\n# ")}`);
  return cond;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "tern-ui-"));
fs.mkdirSync(TERN_UI_SHOTS, { recursive: true });
const env = { ...process.env, TERN_STATE_DIR: path.join(scratch, "state") };
const db = `sqlite://${scratch}/tern.db`;
const PASSWORD = "ui-test-password-3b1";
let server = null, context = null;

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// A GET of a raw path, as sent (fetch() would normalize "..").
function rawGet(port, rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: rawPath, method: "GET" }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on("error", reject);
    req.end();
  });
}

async function cleanup() {
  if (context) await context.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => { const t = setTimeout(() => { server.kill("SIGKILL"); r(); }, 30000); server.on("exit", () => { clearTimeout(t); r(); }); });
  }
  fs.rmSync(scratch, { recursive: true, force: true });
}

const FLOW = (type) => `id: greet
namespace: t.ui
inputs:
  - id: who
    type: STRING
  - id: doc
    type: FILE
tasks:
  - id: hello
    type: ${type}
    message: "Hello {{ inputs.who }}"
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "file {{ inputs.doc }}"
`;
const BAD_LINE = 10; // the line of "type:" in the first task
const SLEEPY = `id: sleepy
namespace: t.ui
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 60
`;
const MARKUP = `<script>window.pwned = 1</script><b id="injected">bold</b>`;

try {
  const r = spawnSync(TERN, ["user", "add", "alice", "--db", db], { input: PASSWORD + "\n", env, encoding: "utf8" });
  if (!ok(r.status === 0, "a user to log in with", r.stderr)) throw new Error("no user");
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(scratch, "server.log"), "w");
  // Shell tasks as plain processes: the sandbox has tests of its own.
  server = spawn(TERN, ["server", "standalone", "--listen", `127.0.0.1:${port}`, "--workers", "2", "--sandbox", "off",
                        "--db", db, "--ui-dir", TERN_UI_DIR], { env, stdio: ["ignore", log, log] });
  let up = false;
  for (const deadline = Date.now() + 60000; Date.now() < deadline && server.exitCode === null;) {
    try { if ((await fetch(`${base}/health`)).ok) { up = true; break; } } catch (e) { /* not yet */ }
    await new Promise((res) => setTimeout(res, 100));
  }
  if (!ok(up, "the server answers /health", fs.readFileSync(path.join(scratch, "server.log"), "utf8"))) throw new Error("no server");

  // ---- static files, over plain HTTP ----
  let resp = await fetch(`${base}/`);
  const csp = resp.headers.get("content-security-policy") || "";
  ok(resp.status === 200 && resp.headers.get("content-type").startsWith("text/html") && csp.includes("script-src 'self'") &&
     !csp.includes("unsafe-inline"), "/ is the UI's page, with a Content-Security-Policy that allows no inline script");
  resp = await fetch(`${base}/js/app.js`);
  const etag = resp.headers.get("etag");
  ok(resp.status === 200 && resp.headers.get("content-type").startsWith("text/javascript") && etag &&
     resp.headers.get("cache-control") === "no-cache", "a module is text/javascript with an ETag, revalidated each time");
  resp = await fetch(`${base}/js/app.js`, { headers: { "If-None-Match": etag } });
  ok(resp.status === 304, "an unchanged file is 304 Not Modified");
  for (const p of ["/js/../../etc/passwd", "/%2e%2e/etc/passwd", "/js/%2e%2e/index.html"])
    ok(await rawGet(port, p) === 400, `${p} is refused (400)`);
  for (const p of ["/vendor/codemirror/codemirror.js", "/vendor/jquery/jquery.js", "/api/v1/index.html", "/meson.build",
                   "/js/nothing.js"])
    ok((await fetch(`${base}${p}`)).status === 401, `${p} is not a file served without credentials`);
  const haveCM = (await fetch(`${base}/vendor/codemirror/lib/codemirror.js`)).status === 200;

  // ---- the browser ----
  context = await chromium.launchPersistentContext(path.join(scratch, "profile"), {
    executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu"],
    viewport: { width: 1280, height: 800 }, timezoneId: "Europe/Paris",
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  // API answers of 4xx are expected (a wrong password, an invalid flow, the CSRF checks); anything
  // else, a CSP violation above all, is not.
  page.on("console", (m) => { if (m.type() === "error" && !/^Failed to load resource: .* status of 4\d\d/.test(m.text())) problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("dialog", (d) => d.accept());
  const shot = async (name) => page.screenshot({ path: path.join(TERN_UI_SHOTS, `${name}.png`), fullPage: false });
  const step = async (what, fn) => {
    try { return ok(await fn(), what); } catch (e) { await shot(`failed-${n + 1}`).catch(() => {}); return ok(false, what, e.stack || e); }
  };

  // Log in.
  await page.goto(base + "/");
  await step("the login page shows first", async () => { await page.locator("#login-user").waitFor({ timeout: 15000 }); await shot("01-login"); return true; });
  await page.fill("#login-user", "alice");
  await page.fill("#login-password", "wrong");
  await page.click("form.login button[type=submit]");
  await step("a wrong password is refused on the page", async () => {
    await page.locator("form.login .error:not([hidden])").waitFor({ timeout: 15000 });
    return /wrong user name or password/.test(await page.locator("form.login .error").textContent());
  });
  await page.fill("#login-password", PASSWORD);
  await page.click("form.login button[type=submit]");
  await step("logging in shows the flows", async () => {
    await page.locator("h1", { hasText: "Flows" }).waitFor({ timeout: 15000 });
    await shot("02-flows-empty");
    return (await page.locator("#who").textContent()) === "alice";
  });
  const cookies = await context.cookies(base);
  const sc = cookies.find((c) => c.name === "tern_session");
  ok(sc && sc.httpOnly && sc.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");

  // A new flow, with an error typed in, seen on its line.
  await page.goto(base + "/#/flows/new");
  await page.locator(".CodeMirror, textarea.source").first().waitFor();
  const setSource = async (src) => page.evaluate((s) => {
    const cm = document.querySelector(".CodeMirror");
    if (cm) cm.CodeMirror.setValue(s); else { const ta = document.querySelector("textarea.source"); ta.value = s; ta.dispatchEvent(new Event("input")); }
  }, src);
  await setSource(FLOW("io.kestra.plugin.core.log.Log"));
  await step("the valid flow is reported valid", async () => {
    await page.locator(".status[data-valid=true]").waitFor({ timeout: 15000 });
    return true;
  });
  ok(haveCM === (await page.locator(".CodeMirror").count() === 1), haveCM ? "the editor is CodeMirror (libjs-codemirror)" : "without libjs-codemirror the editor is a textarea");
  // Type the mistake: at the end of the task type's line.
  if (haveCM) {
    await page.evaluate((line) => { const cm = document.querySelector(".CodeMirror").CodeMirror; cm.focus(); cm.setCursor({ line: line - 1, ch: 1000 }); }, BAD_LINE);
  } else {
    await page.evaluate((line) => {
      const ta = document.querySelector("textarea.source");
      const pos = ta.value.split("\n").slice(0, line).join("\n").length;
      ta.focus(); ta.setSelectionRange(pos, pos);
    }, BAD_LINE);
  }
  await page.keyboard.type("x", { delay: 50 });
  await step(`the error shows on line ${BAD_LINE} as you type`, async () => {
    await page.locator(`ul.errors li[data-line="${BAD_LINE}"]`).waitFor({ timeout: 15000 });
    const listed = await page.locator("ul.errors li").first().textContent();
    let onLine = true;
    if (haveCM) {
      onLine = await page.evaluate(() => {
        const marker = document.querySelector(".CodeMirror .err-marker");
        const lineDiv = marker && marker.closest(".CodeMirror-code > div");
        const widget = lineDiv && lineDiv.querySelector(".err-widget");
        return lineDiv ? { n: lineDiv.querySelector(".CodeMirror-linenumber").textContent, w: widget && widget.textContent } : null;
      });
      onLine = onLine && onLine.n === String(BAD_LINE) && /unknown task type/.test(onLine.w);
    }
    await shot("03-editor-error");
    return onLine && /unknown task type 'io\.kestra\.plugin\.core\.log\.Logx'/.test(listed);
  });
  await page.click("#save");
  await step("a flow with an error is not saved", async () => {
    await page.locator(".status", { hasText: "Not saved" }).waitFor({ timeout: 15000 });
    return (await fetch(`${base}/api/v1/flows/t.ui/greet`, { headers: { Authorization: "Basic " + btoa("alice:" + PASSWORD) } })).status === 404;
  });
  // Fix it (the same way) and save.
  if (haveCM) await page.evaluate(() => document.querySelector(".CodeMirror").CodeMirror.focus());
  else await page.focus("textarea.source");
  await page.keyboard.press("Backspace");
  await step("fixing it clears the error", async () => {
    await page.locator(".status[data-valid=true]").waitFor({ timeout: 15000 });
    return (await page.locator("ul.errors li").count()) === 0 && (await page.locator(".CodeMirror .err-widget").count()) === 0;
  });
  await page.click("#save");
  await step("saving makes revision 1 and opens the flow", async () => {
    await page.waitForURL(/#\/flows\/edit\/t\.ui\/greet$/, { timeout: 15000 });
    await page.locator(".bar .muted", { hasText: "revision 1" }).waitFor({ timeout: 15000 });
    return true;
  });

  // Execute it with a STRING holding markup and a FILE.
  await page.click("#execute");
  await page.fill("#input-who", MARKUP);
  const upload = path.join(scratch, "upload.txt");
  fs.writeFileSync(upload, "uploaded through the browser\n");
  await page.setInputFiles("#input-doc", upload);
  await shot("04-execute-form");
  await page.click("#execute-submit");
  await step("executing opens the execution", async () => { await page.waitForURL(/#\/executions\/[A-Za-z0-9]+$/, { timeout: 15000 }); return true; });
  await step("the Gantt reaches SUCCESS, live", async () => {
    await page.locator("#ex-state .state[data-state=SUCCESS]").waitFor({ timeout: 60000 });
    await page.locator('svg.gantt g.row[data-state="SUCCESS"]').nth(1).waitFor({ timeout: 15000 });
    await shot("05-gantt-success");
    return (await page.locator("svg.gantt g.row").count()) === 2 &&
           (await page.locator('svg.gantt g.row:not([data-state="SUCCESS"])').count()) === 0;
  });
  // A task's logs: choose its bar.
  await page.locator('svg.gantt g.row[data-task="hello"]').click();
  await step("choosing a task run shows its logs only", async () => {
    await page.locator(".logs .line").first().waitFor({ timeout: 15000 });
    const tasks = await page.locator(".logs .line .task").allTextContents();
    return tasks.length >= 1 && tasks.every((t) => t === "hello") && (await page.locator("#log-task").inputValue()) !== "";
  });
  await step("a log line with <script> shows as text and runs nothing", async () => {
    const text = await page.locator(".logs .line .msg").first().textContent();
    const pwned = await page.evaluate(() => window.pwned);
    await shot("06-logs-markup");
    return text.includes(MARKUP) && pwned === undefined && (await page.locator("#injected").count()) === 0 &&
           (await page.locator(".logs script").count()) === 0;
  });
  await page.click("#tab-inputs");
  await step("the FILE input is a download link to what was uploaded", async () => {
    const link = page.locator("#panel-inputs a[href*='/file?path=']");
    await link.waitFor({ timeout: 10000 });
    const href = await link.getAttribute("href");
    const body = await page.evaluate(async (u) => (await fetch(u)).text(), href);
    return body === "uploaded through the browser\n";
  });
  await page.click("#tab-history");
  ok((await page.locator("#panel-history tbody tr").count()) >= 3, "the state history lists CREATED, RUNNING, SUCCESS");

  // Kill a running execution.
  await page.goto(base + "/#/flows/new");
  await page.locator(".CodeMirror, textarea.source").first().waitFor();
  await setSource(SLEEPY);
  await page.locator(".status[data-valid=true]").waitFor({ timeout: 15000 });
  await page.click("#save");
  await page.waitForURL(/#\/flows\/edit\/t\.ui\/sleepy$/, { timeout: 15000 });
  await page.locator("#execute:not([disabled])").click();
  await page.click("#execute-submit");
  await page.waitForURL(/#\/executions\/[A-Za-z0-9]+$/, { timeout: 15000 });
  await step("the long task runs", async () => {
    await page.locator("#ex-state .state[data-state=RUNNING]").waitFor({ timeout: 30000 });
    await page.locator('svg.gantt g.row[data-task="nap"]').waitFor({ timeout: 30000 });
    return true;
  });
  await page.click("button[data-action=kill]");
  await step("Kill ends it: KILLED, live", async () => {
    await page.locator("#ex-state .state[data-state=KILLED]").waitFor({ timeout: 30000 });
    await shot("07-killed");
    return (await page.locator("button[data-action=kill]").count()) === 0;
  });

  // The executions list, filtered.
  await page.goto(base + "/#/executions?flowId=greet");
  await step("the executions list filters by flow", async () => {
    await page.locator("table.grid tbody tr").first().waitFor({ timeout: 15000 });
    await shot("08-executions");
    const flows = await page.locator("table.grid tbody tr td:nth-child(3)").allTextContents();
    return flows.length === 1 && flows[0] === "greet";
  });

  // CSRF: the cookie alone does not change anything.
  const csrf = await page.evaluate(async () => {
    const noToken = await fetch("/api/v1/flows/t.ui/sleepy", { method: "DELETE", credentials: "same-origin" });
    const still = await fetch("/api/v1/flows/t.ui/sleepy", { credentials: "same-origin" });
    const s = await (await fetch("/api/v1/session", { credentials: "same-origin" })).json();
    const wrong = await fetch("/api/v1/flows/t.ui/sleepy", { method: "DELETE", headers: { "X-CSRF-Token": "0".repeat(64) } });
    const right = await fetch("/api/v1/flows/t.ui/sleepy", { method: "DELETE", headers: { "X-CSRF-Token": s.csrfToken } });
    return [noToken.status, still.status, wrong.status, right.status];
  });
  ok(csrf[0] === 403 && csrf[1] === 200 && csrf[2] === 403, "a state change with the cookie but without the CSRF token is refused (403)", csrf);
  ok(csrf[3] === 204, "with the token it goes through", csrf);

  // Light and dark.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(base + "/#/flows");
  await page.locator("table.grid").waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot("09-flows-dark");
  ok(bg === "rgb(20, 22, 28)", "prefers-color-scheme: dark gives the dark theme", bg);
  await page.emulateMedia({ colorScheme: "light" });

  // Log out: the cookie no longer works.
  await page.click("#logout");
  await step("logging out shows the login page and ends the session", async () => {
    await page.locator("#login-user").waitFor({ timeout: 15000 });
    const st = await fetch(`${base}/api/v1/flows/search`, { headers: { Cookie: `tern_session=${sc.value}` } });
    return st.status === 401;
  });
  ok(problems.length === 0, "no script errors or CSP violations in the console", problems.join("\n"));
} catch (e) {
  ok(false, "the test ran to its end", e.stack || e);
} finally {
  await cleanup();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
