#!/usr/bin/env python3
# test-pg-failover.py: a PostgreSQL primary crashes under every component and its synchronous standby is promoted (TAP).
# The pair is tests/store/pg-standby.sh's; the executor, a worker, the scheduler and the webserver
# run as separate processes on the multi-host URL (postgresql://primary,standby/...?
# target_session_attrs=read-write). Executions are submitted through the CLI and the API about
# three times a second; a few seconds in, the primary is killed (-m immediate) with tasks running,
# and the standby is promoted 2 s later. Then: every acknowledged submission exists on the new
# primary and succeeded, no task ran twice under one attempt or more often than its attempts,
# every component is healthy without a restart, the scheduler still fires, the webserver answers,
# and each daemon stops cleanly. Also: a URL that names the standby first reaches the primary, and
# a CLI command connected to the standby itself (target_session_attrs=any) waits out its
# "read-only transaction" errors until the promotion instead of failing. Writes issued while there
# is no primary (executions through the CLI and the API, a flow apply, a kv write) wait for the
# promotion and succeed, and none creates its execution twice.
import http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
TERN = os.environ["TERN"]
PAIR = os.path.join(here, "..", "store", "pg-standby.sh")
NS = "test.failover"

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


r = subprocess.run([PAIR, "start"], capture_output=True, text=True)
if r.returncode == 77:
    print("1..0 # SKIP no PostgreSQL server binaries (initdb, pg_basebackup)")
    sys.exit(0)
if r.returncode != 0:
    print("Bail out! cannot start a PostgreSQL primary and standby: " + r.stderr.strip().replace("\n", " | "))
    sys.exit(1)
URL, pair_dir, PRIMARY_URL, STANDBY_URL = r.stdout.split()[:4]

scratch = tempfile.mkdtemp(prefix="tern-pgfailover-")
procs = {}


def cleanup():
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run([PAIR, "stop", pair_dir], capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)


def on_signal(signo, frame):
    sys.exit(128 + signo)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

env = dict(os.environ, TERN_STATE_DIR=scratch + "/state", TERN_CONFIG=scratch + "/tern.conf")
# Nobody is declared dead while the database is away (a few seconds here).
with open(scratch + "/tern.conf", "w") as f:
    f.write("[liveness]\ndead-after = 120s\n")
side = scratch + "/side"
os.makedirs(side)
os.chmod(side, 0o777)  # the sandbox runs tasks as nobody


def tern(*args, db=URL, timeout=180, **kw):
    return subprocess.run([TERN, *args, "--db", db], capture_output=True, text=True, env=env, timeout=timeout, **kw)


def psql(sql, db=URL):
    r = subprocess.run(["psql", db, "-qtAc", sql], capture_output=True, text=True, timeout=60)
    return r.stdout.strip() if r.returncode == 0 else None


MARK = 'echo "$TERN_TASK_RUN_ID $TERN_ATTEMPT $TERN_EXECUTION_ID $TERN_TASK_ID" >> ' + side + "/markers"
FLOWS = {
    "work": f"""id: work
namespace: {NS}
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - '{MARK}'
      - sleep 1
  - id: second
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - '{MARK}'
      - sleep 0.3
""",
    "tick": f"""id: tick
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "slot {{{{ trigger.date }}}}"
triggers:
  - id: every-second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
""",
}

