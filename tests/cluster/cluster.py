# cluster.py: a tern cluster of six "hosts" on one machine: a network namespace each, joined by veth pairs to a bridge in a hub namespace.
#
#   host A  10.77.0.1  PostgreSQL (tests/store/pg-cluster.sh, PG_LISTEN; with standby=True a primary and a
#                      synchronous standby, tests/store/pg-standby.sh) and radosgw (tests/storage/rgw.sh, RGW_ADDR)
#   host B  10.77.0.2  executor exec-b, scheduler sched-b
#   host C  10.77.0.3  workers work-c1 (default group) and work-c2 (group hostc), one state directory
#   host D  10.77.0.4  workers work-d1 (default group) and work-d2 (group hostd), one state directory
#   host E  10.77.0.5  webserver web-e on :8080
#   host F  10.77.0.6  executor exec-f, scheduler sched-f
#   hub     10.77.0.254 the bridge; the harness's API calls leave from here
#
# Nothing is made in the host's own network namespace: the veth pairs are created inside the hub
# with their far ends directly in the hosts' namespaces, so deleting the namespaces deletes every
# link. Names carry the owner's PID (tcl<PID>-<host>), so that `cluster down --stale` removes the
# clusters whose owner is gone without touching another user's. Every host has its own state
# directory and tern.conf below the cluster's directory; the components reach each other only
# through the links (the status sockets, files on the common file system, are for the harness).
# Optionally (the chaos run's clock and diskfull faults) each host's daemons run on a clock of their
# own (clock-step-preload.c: an offset in hosts/<h>/clock, the monotonic clock untouched), and the worker
# hosts' state directories are tmpfs mounts of a fixed size in a mount namespace of the host's own.
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PG_CLUSTER = os.path.join(HERE, "..", "store", "pg-cluster.sh")
PG_STANDBY = os.path.join(HERE, "..", "store", "pg-standby.sh")
RGW = os.path.join(HERE, "..", "storage", "rgw.sh")
NET = "10.77.0"
HOSTS = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
HUB_ADDR = NET + ".254"
FAMILY = "tcl"
WEB_PORT = 8080
CLONE_NEWNET = 0x40000000

# name: (host, component, extra arguments)
DAEMONS = {
    "exec-b": ("b", "executor", []),
    "sched-b": ("b", "scheduler", []),
    "work-c1": ("c", "worker", []),
    "work-c2": ("c", "worker", ["--queue", "hostc"]),
    "work-d1": ("d", "worker", []),
    "work-d2": ("d", "worker", ["--queue", "hostd"]),
    "web-e": ("e", "webserver", ["--listen", f"{NET}.5:{WEB_PORT}", "--ui-dir", ""]),
    "exec-f": ("f", "executor", []),
    "sched-f": ("f", "scheduler", []),
}


def find_clock_preload(tern):
    """tests/integration/clock-step-preload.c built: $CLOCK_STEP_PRELOAD (meson test sets it), else
    beside tern's build tree; None without it."""
    path = os.environ.get("CLOCK_STEP_PRELOAD") or \
        os.path.join(os.path.dirname(os.path.abspath(tern)), "..", "tests", "libclock-step-preload.so")
    return path if os.path.exists(path) else None


def addr(host):
    return f"{NET}.{HOSTS[host]}"


def run(*cmd, check=True, env=None, timeout=120):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
    return r


def netns_list():
    r = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_netns(ns):
    """SIGKILL every process in the namespace (task processes a killed worker left, daemons), then delete it."""
    for _ in range(100):
        pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
        if not pids:
            break
        for p in pids:
            try:
                os.kill(int(p), signal.SIGCONT)
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.05)
    run("ip", "netns", "del", ns, check=False)


