#!/usr/bin/env python3
# test-triggers.py: triggers through the tern command and the webhook URL, on a real "tern server
# standalone --listen": next dates in "tern trigger list", backfills created, paused, resumed and
# deleted, Webhook inputs rendered from trigger.body/headers/parameters, disable/enable, stopAfter, and
# a polling http.Trigger against a small HTTP server of the test's own on loopback.
# TAP output.
import json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, http.client, http.server

TERN = os.environ["TERN"]
n = failed = 0


def ok(cond, what):
    global n, failed
    n += 1
    failed += 0 if cond else 1
    print(("ok" if cond else "not ok") + f" {n} - {what}", flush=True)
    return cond


scratch = tempfile.mkdtemp(prefix="tern-triggers-")
env = dict(os.environ, TERN_STATE_DIR=scratch + "/state")
db = "sqlite://" + scratch + "/tern.db"
server = None


def tern(*args, input=None):
    return subprocess.run([TERN, *args, "--db", db], env=env, capture_output=True, text=True, input=input,
                          timeout=60)


def hook(path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else b""
    h = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    h.update(headers or {})
    c.request("POST", "/api/v1/executions/webhook/" + path, body=data, headers=h)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def until(cond, timeout=30):
    """Poll cond() until it is true or timeout seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


def trigger_row(flow, trigger):
    r = tern("trigger", "list", "--namespace", "t.hook", "-o", "json")
    rows = json.loads(r.stdout or "[]") if r.returncode == 0 else []
    return next((t for t in rows if t["flowId"] == flow and t["triggerId"] == trigger), None)


FLOWS = """id: hook
namespace: t.hook
inputs:
  - id: who
    type: STRING
  - id: tag
    type: STRING
  - id: n
    type: INT
  - id: plain
    type: STRING
tasks:
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.who }}/{{ inputs.tag }}/{{ inputs.n + 1 }}/{{ inputs.plain }}"
triggers:
  - id: web
    type: io.kestra.plugin.core.trigger.Webhook
    key: k-123
    wait: true
    inputs:
      who: "{{ trigger.body.name }}"
      tag: "{{ trigger.headers['X-Tag'][0] }}"
      n: "{{ trigger.parameters.n[0] }}"
      plain: no expression here
---
id: bad
namespace: t.hook
tasks:
  - id: out
    type: io.kestra.plugin.core.log.Log
    message: never
triggers:
  - id: web
    type: io.kestra.plugin.core.trigger.Webhook
    key: k-bad
    inputs:
      x: "{{ trigger.body.missing.deeper }}"
---
id: stop
namespace: t.hook
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
triggers:
  - id: web
    type: io.kestra.plugin.core.trigger.Webhook
    key: k-stop
    wait: true
    stopAfter: [FAILED]
---
id: daily
namespace: t.hook
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.date }}"
triggers:
  - id: midnight
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 0 * * *"
    timezone: Europe/Paris
"""


# ---- the HTTP endpoint an http.Trigger polls: 503 until told to be ready ----
polled = {"status": 503, "body": '{"state":"starting"}', "requests": []}


class Endpoint(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        polled["requests"].append({"method": self.command, "path": self.path, "token": self.headers.get("X-Token"),
                                   "body": self.rfile.read(length).decode() if length else ""})
        data = polled["body"].encode()
        self.send_response(polled["status"])
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Poll", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
threading.Thread(target=endpoint.serve_forever, daemon=True).start()
FLOWS += f"""---
id: poll
namespace: t.hook
tasks:
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.code }}}} {{{{ trigger.body }}}} {{{{ trigger.headers['x-poll'][0] }}}}"
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: "http://127.0.0.1:{endpoint.server_address[1]}/status?flow={{{{ flow.id }}}}"
    method: POST
    body: '{{"ask": "ready?"}}'
    headers:
      X-Token: "token-{{{{ flow.namespace }}}}"
    interval: PT1S
    responseCondition: "{{{{ response.statusCode == 200 and (response.body contains 'ready') }}}}"
    stopAfter: [SUCCESS]