try:
    r = tern("db", "migrate")
    if not ok(r.returncode == 0, "schema migrated through the multi-host URL"):
        diag(r.stderr)

    # The standby named first and no target_session_attrs: tern's default (read-write) passes over it.
    host_port = lambda u: u.split("//")[1].split("/")[0]
    reversed_url = f"postgresql://{host_port(STANDBY_URL)},{host_port(PRIMARY_URL)}/postgres?user=tern"
    for name, text in FLOWS.items():
        with open(f"{scratch}/{name}.yaml", "w") as f:
            f.write(text)
    t0 = time.monotonic()
    r = tern("flow", "apply", f"{scratch}/work.yaml", f"{scratch}/tick.yaml", db=reversed_url, timeout=60)
    if not ok(r.returncode == 0 and time.monotonic() - t0 < 15,
              f"a URL naming the standby first reaches the primary ({time.monotonic() - t0:.1f} s)"):
        diag(r.stderr)
        tern("flow", "apply", f"{scratch}/work.yaml", f"{scratch}/tick.yaml")  # for the rest of the test

    r = tern("user", "add", "ops", input="failover-password\n")
    r2 = tern("token", "create", "ops")
    TOKEN = r2.stdout.strip()
    ok(r.returncode == 0 and r2.returncode == 0 and TOKEN, "an API user and token")

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    WEB_PORT = s.getsockname()[1]
    s.close()
    DAEMONS = {
        "executor": ["executor"],
        "worker": ["worker", "--workers", "4", "--lease", "PT30S", "--sandbox-bind-rw", side],
        "scheduler": ["scheduler"],
        "webserver": ["webserver", "--listen", f"127.0.0.1:{WEB_PORT}", "--ui-dir", ""],
    }
    for name, args in DAEMONS.items():
        denv = dict(env, TERN_SERVER_RUNTIME_DIR=f"{scratch}/run-{name}")
        with open(f"{scratch}/{name}.log", "w") as log:
            procs[name] = subprocess.Popen([TERN, "server", *args, "--db", URL], env=denv, stdout=log,
                                           stderr=subprocess.STDOUT)

    def health(name):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(5)
                c.connect(f"{scratch}/run-{name}/{name}.sock")
                c.sendall(b"health\n")
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
                return data.decode(errors="replace").strip()
        except OSError as e:
            return f"no answer ({e.strerror or e})"

    def wait_healthy(timeout):
        deadline = time.monotonic() + timeout
        while True:
            bad = {n: health(n) for n in DAEMONS}
            bad = {n: h for n, h in bad.items() if h != "ok"}
            if not bad or time.monotonic() > deadline:
                return bad
            time.sleep(0.2)

    bad = wait_healthy(90)
    if not ok(not bad, "every component is up and healthy"):
        diag(bad)

    def api(method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=60)
        try:
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, path, body=data, headers={"Authorization": "Bearer " + TOKEN,
                                                         "Content-Type": "application/json"})
            resp = c.getresponse()
            text = resp.read().decode(errors="replace")
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text
        except OSError as e:
            return 0, str(e)
        finally:
            c.close()

    # Submissions, alternately through the CLI and the API. Acknowledged: an id came back.
    acked, refused, stop_submitting = [], [], threading.Event()

    def submit():
        k = 0
        while not stop_submitting.is_set():
            k += 1
            if k % 2:
                r = tern("execution", "start", NS, "work", timeout=120)
                if r.returncode == 0 and r.stdout.strip():
                    acked.append(("cli", r.stdout.strip()))
                else:
                    refused.append(("cli", r.stderr.strip()[-200:]))
            else:
                st, js = api("POST", f"/api/v1/executions/{NS}/work", {})
                if st == 200 and isinstance(js, dict) and js.get("id"):
                    acked.append(("api", js["id"]))
                else:
                    refused.append(("api", f"{st} {str(js)[-200:]}"))
            time.sleep(0.3)

    submitter = threading.Thread(target=submit)
    submitter.start()
    time.sleep(4)
    running = psql("SELECT count(*) FROM jobs WHERE worker_id IS NOT NULL", db=PRIMARY_URL)
    before_crash = len(acked)
    r = subprocess.run([PAIR, "kill", pair_dir], capture_output=True, text=True)
    t_crash = time.monotonic()
    ok(r.returncode == 0, f"the primary is killed (-m immediate) with {running} job(s) claimed, "
                          f"{before_crash} submission(s) acknowledged")
    # Other writes issued while there is no primary: a CLI flow apply (it opens its connection in the
    # window) and an API kv write (on a pooled connection that was lost). They wait for the promotion.
    window = {}

    def window_apply():
        window["apply"] = tern("flow", "apply", f"{scratch}/work.yaml", timeout=120)

    def window_kv():
        window["kv"] = api("PUT", f"/api/v1/namespaces/{NS}/kv/during-failover", "written")

    window_threads = [threading.Thread(target=window_apply), threading.Thread(target=window_kv)]
    for t in window_threads:
        t.start()
    # A CLI command on the standby itself: every write fails with SQLSTATE 25006 until the promotion.
    probe = subprocess.Popen([TERN, "execution", "start", NS, "work", "--db",
                              STANDBY_URL + "&target_session_attrs=any"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(2)
    r = subprocess.run([PAIR, "promote", pair_dir], capture_output=True, text=True)
    t_promoted = time.monotonic()
    ok(r.returncode == 0, f"the standby is promoted {t_promoted - t_crash:.1f} s after the crash")
    out, err = probe.communicate(timeout=120)
    probe_ok = ok(probe.returncode == 0 and out.strip() != "",
                  "a CLI command connected to the standby waits out 'read-only transaction' and succeeds "
                  "after the promotion")
    if not probe_ok:
        diag(err)
    else:
        acked.append(("cli on the standby", out.strip()))
    time.sleep(8)
    stop_submitting.set()
    submitter.join()
    after_promotion = len(acked) - before_crash
    diag(f"{len(acked)} submissions acknowledged ({after_promotion} from the crash on), {len(refused)} refused "
         f"while the database was away")
    for how, why in refused[:5]:
        diag(f"refused ({how}): {why}")
    ok(after_promotion >= 3, f"submissions are acknowledged again after the promotion ({after_promotion})")
    # Issued while there was no primary, they waited for it instead of failing (the store's 30 s).
    ok(not refused, f"no submission was refused during the failover ({len(refused)} refused)")
    for t in window_threads:
        t.join()
    r = window.get("apply")
    if not ok(r is not None and r.returncode == 0, "a 'tern flow apply' issued without a primary succeeds after the promotion"):
        diag(r.stderr if r else "no result")
    st, js = window.get("kv", (0, "no result"))
    if not ok(st == 200, f"an API kv write issued without a primary succeeds after the promotion ({st})"):
        diag(js)
    st, js = api("GET", f"/api/v1/namespaces/{NS}/kv/during-failover")
    ok(st == 200 and isinstance(js, dict) and js.get("value") == "written", "the kv write is stored on the new primary")

    # Every acknowledged submission exists on the new primary and succeeded.
    states, missing = {}, []
    for how, xid in acked:
        r = tern("execution", "wait", xid, "--timeout", "PT120S", "-o", "json", timeout=180)
        try:
            states[xid] = json.loads(r.stdout)["state"]["current"]
        except (ValueError, KeyError, TypeError):
            missing.append((how, xid, r.stderr.strip()[-200:]))
    ok(not missing, f"every acknowledged execution exists ({len(acked) - len(missing)} of {len(acked)})")
    for m in missing[:5]:
        diag(f"missing: {m}")
    # Exactly once: a submission rerun after a COMMIT whose answer was lost finds its execution stored.
    n_work = psql(f"SELECT count(*) FROM executions WHERE namespace = '{NS}' AND flow_id = 'work'")
    ids = {x for _, x in acked}
    ok(n_work == str(len(ids)) and len(ids) == len(acked),
       f"one execution per acknowledged submission, none twice ({n_work} stored, {len(acked)} acknowledged)")
    not_success = {x: s for x, s in states.items() if s != "SUCCESS"}
    ok(not not_success, f"every acknowledged execution succeeded ({len(states) - len(not_success)} of {len(states)})")
    for x, s in list(not_success.items())[:5]:
        diag(f"{x}: {s}")

    # Side effects: a marker per run of a task; two under one attempt, or more than its attempts, is
    # a run nobody recorded.
    rows = psql("SELECT id, doc::json->'attempts' FROM task_runs") or ""
    attempts = {}
    for line in rows.splitlines():
        trid, _, atts = line.partition("|")
        atts = json.loads(atts) if atts and atts != "null" else []
        attempts[trid] = len(atts)
    marks = {}
    with open(side + "/markers", "a+") as f:
        f.seek(0)
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                marks.setdefault(parts[0], []).append(parts[1])
    twice = [t for t, a in marks.items() if len(set(a)) != len(a)]
    over = [t for t, a in marks.items() if len(a) > attempts.get(t, 0)]
    resubmitted = sum(1 for n in attempts.values() if n > 1)
    ok(not twice and not over,
       f"no task ran twice without a recorded resubmission ({sum(map(len, marks.values()))} runs of {len(marks)} "
       f"task runs, {resubmitted} with more than one attempt)")
    for t in (twice + over)[:5]:
        diag(f"task run {t}: runs under attempts {marks[t]}, {attempts.get(t, 0)} attempt(s) on record")

    # The components: none exited, all healthy, each back at work on the new primary.
    exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
    ok(not exited, f"no component exited {exited if exited else ''}".strip())
    bad = wait_healthy(30)
    if not ok(not bad, "every component is healthy after the failover"):
        diag(bad)
    t_now = time.time()
    st, js = api("GET", f"/api/v1/executions/{acked[-1][1]}")
    ok(st == 200 and isinstance(js, dict) and js.get("id") == acked[-1][1],
       "the webserver serves an execution submitted after the failover")
    deadline = time.monotonic() + 30
    ticks = "0"
    while time.monotonic() < deadline:
        ticks = psql(f"SELECT count(*) FROM executions WHERE flow_id = 'tick' AND state = 'SUCCESS' "
                     f"AND created > {int((t_now - 1) * 1e6)}") or "0"
        if ticks.isdigit() and int(ticks) >= 2:
            break
        time.sleep(0.5)
    ok(ticks.isdigit() and int(ticks) >= 2, f"the scheduler fires on the new primary ({ticks} ticks)")

    # Each daemon stops on SIGTERM with status 0, with no sanitizer report.
    for name, p in procs.items():
        p.send_signal(signal.SIGTERM)
    rcs = {}
    for name, p in procs.items():
        try:
            rcs[name] = p.wait(60)
        except subprocess.TimeoutExpired:
            rcs[name] = "hung"
    ok(all(rc == 0 for rc in rcs.values()), f"every component stops cleanly on SIGTERM {rcs}")
    reports = []
    for name in DAEMONS:
        with open(f"{scratch}/{name}.log", errors="replace") as f:
            text = f.read()
        if "Sanitizer" in text or "runtime error:" in text:
            reports.append(name)
    ok(not reports, f"no sanitizer report in any daemon's output {reports if reports else ''}".strip())
    if failed:
        for name in DAEMONS:
            with open(f"{scratch}/{name}.log", errors="replace") as f:
                diag(f"--- {name} (last lines)\n" + "".join(f.readlines()[-15:]))
finally:
    cleanup()

print(f"1..{n_tests}")
sys.exit(1 if failed else 0)
