#!/usr/bin/env python3
# test-db-unreachable.py: what the webserver and the CLI answer while PostgreSQL is down, and that what waited goes through once it is back (TAP).
# A throwaway cluster (tests/store/pg-cluster.sh) is halted under a running webserver. Then: an
# open route (a webhook) and an authenticated one answer 503 with Retry-After and a message saying
# the database is unreachable, after the store's reconnect timeout (30 s), not 500; a CLI write
# gives up after as long, saying that the database did not answer for 30 s. A CLI write and an API
# write issued while it is down, with the cluster back 3 s later, succeed, each with one execution.
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
TERN = os.environ["TERN"]
CLUSTER = os.path.join(here, "..", "store", "pg-cluster.sh")
NS = "test.dblost"

n_tests = failed = 0


def ok(cond, what):
    global n_tests, failed
    n_tests += 1
    print(("ok" if cond else "not ok") + f" {n_tests} - {what}", flush=True)
    if not cond:
        failed += 1
    return cond


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


r = subprocess.run([CLUSTER, "start"], capture_output=True, text=True)
if r.returncode == 77:
    print("1..0 # SKIP no PostgreSQL server binaries")
    sys.exit(0)
if r.returncode != 0:
    print("Bail out! cannot start PostgreSQL: " + r.stderr.strip().replace("\n", " | "))
    sys.exit(1)
URL, cluster_dir = r.stdout.split()[:2]

scratch = tempfile.mkdtemp(prefix="tern-dblost-")
web = None


def cleanup():
    if web and web.poll() is None:
        web.kill()
        web.wait()
    subprocess.run([CLUSTER, "stop", cluster_dir], capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)


signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
signal.signal(signal.SIGINT, lambda signo, frame: sys.exit(128 + signo))

env = dict(os.environ, TERN_STATE_DIR=scratch + "/state", TERN_CONFIG=scratch + "/tern.conf",
           TERN_SERVER_RUNTIME_DIR=scratch + "/run")
# Nobody is declared dead while the database is away (about 35 s here; the default is 30 s).
with open(scratch + "/tern.conf", "w") as f:
    f.write("[liveness]\ndead-after = 120s\n")


def tern(*args, timeout=120, **kw):
    return subprocess.run([TERN, *args, "--db", URL], capture_output=True, text=True, env=env, timeout=timeout, **kw)


def psql(sql):
    r = subprocess.run(["psql", URL, "-qtAc", sql], capture_output=True, text=True, timeout=60)
    return r.stdout.strip() if r.returncode == 0 else None


