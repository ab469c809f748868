#!/usr/bin/env python3
# test-stop-without-db.py: every daemon stops on SIGTERM within seconds when its PostgreSQL is gone, and a start-up that loses the database does not hang (TAP).
# 1. An executor, a worker, a scheduler, a webserver and a standalone server, each healthy; PostgreSQL
#    crashes (pg_ctl stop -m immediate) and stays down; once each says the database is unreachable,
#    SIGTERM: each exits within 5 s (the store's reconnect waits are 30 s each), status 0, its last
#    line saying that it stopped without the database.
# 2. A worker and a scheduler started while PostgreSQL is down: SIGTERM ends the wait (status 0,
#    "Stopped before the database answered").
# 3. A worker whose start is refused halfway (its role's connection limit lets in the first four
#    connections, not the slots'): it exits by itself, status 1, saying why. Before the fix its
#    reporter thread was left waiting and the process hung for good, deaf to SIGTERM (the chaos
#    soak of seed 20261209: a worker restarted 0.1 s before a PostgreSQL crash).
# 4. A worker whose PostgreSQL crashes (pg_ctl restart -m immediate) at points of its start-up
#    becomes healthy once the server is back, or exits 1 and is healthy when started again, as
#    systemd would; then it stops on SIGTERM with status 0.
import os, shutil, signal, socket, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
TERN = os.environ["TERN"]
CLUSTER = os.path.join(here, "..", "store", "pg-cluster.sh")
STOP_BOUND = 5.0

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

scratch = tempfile.mkdtemp(prefix="tern-stopnodb-")
procs = {}


def cleanup():
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run([CLUSTER, "stop", cluster_dir], capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)


signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(128 + signo))
signal.signal(signal.SIGINT, lambda signo, frame: sys.exit(128 + signo))

# A heartbeat every second: the daemons find the database gone (and wait on it) at once.
with open(scratch + "/tern.conf", "w") as f:
    f.write("[liveness]\nheartbeat = 1s\ndead-after = 120s\n")
env = dict(os.environ, TERN_CONFIG=scratch + "/tern.conf")


def cluster(cmd):
    r = subprocess.run([CLUSTER, cmd, cluster_dir], capture_output=True, text=True)
    if r.returncode != 0:
        diag(f"pg-cluster.sh {cmd}: {r.stderr}")
    return r.returncode == 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(name, args, url=URL):
    os.makedirs(f"{scratch}/{name}", exist_ok=True)
    denv = dict(env, TERN_SERVER_RUNTIME_DIR=f"{scratch}/{name}/run", TERN_STATE_DIR=f"{scratch}/{name}/state")
    log = open(f"{scratch}/{name}.log", "a")
    procs[name] = subprocess.Popen([TERN, "server", *args, "--db", url], env=denv, stdout=log,
                                   stderr=subprocess.STDOUT)
    log.close()