"""


def executions(flow, limit=100000):
    r = tern("execution", "list", "--namespace", "t.hook", "--flow", flow, "--limit", str(limit), "-o", "json")
    return json.loads(r.stdout or "{}").get("results", [])


def count(flow):
    return len(executions(flow))


def steady(flow, secs=1.0):
    """The execution count of flow once it stopped moving for secs (None: it kept moving for 20 s)."""
    deadline = time.monotonic() + 20
    last, since = count(flow), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        c = count(flow)
        if c != last:
            last, since = c, time.monotonic()
        elif time.monotonic() - since >= secs:
            return c
    return None

try:
    for i, src in enumerate(FLOWS.split("---\n")):
        with open(f"{scratch}/f{i}.yaml", "w") as f:
            f.write(src)
    r = tern("flow", "apply", scratch)
    if r.returncode != 0:
        print(f"Bail out! tern flow apply: {r.stderr.strip()}")
        sys.exit(1)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(scratch + "/server.log", "w")
    server = subprocess.Popen([TERN, "server", "standalone", "--listen", f"127.0.0.1:{port}", "--workers", "2",
                               "--db", db], env=env, stdout=log, stderr=subprocess.STDOUT)

    def up():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            return c.getresponse().status == 200
        except OSError:
            return False
    if not until(up, 60):
        print("Bail out! the server did not come up")
        sys.exit(1)

    # ---- next date, backfills ----
    row = until(lambda: trigger_row("daily", "midnight"))
    nxt = (row or {}).get("nextExecutionDate") or ""
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    ok(row and row["kind"] == "schedule" and nxt > now and nxt[11:19] in ("22:00:00", "23:00:00"),
       f"tern trigger list shows the next date: midnight in Paris ({nxt})")
    r = tern("trigger", "list", "--namespace", "t.hook")
    ok(any(line.split()[:3] == ["t.hook", "daily", "midnight"] and nxt[:19] in line for line in r.stdout.splitlines()),
       "the table shows it too")
    r = tern("backfill", "pause", "t.hook", "daily", "midnight")
    ok(r.returncode == 1 and "no backfill" in r.stderr, "pausing a backfill that does not exist fails, saying so")
    r = tern("backfill", "create", "t.hook", "daily", "midnight", "--start", "2020-01-01T00:00:00Z",
             "--end", "2024-01-01T00:00:00Z", "--label", "why=test")
    ok(r.returncode == 0, f"tern backfill create ({r.stderr.strip()})")
    r = tern("backfill", "create", "t.hook", "daily", "midnight", "--start", "2020-01-01T00:00:00Z")
    ok(r.returncode == 1 and "already has a backfill" in r.stderr, "a second backfill is refused")
    ok(until(lambda: count("daily") >= 3), "the backfill starts executions")
    row = trigger_row("daily", "midnight")
    ok(row and (row.get("backfill") or {}).get("start", 0) > 0 and row["disabled"] is False,
       "tern trigger list shows the backfill")
    r = tern("backfill", "pause", "t.hook", "daily", "midnight")
    ok(r.returncode == 0, "tern backfill pause")
    paused = steady("daily")
    ok(paused is not None and 3 <= paused < 1461, f"paused, it starts nothing more ({paused} of 1461 slots)")
    r = tern("backfill", "resume", "t.hook", "daily", "midnight")
    ok(r.returncode == 0 and until(lambda: count("daily") > (paused or 0) + 2), "resumed, it goes on")
    r = tern("backfill", "delete", "t.hook", "daily", "midnight")
    ok(r.returncode == 0, "tern backfill delete")
    left = steady("daily")
    row = trigger_row("daily", "midnight")
    ok(left is not None and left < 1461 and row and not row.get("backfill"),
       f"deleted, it stops and is gone from the trigger ({left} ran)")
    doc = (executions("daily", 1) or [{}])[0]
    labels = {l["key"]: l["value"] for l in doc.get("labels", [])}
    ok(labels.get("why") == "test" and labels.get("system.backfill") == "true",
       f"backfill executions carry its labels and system.backfill ({labels})")

    # ---- webhooks ----
    st, js = hook("t.hook/hook/k-123?n=41", {"name": "zed"}, {"X-Tag": "t1"})
    ok(st == 200 and js["state"]["current"] == "SUCCESS", f"the webhook starts the flow and waits for its end ({st})")
    # The webhook answers id and state only: the rest through the tern command.
    r = tern("execution", "show", js["id"], "-o", "json") if st == 200 else None
    js = json.loads(r.stdout) if r and r.returncode == 0 else {}
    ok(isinstance(js, dict) and js.get("inputs") == {"who": "zed", "tag": "t1", "n": 41, "plain": "no expression here"},
       f"its inputs are rendered from trigger.body, .headers and .parameters ({js.get('inputs') if isinstance(js, dict) else js})")
    out = {t["taskId"]: t for t in js.get("taskRunList", [])}.get("out", {}) if isinstance(js, dict) else {}
    ok(out.get("outputs", {}).get("value") == "zed/t1/42/no expression here",
       "the execution ran with them (an INT input converted)")

    st, js = hook("t.hook/bad/k-bad", {"name": "zed"})
    ok(st == 422 and "missing" in json.dumps(js), f"an input expression that fails: 422 saying why ({st} {js})")
    ok(executions("bad") == [], "and no execution")

    ok(until(lambda: trigger_row("hook", "web")) is not None, "the scheduler registered the webhook trigger")
    r = tern("trigger", "disable", "t.hook", "hook", "web")
    ok(r.returncode == 0, "tern trigger disable")
    st, _ = hook("t.hook/hook/k-123?n=1", {"name": "a"}, {"X-Tag": "t"})
    ok(st == 404, f"a disabled webhook answers 404 ({st})")
    r = tern("trigger", "enable", "t.hook", "hook", "web")
    st, _ = hook("t.hook/hook/k-123?n=1", {"name": "a"}, {"X-Tag": "t"})
    ok(r.returncode == 0 and st == 200, f"enabled again, it starts the flow ({st})")

    ok(until(lambda: trigger_row("stop", "web")) is not None, "the stopAfter webhook is registered")
    st, js = hook("t.hook/stop/k-stop", {})
    ok(st == 200 and js["state"]["current"] == "FAILED", "its execution failed")
    row = until(lambda: (lambda t: t if t and t["disabled"] else None)(trigger_row("stop", "web")))
    ok(row is not None and (row.get("stoppedAfter") or {}).get("state") == "FAILED",
       f"stopAfter [FAILED] disabled the trigger ({row})")
    r = tern("trigger", "list", "--namespace", "t.hook")
    ok(any(" stop " in line and "stopped" in line for line in r.stdout.splitlines()),
       "tern trigger list shows it stopped")
    st, _ = hook("t.hook/stop/k-stop", {})
    ok(st == 404, f"a stopped webhook answers 404 ({st})")
    ok(len(executions("stop")) == 1, "one execution of the stopped flow")

    # ---- a polling http.Trigger ----
    row = until(lambda: trigger_row("poll", "http"))
    ok(row is not None and row["kind"] == "poll", f"the http.Trigger is registered, of kind poll ({row})")
    ok(until(lambda: len(polled["requests"]) >= 2, 20), f"it polls every interval ({len(polled['requests'])} requests)")
    req = polled["requests"][0] if polled["requests"] else {}
    ok(req.get("method") == "POST" and req.get("path") == "/status?flow=poll" and req.get("token") == "token-t.hook"
       and req.get("body") == '{"ask": "ready?"}',
       f"with its method, rendered uri and headers, and body ({req})")
    ok(count("poll") == 0, "a 503 answer does not satisfy responseCondition: no execution")
    polled["body"] = '{"state":"ready"}'
    polled["status"] = 200
    ok(until(lambda: count("poll") >= 1, 20), "once the endpoint answers 200 ready, an execution starts")
    doc = (executions("poll", 1) or [{}])[0]
    r = tern("execution", "show", doc.get("id", "none"), "-o", "json")
    js = json.loads(r.stdout) if r.returncode == 0 else {}
    trig = js.get("trigger") or {}
    ok(trig.get("id") == "http" and (trig.get("variables") or {}).get("code") == 200,
       f"its trigger is the http.Trigger, trigger.code the status ({trig})")
    js = until(lambda: (lambda j: j if (j.get("state") or {}).get("current") == "SUCCESS" else None)(
        json.loads(tern("execution", "show", doc.get("id", "none"), "-o", "json").stdout or "{}")), 30) or {}
    out = {t["taskId"]: t for t in js.get("taskRunList", [])}.get("out", {})
    ok(out.get("outputs", {}).get("value") == '200 {"state":"ready"} yes',
       f"trigger.code, trigger.body and trigger.headers reach the tasks ({out.get('outputs')})")
    row = until(lambda: (lambda t: t if t and t["disabled"] else None)(trigger_row("poll", "http")))
    ok(row is not None and (row.get("stoppedAfter") or {}).get("state") == "SUCCESS",
       "stopAfter [SUCCESS] disabled it after its execution succeeded")
    ok(steady("poll") == 1, "and it starts nothing more, though the endpoint still answers ready")
finally:
    endpoint.shutdown()
    if server and server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    if failed:
        try:
            sys.stderr.write(open(scratch + "/server.log").read()[-4000:])
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)

print(f"1..{n}")
sys.exit(1 if failed else 0)
