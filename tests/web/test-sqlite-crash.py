#!/usr/bin/env python3
# test-sqlite-crash.py: SIGKILL of "tern server standalone" on SQLite in the middle of a load loses
# nothing it acknowledged: every execution whose creation the API answered, every resume it accepted
# (the process's transactions commit in groups, lib/store/sqlite.c: an answer waits for its group's
# COMMIT). A restart on the same file then runs them all to their end. TAP output.
import base64, http.client, json, signal, subprocess, threading, time

from harness import TERN, ok, free_port
import harness

h = harness.Setup("tern-crash-", "crash")
scratch, env, procs, db = h.scratch, h.env, h.procs, h.db
if harness.use_pg or harness.use_mysql:
    print("1..0 # SKIP the SQLite crash test runs on SQLite only")
    h.cleanup()
    raise SystemExit(0)

PASSWORD = "crash-password-1f2e"
port = 0


def req(method, path, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdr = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}
    data = None
    if body is not None:
        data = (json.dumps(body) if isinstance(body, (dict, list)) else body).encode()
        hdr["Content-Type"] = "application/json" if isinstance(body, (dict, list)) else "application/x-yaml"
    c.request(method, path, body=data, headers=hdr)
    resp = c.getresponse()
    text = resp.read().decode()
    c.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


def start(name):
    global port
    port = free_port()
    log = open(f"{scratch}/{name}.log", "w")
    p = subprocess.Popen([TERN, "server", "standalone", "--listen", f"127.0.0.1:{port}", "--workers", "4",
                          "--sandbox", "off", "--db", db], env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if req("GET", "/health", timeout=5)[0] == 200:
                return p
        except OSError:
            pass
        time.sleep(0.05)
    return None


def state(eid):
    st, js = req("GET", f"/api/v1/executions/{eid}")
    return js["state"]["current"] if st == 200 else None


def wait_states(ids, states, timeout=120):
    """The ids not in one of states once all are, or the timeout passed."""
    deadline = time.monotonic() + timeout
    left = list(ids)
    while left and time.monotonic() < deadline:
        left = [e for e in left if state(e) not in states]
        if left:
            time.sleep(0.1)
    return left


try:
    r = subprocess.run([TERN, "user", "add", "alice", "--db", db], input=PASSWORD + "\n", text=True, env=env,
                       capture_output=True)
    if not ok(r.returncode == 0, f"a user for the API {r.stderr.strip()}"):
        raise SystemExit
    server = start("first")
    if not ok(server is not None, "tern server standalone answers /health"):
        raise SystemExit
    ok(req("POST", "/api/v1/flows", "id: quick\nnamespace: t.crash\ntasks:\n  - id: r\n"
           "    type: io.kestra.plugin.core.debug.Return\n    format: x\n")[0] == 200, "a one-task flow")
    ok(req("POST", "/api/v1/flows", "id: hold\nnamespace: t.crash\ntasks:\n  - id: wait\n"
           "    type: io.kestra.plugin.core.flow.Pause\n  - id: after\n"
           "    type: io.kestra.plugin.core.debug.Return\n    format: done\n")[0] == 200, "a flow that pauses")
    paused = [req("POST", "/api/v1/executions/t.crash/hold", {})[1]["id"] for _ in range(30)]
    ok(not wait_states(paused, ["PAUSED"]), "30 paused executions")

    # The load: four clients create executions while the server runs them, a fifth resumes the
    # paused ones; the kill comes in the middle of it.
    created, resumed = [], []
    stop = threading.Event()
    lock = threading.Lock()

    def creator():
        for _ in range(5000):
            if stop.is_set():
                return
            try:
                st, js = req("POST", "/api/v1/executions/t.crash/quick", {}, timeout=10)
            except OSError:
                return
            if st == 200 and isinstance(js, dict) and js.get("id"):
                with lock:
                    created.append(js["id"])

    def resumer():
        for eid in paused:
            if stop.is_set():
                return
            try:
                st, _ = req("POST", f"/api/v1/executions/{eid}/resume", timeout=10)
            except OSError:
                return
            if st == 202:
                with lock:
                    resumed.append(eid)
            time.sleep(0.05)

    threads = [threading.Thread(target=creator) for _ in range(4)] + [threading.Thread(target=resumer)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(created) < 200 or len(resumed) < 10):
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    server.wait()
    ok(server.returncode == -signal.SIGKILL, f"the server was killed by SIGKILL in the middle of the load "
       f"({len(created)} creations and {len(resumed)} resumes acknowledged)")
    ok(len(created) >= 100 and resumed, "the load was acknowledged before the kill")

    server = start("second")
    if not ok(server is not None, "the server starts again on the same database"):
        raise SystemExit
    missing = [e for e in created if req("GET", f"/api/v1/executions/{e}")[0] != 200]
    ok(not missing, f"every acknowledged creation is there ({len(missing)} of {len(created)} missing: {missing[:3]})")
    left = wait_states(created, ["SUCCESS"])
    ok(not left, f"and runs to SUCCESS ({len(left)} not: {[(e, state(e)) for e in left[:3]]})")
    left = wait_states(resumed, ["SUCCESS"])
    ok(not left, f"every acknowledged resume took effect: those executions end in SUCCESS "
       f"({len(left)} of {len(resumed)} not: {[(e, state(e)) for e in left[:3]]})")
finally:
    h.cleanup()
harness.done()
