#!/usr/bin/env python3
# test-limits.py: what enters an execution is bounded (nesting depth) and one bad execution never
# blocks the others: a real "tern server standalone" over SQLite (or PostgreSQL with --pg), deep
# values sent through the webhook, the API and a task's ::{...}:: line, then unreadable executions
# and events planted straight into the database. TAP output.
import base64, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

from harness import TERN, here, use_pg, ok
import harness

h = harness.Setup("tern-limits-", "limits")
scratch, env, procs, cleanup, db, pg_url = h.scratch, h.env, h.procs, h.cleanup, h.db, h.pg_url
if not use_pg and not shutil.which("sqlite3"):
    cleanup()
    print("1..0 # SKIP no sqlite3 command")
    sys.exit(0)


def sql(statement):
    """Run one statement straight against the store, behind the server's back."""
    if use_pg:
        r = subprocess.run(["psql", pg_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement], capture_output=True,
                           text=True)
    else:
        r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", scratch + "/tern.db", statement],
                           capture_output=True, text=True)
    if r.returncode != 0:
        print("# sql failed: " + r.stderr.strip())
    return r.returncode == 0


def deep(levels):
    return "[" * levels + "]" * levels


port = None


def start_server():
    global port
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(scratch + "/server.log", "a")
    p = subprocess.Popen([TERN, "server", "standalone", "--listen", f"127.0.0.1:{port}", "--workers", "2",
                          "--sandbox", "off", "--db", db], env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if req("GET", "/health", auth=None)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def stop_server():
    p = procs.pop()
    p.send_signal(signal.SIGTERM)
    p.wait(30)


TOKEN = None


def req(method, path, body=None, auth=True, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(headers or {})
    if auth:
        h["Authorization"] = "Bearer " + TOKEN
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    data = body.encode() if isinstance(body, str) else body
    c.request(method, path, body=data, headers=h)
    resp = c.getresponse()
    text = resp.read().decode()
    c.close()
    js = None
    if resp.getheader("Content-Type", "").startswith("application/json"):
        js = json.loads(text)
    return resp.status, js


def wait_state(eid, timeout=60):
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        code, js = req("GET", f"/api/v1/executions/{eid}")
        st = js["state"]["current"] if code == 200 and js else f"HTTP {code}"
        if st in ("SUCCESS", "FAILED", "WARNING", "KILLED", "CANCELLED"):
            return st
        time.sleep(0.05)
    return st


def logs_of(eid):
    code, js = req("GET", f"/api/v1/logs/{eid}")
    return " | ".join(l.get("message", "") for l in js) if code == 200 and isinstance(js, list) else ""


def count(flow):
    code, js = req("GET", f"/api/v1/executions/search?namespace=t.limits&flowId={flow}")
    return js["total"] if code == 200 else -1


FLOW = """id: hook
namespace: t.limits
inputs:
  - id: data
    type: JSON
    required: false
triggers:
  - id: wh
    type: io.kestra.plugin.core.trigger.Webhook
    key: limits-KEY-1
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
"""
PAUSE = """id: pause
namespace: t.limits
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
"""
SHELL = """id: shell
namespace: t.limits
tasks:
  - id: deep
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo '::{"outputs":{"x":%s}}::'
""" % deep(70)

try:
    r = subprocess.run([TERN, "user", "add", "alice", "--db", db], input="pw-limits\n", text=True, env=env,
                       capture_output=True)
    r = subprocess.run([TERN, "token", "create", "alice", "--db", db], text=True, env=env, capture_output=True)
    TOKEN = r.stdout.strip()
    if not ok(start_server(), "the server answers /health"):
        raise SystemExit
    ok(req("POST", "/api/v1/flows", FLOW, headers={"Content-Type": "application/x-yaml"})[0] == 200, "a webhook flow")
    ok(req("POST", "/api/v1/flows", SHELL, headers={"Content-Type": "application/x-yaml"})[0] == 200, "a shell flow")
    ok(req("POST", "/api/v1/flows", PAUSE, headers={"Content-Type": "application/x-yaml"})[0] == 200, "a pause flow")

    # ---- values too deep are refused before anything is stored ----
    code, js = req("POST", "/api/v1/executions/webhook/t.limits/hook/limits-KEY-1", deep(2045), auth=False,
                   headers={"Content-Type": "application/json"})
    ok(code == 422 and "webhook body" in js["message"] and "64" in js["message"],
       f"a webhook body 2,045 levels deep is refused (422: {js and js.get('message')})")
    code, js = req("POST", "/api/v1/executions/webhook/t.limits/hook/limits-KEY-1", deep(65), auth=False,
                   headers={"Content-Type": "application/json"})
    ok(code == 422, "a webhook body 65 levels deep is refused")
    code, js = req("POST", "/api/v1/executions/t.limits/hook", {"data": json.loads(deep(200))})
    ok(code == 422 and "nested more than 64" in js["message"], f"a deep JSON input is refused ({code})")
    code, js = req("POST", "/api/v1/executions/t.limits/hook", {"data": deep(200)})
    ok(code == 422 and "input 'data'" in js["message"],
       f"a JSON input given as text that parses 200 levels deep is refused ({code}: {js and js.get('message')})")
    ok(count("hook") == 0, "none of them created an execution")
    r = subprocess.run([TERN, "execution", "start", "t.limits", "hook", "--inputs-json",
                        json.dumps({"data": json.loads(deep(100))}), "--db", db], env=env, capture_output=True,
                       text=True)
    ok(r.returncode == 1 and "nested more than 64" in r.stderr,
       f"tern execution create refuses a deep JSON input: {r.stderr.strip()}")
    code, js = req("POST", "/api/v1/executions/webhook/t.limits/hook/limits-KEY-1",
                   json.loads(deep(64)), auth=False)
    ok(code == 200 and wait_state(js["id"]) == "SUCCESS", "a webhook body 64 levels deep runs")

    # ---- a task output too deep fails that task, saying why ----
    code, js = req("POST", "/api/v1/executions/t.limits/shell?wait=true", {})
    eid = js["id"] if js else ""
    st = wait_state(eid)
    ok(st == "FAILED" and "nested more than 64" in logs_of(eid),
       f"a ::{{outputs}}:: line 70 levels deep fails its task ({st}: {logs_of(eid)[:200]})")

    # ---- one bad execution never blocks the others ----
    now = int(time.time() * 1e6)
    too_deep = deep(2100)  # beyond what jansson reads back (2048)
    bad_doc = '{"id":"bad-doc","namespace":"t.limits","flowId":"hook","flowRevision":1,"x":%s}' % too_deep
    ok(sql("INSERT INTO executions (id, namespace, flow_id, flow_revision, state, created, updated, doc, version)"
           f" VALUES ('bad-doc', 't.limits', 'hook', 1, 'CREATED', {now}, {now}, '{bad_doc}', 1);"
           "INSERT INTO events (execution_id, type, payload, due_at, created)"
           f" VALUES ('bad-doc', 'created', '{{}}', {now}, {now});"),
       "planted an execution whose document cannot be read back, with a pending event")
    code, good = req("POST", "/api/v1/executions/t.limits/pause", {})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and req("GET", f"/api/v1/executions/{good['id']}")[1]["state"]["current"] != "PAUSED":
        time.sleep(0.05)
    code, js = req("POST", f"/api/v1/executions/{good['id']}/resume", {"x": json.loads(deep(100))})
    ok(code == 422 and "nested more than 64" in js["message"], f"resume inputs too deep are refused ({code})")
    bad_ev = '{"taskRunId":"x","result":%s}' % too_deep
    ok(sql("INSERT INTO events (execution_id, type, payload, due_at, created)"
           f" VALUES ('{good['id']}', 'task_result', '{bad_ev}', {now}, {now});"),
       "planted an unreadable event on a second execution")
    code, js = req("POST", "/api/v1/executions/t.limits/hook?wait=true", {})
    ok(code == 200 and js["state"]["current"] == "SUCCESS", "the next normal execution succeeds")
    ok(wait_state("bad-doc") == "FAILED", "the execution with the unreadable document is FAILED")
    ok("set this execution aside" in logs_of("bad-doc"), "its logs say why: " + logs_of("bad-doc")[:160])
    ok(wait_state(good["id"]) == "FAILED" and "cannot be read back" in logs_of(good["id"]),
       "the paused execution with an unreadable event is FAILED, the reason in its logs")
    code, js = sql("SELECT 1") and req("GET", "/api/v1/executions/search?namespace=t.limits")
    ok(code == 200 and any(d["id"] == "bad-doc" for d in js["results"]), "search answers 200 and shows it")

    # An unreadable document nobody will step (no event): search leaves it out instead of failing.
    sql("INSERT INTO executions (id, namespace, flow_id, flow_revision, state, created, updated, doc, version)"
        f" VALUES ('bad-idle', 't.limits', 'hook', 1, 'SUCCESS', {now}, {now},"
        f" '{bad_doc.replace('bad-doc', 'bad-idle')}', 1);")
    code, js = req("GET", "/api/v1/executions/search?namespace=t.limits")
    ok(code == 200 and not any(d["id"] == "bad-idle" for d in js["results"]) and len(js["results"]) > 0,
       f"search skips an unreadable row and answers 200 ({code})")
    r = subprocess.run([TERN, "execution", "list", "--db", db], env=env, capture_output=True, text=True)
    ok(r.returncode == 0 and "left out" in r.stderr, "tern execution list skips it with a warning")

    # Across a restart: a planted bad execution does not stop the ones after it.
    stop_server()
    sql("INSERT INTO executions (id, namespace, flow_id, flow_revision, state, created, updated, doc, version)"
        f" VALUES ('bad-2', 't.limits', 'hook', 1, 'CREATED', {now}, {now}, '{bad_doc.replace('bad-doc', 'bad-2')}', 1);"
        "INSERT INTO events (execution_id, type, payload, due_at, created)"
        f" VALUES ('bad-2', 'created', '{{}}', {now}, {now});")
    if ok(start_server(), "the server starts again over the planted execution"):
        code, js = req("POST", "/api/v1/executions/t.limits/hook?wait=true", {})
        ok(code == 200 and js["state"]["current"] == "SUCCESS", "after a restart the next execution succeeds")
        ok(wait_state("bad-2") == "FAILED", "and the planted one is FAILED")
    log = open(scratch + "/server.log").read()
    ok("set aside as FAILED" in log, "the executor logged what it set aside")
except SystemExit:
    pass
except Exception as e:
    ok(False, f"the test ran to its end ({e!r})")
finally:
    if harness.failed() and os.path.exists(scratch + "/server.log"):
        for line in open(scratch + "/server.log").read().splitlines()[-40:]:
            print("# " + line)
    cleanup()

harness.done()