try:
    r = tern("db", "migrate")
    if not ok(r.returncode == 0, "schema migrated"):
        diag(r.stderr)
    with open(scratch + "/hook.yaml", "w") as f:
        f.write(f"""id: hook
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: wh
    type: io.kestra.plugin.core.trigger.Webhook
    key: k1
""")
    r = tern("flow", "apply", scratch + "/hook.yaml")
    r2 = tern("user", "add", "ops", input="unreachable-password\n")
    r3 = tern("token", "create", "ops")
    TOKEN = r3.stdout.strip()
    if not ok(r.returncode == 0 and r2.returncode == 0 and r3.returncode == 0 and TOKEN, "a flow, a user and a token"):
        diag(r.stderr + r2.stderr + r3.stderr)

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    PORT = s.getsockname()[1]
    s.close()
    log = open(scratch + "/webserver.log", "w")
    web = subprocess.Popen([TERN, "server", "webserver", "--listen", f"127.0.0.1:{PORT}", "--ui-dir", "", "--db", URL],
                           env=env, stdout=log, stderr=subprocess.STDOUT)

    def request(method, path, body=None, auth=True):
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=90)
        try:
            headers = {"Content-Type": "application/json"}
            if auth:
                headers["Authorization"] = "Bearer " + TOKEN
            c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
            resp = c.getresponse()
            text = resp.read().decode(errors="replace")
            try:
                js = json.loads(text)
            except ValueError:
                js = text
            return resp.status, resp.getheader("Retry-After"), js
        except OSError as e:
            return 0, None, str(e)
        finally:
            c.close()

    HOOK = f"/api/v1/executions/webhook/{NS}/hook/k1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st, _, js = request("GET", f"/api/v1/flows/{NS}/hook")
        if st == 200:
            break
        time.sleep(0.2)
    ok(st == 200, f"the webserver answers ({st})")

    r = subprocess.run([CLUSTER, "halt", cluster_dir], capture_output=True, text=True)
    ok(r.returncode == 0, "PostgreSQL is stopped under the webserver")

    # Three at once, each waiting out the reconnect timeout: an open route, an authenticated one, the CLI.
    got = {}

    def run(key, fn):
        t0 = time.monotonic()
        got[key] = (fn(), time.monotonic() - t0)

    threads = [threading.Thread(target=run, args=("hook", lambda: request("GET", HOOK, auth=False))),
               threading.Thread(target=run, args=("api", lambda: request("POST", f"/api/v1/executions/{NS}/hook", {}))),
               threading.Thread(target=run, args=("cli", lambda: tern("execution", "start", NS, "hook")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, what in (("hook", "a webhook (open route)"), ("api", "an authenticated API write")):
        (st, retry, js), took = got[key]
        message = js.get("message", "") if isinstance(js, dict) else str(js)
        if not ok(st == 503 and retry == "5" and "database is unreachable" in message,
                  f"{what} with the database down: 503, Retry-After: 5, 'database is unreachable' "
                  f"({st}, {retry}, after {took:.0f} s)"):
            diag(f"{st} {retry} {js}")
    r, took = got["cli"]
    if not ok(r.returncode == 1 and "did not answer for 30 s" in r.stderr and took >= 25,
              f"'tern execution start' gives up after {took:.0f} s saying the database did not answer for 30 s"):
        diag(r.stderr)

    # Issued while it is down, back 3 s later: they wait, then go through, once each.
    threads = [threading.Thread(target=run, args=("api2", lambda: request("POST", f"/api/v1/executions/{NS}/hook", {}))),
               threading.Thread(target=run, args=("cli2", lambda: tern("execution", "start", NS, "hook")))]
    for t in threads:
        t.start()
    time.sleep(3)
    r = subprocess.run([CLUSTER, "resume", cluster_dir], capture_output=True, text=True)
    ok(r.returncode == 0, "PostgreSQL is back 3 s later")
    for t in threads:
        t.join()
    (st, _, js), took = got["api2"]
    api_id = js.get("id") if isinstance(js, dict) else None
    if not ok(st == 200 and api_id, f"an API execution issued with the database down is created once it is back "
                                    f"({st}, after {took:.0f} s)"):
        diag(js)
    r, took = got["cli2"]
    cli_id = r.stdout.strip()
    if not ok(r.returncode == 0 and cli_id, f"a 'tern execution start' issued with the database down succeeds once "
                                            f"it is back (after {took:.0f} s)"):
        diag(r.stderr)
    rows = (psql(f"SELECT id FROM executions WHERE flow_id = 'hook'") or "").split()
    ok(sorted(rows) == sorted(x for x in (api_id, cli_id) if x),
       f"one execution each, none from the writes that gave up ({len(rows)} stored)")
    st, retry, js = request("GET", HOOK, auth=False)
    ok(st == 200 and retry is None, f"the webhook answers 200 again ({st})")

    web.send_signal(signal.SIGTERM)
    try:
        rc = web.wait(60)
    except subprocess.TimeoutExpired:
        rc = "hung"
    ok(rc == 0, f"the webserver stops cleanly ({rc})")
    with open(scratch + "/webserver.log", errors="replace") as f:
        text = f.read()
    if not ok("Sanitizer" not in text and "runtime error:" not in text, "no sanitizer report"):
        diag(text[-3000:])
finally:
    cleanup()

print(f"1..{n_tests}")
sys.exit(1 if failed else 0)