def down_prefix(prefix):
    """Remove what a cluster named prefix left: its daemons and servers, namespaces and directory."""
    for d in glob.glob(f"/tmp/tern-cluster-{prefix}.*"):
        if os.path.isdir(d + "/pg"):
            pg = os.path.realpath(d + "/pg")
            run(PG_STANDBY if os.path.isfile(pg + "/primary") else PG_CLUSTER, "stop", pg, check=False)
        rgw = os.path.join(d, "rgw")
        if os.path.isfile(rgw + "/.tern-rgw"):
            run(RGW, "stop", rgw, check=False)
    for ns in netns_list():
        if ns.startswith(prefix + "-"):
            kill_netns(ns)
    for d in glob.glob(f"/tmp/tern-cluster-{prefix}.*"):
        shutil.rmtree(d, ignore_errors=True)


def stale_prefixes():
    """Prefixes of clusters whose owner process is gone."""
    out = set()
    for ns in netns_list():
        name = ns.split("-", 1)[0]
        if name.startswith(FAMILY) and name[len(FAMILY):].isdigit() and not pid_alive(int(name[len(FAMILY):])):
            out.add(name)
    for d in glob.glob(f"/tmp/tern-cluster-{FAMILY}*.*"):
        name = os.path.basename(d)[len("tern-cluster-"):].split(".", 1)[0]
        if name[len(FAMILY):].isdigit() and not pid_alive(int(name[len(FAMILY):])):
            out.add(name)
    return sorted(out)


class Netns:
    """Enter a named network namespace for the calling thread (a socket made inside stays in it)."""
    _libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.name}")
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        self._libc.setns(self.back, CLONE_NEWNET)
        os.close(self.back)