def health(name, sock):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(2)
            c.connect(f"{scratch}/{name}/run/{sock}.sock")
            c.sendall(b"health\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
            return data.decode(errors="replace").strip()
    except OSError as e:
        return f"no answer ({e.strerror or e})"


def wait_for(names, pred, timeout):
    """Waits until pred(name) holds for each; returns those for which it does not."""
    deadline = time.monotonic() + timeout
    while True:
        bad = [n for n in names if not pred(n)]
        if not bad or time.monotonic() > deadline:
            return bad
        time.sleep(0.2)


def log_lines(name):
    try:
        with open(f"{scratch}/{name}.log", errors="replace") as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return []


def sanitizer_report(name):
    return any("AddressSanitizer" in l or "runtime error:" in l or "LeakSanitizer" in l for l in log_lines(name))


def stop_all(names):
    """SIGTERM to each at once; {name: (exit status or None, seconds)}."""
    t0 = time.monotonic()
    for n in names:
        procs[n].send_signal(signal.SIGTERM)
    got = {}
    for n in names:
        try:
            procs[n].wait(timeout=max(0.1, STOP_BOUND - (time.monotonic() - t0)))
            got[n] = (procs[n].returncode, time.monotonic() - t0)
        except subprocess.TimeoutExpired:
            got[n] = (None, time.monotonic() - t0)
    for n in names:
        if procs[n].poll() is None:
            procs[n].kill()
            procs[n].wait()
    return got


def check_stopped(got, status, last_line):
    for n, (rc, took) in got.items():
        lines = log_lines(n)
        last = lines[-1] if lines else ""
        good = rc == status and last_line in last and not sanitizer_report(n)
        if not ok(good, f"{n} stops on SIGTERM in {took:.1f} s (bound {STOP_BOUND:.0f} s), status {rc}: {last!r}"):
            diag("\n".join(lines[-8:]))


try:
    r = subprocess.run([TERN, "db", "migrate", "--db", URL], capture_output=True, text=True, env=env)
    if not ok(r.returncode == 0, "schema migrated"):
        diag(r.stderr)

    # 1. Each kind of daemon, healthy, then the database gone under it.
    DAEMONS = {
        "executor": ["executor"],
        "worker": ["worker", "--workers", "2", "--sandbox", "off"],
        "scheduler": ["scheduler"],
        "webserver": ["webserver", "--listen", f"127.0.0.1:{free_port()}", "--ui-dir", ""],
        "standalone": ["standalone", "--listen", f"127.0.0.1:{free_port()}", "--ui-dir", "", "--workers", "2",
                       "--sandbox", "off"],
    }
    for name, args in DAEMONS.items():
        start(name, args)
    bad = wait_for(DAEMONS, lambda n: health(n, n) == "ok", 90)
    if not ok(not bad, "every kind of daemon is up and healthy on PostgreSQL"):
        diag({n: health(n, n) for n in bad})

    ok(cluster("down"), "PostgreSQL crashed (pg_ctl stop -m immediate) and stays down")
    # Each has found out (a heartbeat failed): from then on it waits on the database, or did before the fix.
    bad = wait_for(DAEMONS, lambda n: health(n, n) != "ok", 20)
    if not ok(not bad, "each daemon notices that the database is gone"):
        diag({n: health(n, n) for n in bad})
    time.sleep(1)  # well into the reconnect backoff (it reaches 2 s steps after 1.5 s)
    check_stopped(stop_all(list(DAEMONS)), 0, "Stopped without the database")

    # 2. Started while the database is down.
    for name, args in (("worker-late", DAEMONS["worker"]), ("scheduler-late", DAEMONS["scheduler"])):
        start(name, args)
    late = ["worker-late", "scheduler-late"]
    bad = wait_for(late, lambda n: any("Cannot connect to the database" in l for l in log_lines(n)), 60)
    if not ok(not bad, "daemons started with PostgreSQL down wait for it, saying so"):
        diag({n: log_lines(n)[-3:] for n in bad})
    check_stopped(stop_all(late), 0, "Stopped before the database answered")

    # 3. A start-up refused halfway.
    ok(cluster("resume"), "PostgreSQL is back")
    r = subprocess.run(["psql", URL, "-qtAc",
                        "CREATE ROLE capped LOGIN CONNECTION LIMIT 4; GRANT ALL ON SCHEMA public TO capped; "
                        "GRANT ALL ON ALL TABLES IN SCHEMA public TO capped; "
                        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO capped"], capture_output=True, text=True)
    if not ok(r.returncode == 0, "a role that may open four connections"):
        diag(r.stderr)
    start("worker-capped", ["worker", "--workers", "2", "--sandbox", "off"], url=URL.replace("user=tern", "user=capped"))
    try:
        procs["worker-capped"].wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    rc = procs["worker-capped"].poll()
    lines = log_lines("worker-capped")
    said = any("Cannot start the worker" in l and "too many connections" in l for l in lines)
    if not ok(rc == 1 and said and not sanitizer_report("worker-capped"),
              f"a worker refused connections halfway through its start exits by itself, status {rc}, saying why"):
        diag("\n".join(lines[-8:]))
        if rc is None:
            check_stopped(stop_all(["worker-capped"]), 1, "")

    # 4. PostgreSQL crashes at points of a worker's start-up.
    for i, delay in enumerate((0.0, 0.05, 0.15, 0.3, 0.6, 1.0)):
        name = f"worker-crash{i}"
        start(name, DAEMONS["worker"])
        time.sleep(delay)
        crashed = cluster("crash")
        wait_for([name], lambda n: health(n, "worker") == "ok" or procs[n].poll() is not None, 60)
        restarted, exited = False, procs[name].poll()
        if exited is not None:
            restarted = True
            start(name, DAEMONS["worker"])
            wait_for([name], lambda n: health(n, "worker") == "ok", 60)
        h = health(name, "worker")
        if not ok(crashed and h == "ok" and exited in (None, 1),
                  f"a worker whose database crashed {delay:.2f} s into its start is healthy "
                  f"({f'after exiting {exited} and starting again' if restarted else 'without a restart'}): {h}"):
            diag("\n".join(log_lines(name)[-8:]))
        got = stop_all([name])
        check_stopped(got, 0, "Stopped.")
finally:
    cleanup()

print(f"1..{n_tests}")
sys.exit(1 if failed else 0)