class Daemon:
    def __init__(self, cluster, name):
        self.c, self.name = cluster, name
        self.host, self.component, self.extra = DAEMONS[name]
        self.proc = None
        self.starts = 0
        self.stopped = False  # SIGSTOPped by the harness
        self.runtime = os.path.join(cluster.dir, "hosts", self.host, "run-" + name)
        self.log = os.path.join(cluster.dir, "logs", name + ".log")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        env = dict(self.c.env, TERN_CONFIG=self.c.conf(self.host), TERN_SERVER_RUNTIME_DIR=self.runtime)
        if self.c.clock_preload:
            env.update(LD_PRELOAD=self.c.clock_preload, TERN_TEST_CLOCK_FILE=self.c.clock_file(self.host))
        with open(self.log, "a") as log:
            log.write(f"---- start {time.strftime('%H:%M:%S')}\n")
            log.flush()
            self.proc = subprocess.Popen([*self.c.enter(self.host), self.c.tern, "server",
                                          self.component, "--grace", "PT2S", *self.extra],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                         start_new_session=True)
        self.starts += 1
        self.stopped = False

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def health(self, timeout=2.0):
        """The status socket's answer to "health" ("ok" when healthy), or why there is none."""
        path = os.path.join(self.runtime, self.component + ".sock")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
                s.sendall(b"health\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                return data.decode(errors="replace").strip()
        except OSError as e:
            return f"no answer ({e.strerror or e})"

    def rss_kib(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, TypeError):
            pass
        return None

    def stop(self, timeout=10):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()


class Cluster:
    """up() builds it all; down() removes it all (also after a failed up())."""

    def __init__(self, tern, liveness=None, slots=3, log=print, standby=False, clock_preload=None, tmpfs_hosts=(),
                 tmpfs_mib=64, retention=None):
        self.tern = tern
        self.standby = standby
        self.clock_preload = clock_preload  # clock-step-preload's path: every daemon on its host's clock
        self.tmpfs_hosts = tmpfs_hosts    # hosts whose state directory is a tmpfs of tmpfs_mib
        self.tmpfs_mib = tmpfs_mib
        self.mounts = {}                  # host -> the process holding its mount namespace
        self.retention = retention        # [storage] retention ("300s"), None: executions are kept
        self.prefix = f"{FAMILY}{os.getpid()}"
        self.dir = tempfile.mkdtemp(prefix=f"tern-cluster-{self.prefix}.", dir="/tmp")
        self.liveness = liveness or {"heartbeat": "1s", "dead-after": "8s", "lease": "6s"}
        self.slots = slots
        self.say = log
        self.daemons = {n: Daemon(self, n) for n in DAEMONS}
        self.pg_dir = self.rgw_dir = None
        self.pg_port = None
        self.db_local = self.db_url = None
        self.s3 = None
        self.markers = os.path.join(self.dir, "shared", "markers")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
        # Under ASan, freed memory waits in a quarantine of 256 MiB by default: a daemon's RSS then
        # grows for minutes whatever it does. A small one keeps RSS a measure of the daemon's own.
        if "ASAN_OPTIONS" in self.env:
            self.env["ASAN_OPTIONS"] += ":quarantine_size_mb=8:thread_local_quarantine_size_kb=256"
        self.token = None

    def ns(self, host):
        return f"{self.prefix}-{host}"

    def conf(self, host):
        return os.path.join(self.dir, "hosts", host, "tern.conf")

    def enter(self, host):
        """The command prefix that runs a program on host. nsenter, not `ip netns exec`: that one also
        mounts a fresh /sys, without the cgroup hierarchy a worker's sandbox needs. nsenter execs the
        program: its PID is the program's, so signals reach it directly."""
        holder = self.mounts.get(host)
        return ["nsenter", "--net=/run/netns/" + self.ns(host),
                *([f"--mount=/proc/{holder.pid}/ns/mnt"] if holder else [])]

    def nsexec(self, host, *cmd, check=True, env=None, timeout=120):
        return run(*self.enter(host), *cmd, check=check, env=env, timeout=timeout)

    # ---- network ------------------------------------------------------------------------------
    def _network(self):
        hub = self.ns("hub")
        run("ip", "netns", "add", hub)
        run("ip", "-n", hub, "link", "set", "lo", "up")
        run("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", hub, "addr", "add", HUB_ADDR + "/24", "dev", "br0")
        run("ip", "-n", hub, "link", "set", "br0", "up")
        for h in HOSTS:
            ns = self.ns(h)
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", hub, "link", "add", self.veth(h), "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "-n", hub, "link", "set", self.veth(h), "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", addr(h) + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def veth(self, host):
        """The hub's end of a host's link (cut it to partition the host)."""
        return f"{self.prefix}{host}"

    def link(self, host, up):
        run("ip", "-n", self.ns("hub"), "link", "set", self.veth(host), "up" if up else "down")

    # ---- clocks and disks -----------------------------------------------------------------------
    def clock_file(self, host):
        return os.path.join(self.dir, "hosts", host, "clock")

    def step_clock(self, host, offset):
        """Set the offset in seconds of host's real-time clock (read again every 20 ms)."""
        with open(self.clock_file(host) + ".new", "w") as f:
            f.write(f"{offset:+d}\n")
        os.rename(self.clock_file(host) + ".new", self.clock_file(host))

    def _mounts(self):
        """A process per host of tmpfs_hosts that holds a mount namespace with the host's state
        directory on a tmpfs: nothing of the machine's is mounted over, and the host's daemons
        (enter()) share it, as two workers of one host share their state directory."""
        for h in self.tmpfs_hosts:
            state = os.path.join(self.dir, "hosts", h, "state")
            p = subprocess.Popen([*self.enter(h), "unshare", "-m", "--propagation", "private", "sh", "-c",
                                  'mount -t tmpfs -o size="$1"m tern-state "$2" && echo ready && exec sleep infinity',
                                  "sh", str(self.tmpfs_mib), state], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 text=True, start_new_session=True)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"cannot mount a tmpfs on host {h.upper()}'s state directory")
            self.mounts[h] = p

    def fill(self, host, full):
        """Fill host's state directory (a file of the harness's), or free it again."""
        state = os.path.join(self.dir, "hosts", host, "state")
        if full:
            return self.nsexec(host, "sh", "-c", 'head -c 1G /dev/zero > "$1/.chaos-filler"; df -k --output=avail "$1" | tail -1',
                               "sh", state, check=False)
        return self.nsexec(host, "rm", "-f", state + "/.chaos-filler", check=False)

    # ---- servers on host A --------------------------------------------------------------------
    def _postgres(self):
        if self.standby:
            return self._postgres_pair()
        r = self.nsexec("a", PG_CLUSTER, "start", env=dict(self.env, PG_LISTEN=addr("a")))
        self.db_local, pg_dir = r.stdout.splitlines()[:2]
        os.symlink(pg_dir, os.path.join(self.dir, "pg"))
        self.pg_dir = pg_dir
        with open(pg_dir + "/port") as f:
            self.pg_port = f.read().strip()
        run("psql", self.db_local, "-qc", "CREATE DATABASE chaos")
        if self.retention:
            # The faults restart PostgreSQL every half minute or so, and after each start the
            # autovacuum launcher waits its naptime (60 s) before it looks at a database: the space
            # of purged rows was never vacuumed for reuse and the tables grew however flat their
            # rows. Executions purged all the time need vacuum to run between restarts.
            run("psql", self.db_local, "-qc", "ALTER SYSTEM SET autovacuum_naptime = '5s'")
            run("psql", self.db_local, "-qc", "SELECT pg_reload_conf()")
        self.db_local = self.db_local.replace("/postgres?", "/chaos?")
        self.db_url = f"postgresql://tern@{addr('a')}:{self.pg_port}/chaos"
        run(self.tern, "db", "migrate", "--db", self.db_local, env=self.env)

    def _postgres_pair(self):
        """A primary and its synchronous standby, both on host A, on two ports: every component and
        the harness use a multi-host URL, which finds the primary whichever of the two it is."""
        r = self.nsexec("a", PG_STANDBY, "start", env=dict(self.env, PG_LISTEN=addr("a")))
        pg_dir = r.stdout.splitlines()[1]
        os.symlink(pg_dir, os.path.join(self.dir, "pg"))
        self.pg_dir = pg_dir
        ports = []
        for node in ("n1", "n2"):
            with open(f"{pg_dir}/{node}.port") as f:
                ports.append(f.read().strip())
        self.pg_port = ports[0]
        # The harness reaches both over their unix sockets, from outside the namespaces.
        self.db_local = (f"postgresql:///chaos?host={pg_dir},{pg_dir}&port={ports[0]},{ports[1]}&user=tern"
                         "&target_session_attrs=read-write")
        run("psql", self.db_local.replace("/chaos?", "/postgres?"), "-qc", "CREATE DATABASE chaos")
        self.db_url = (f"postgresql://tern@{addr('a')}:{ports[0]},{addr('a')}:{ports[1]}/chaos"
                       "?target_session_attrs=read-write")
        run(self.tern, "db", "migrate", "--db", self.db_local, env=self.env)

    def _rgw(self):
        self.rgw_dir = os.path.join(self.dir, "rgw")
        os.mkdir(self.rgw_dir)
        r = self.nsexec("a", RGW, "start", self.rgw_dir, env=dict(self.env, RGW_ADDR=addr("a")), timeout=180)
        endpoint, access, secret, _ = r.stdout.split()
        self.s3 = {"endpoint": endpoint, "access": access, "secret": secret}
        self.env.update(AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret)

    def pg(self, verb):
        """pg-cluster.sh restart|crash|halt|resume, run on host A (the server stays in its namespace).
        With a standby, pg-standby.sh: restart|crash of the primary, kill|promote|rejoin."""
        if self.standby:
            return self.nsexec("a", PG_STANDBY, verb, self.pg_dir, check=False, env=self.env)
        return self.nsexec("a", PG_CLUSTER, verb, self.pg_dir, check=False, env=self.env)

    def gateway(self, verb):
        """rgw.sh halt|resume: radosgw down or up again."""
        return self.nsexec("a", RGW, verb, self.rgw_dir, check=False, env=self.env)

    def sql(self, statement):
        r = run("psql", self.db_local, "-qtAX", "-c", statement, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"SQL failed: {r.stderr.strip()}")
        return r.stdout

    # ---- tern ---------------------------------------------------------------------------------
    def _configs(self):
        os.makedirs(self.markers)
        os.chmod(os.path.join(self.dir, "shared"), 0o755)
        os.chmod(self.markers, 0o777)  # tasks run as nobody
        with open(os.path.join(self.markers, "log"), "w"):
            pass
        os.chmod(os.path.join(self.markers, "log"), 0o666)
        os.makedirs(os.path.join(self.dir, "logs"))
        storage = f"s3://tern-test/{self.prefix}?endpoint={self.s3['endpoint']}&region=us-east-1"
        for h in HOSTS:
            d = os.path.join(self.dir, "hosts", h)
            os.makedirs(d + "/state")
            self.step_clock(h, 0)
            lv = self.liveness
            with open(self.conf(h), "w") as f:
                f.write(f"""# host {h.upper()} ({addr(h)})
[database]
url = {self.db_url}
[server]
state-dir = {d}/state
[worker]
slots = {self.slots}
lease = {lv['lease']}
[sandbox]
bind-rw = {self.markers}:/markers
[liveness]
heartbeat = {lv['heartbeat']}
dead-after = {lv['dead-after']}
[storage]
url = {storage}
""")
                if self.retention:
                    f.write(f"retention = {self.retention}\n")

    def up(self):
        for tool in ("ip", "psql"):
            if not shutil.which(tool):
                raise RuntimeError(f"'{tool}' is not installed")
        self._network()
        self.say(f"# network {self.prefix}: hub {HUB_ADDR}, " + ", ".join(f"{h.upper()} {addr(h)}" for h in HOSTS))
        self._postgres()
        self.say(f"# PostgreSQL on A: {self.db_url}")
        self._rgw()
        self.say(f"# radosgw on A: {self.s3['endpoint']}")
        self._configs()
        self._mounts()
        r = subprocess.run([self.tern, "user", "add", "chaos", "--db", self.db_local], input="chaos-password\n",
                           text=True, capture_output=True, env=self.env)
        if r.returncode != 0:
            raise RuntimeError(f"tern user add: {r.stderr.strip()}")
        r = run(self.tern, "token", "create", "chaos", "--db", self.db_local, env=self.env)
        self.token = r.stdout.strip()
        for d in self.daemons.values():
            d.start()
        self.wait_healthy(120)

    def wait_healthy(self, timeout):
        end = time.monotonic() + timeout
        while True:
            bad = {n: d.health() for n, d in self.daemons.items()}
            bad = {n: h for n, h in bad.items() if h != "ok"}
            if not bad:
                return {}
            if time.monotonic() > end:
                return bad
            for n in bad:
                d = self.daemons[n]
                if not d.running() and not d.stopped:
                    raise RuntimeError(f"{n} exited with {d.proc.returncode}: {tail(d.log)}")
            time.sleep(0.2)

    def api(self, method, path, body=None, timeout=15):
        """A REST call to the webserver on E, from the hub. Returns (status, parsed JSON or text)."""
        data = None
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = "application/x-yaml" if isinstance(body, str) else "application/json"
        req = urllib.request.Request(f"http://{addr('e')}:{WEB_PORT}{path}", data=data, method=method,
                                     headers=headers)
        with Netns(self.ns("hub")):
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    status, raw = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, raw = e.code, e.read()
            except OSError as e:
                return 0, str(e)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def down(self):
        for d in self.daemons.values():
            d.signal(signal.SIGCONT)
        for h in HOSTS:
            if self.ns(h) in netns_list():
                run("ip", "-n", self.ns("hub"), "link", "set", self.veth(h), "up", check=False)
        for d in self.daemons.values():
            d.signal(signal.SIGTERM)
        for d in self.daemons.values():
            d.stop()
        for p in self.mounts.values():
            p.kill()
            p.wait()
        down_prefix(self.prefix)


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return ""
