# series.py: the soak's series (daemon RSS, table and object-store sizes, executions ended per minute) sampled during a chaos run, as CSV and a plot.
#
# A Recorder samples every `every` seconds from its own thread. With retention on, executions are
# purged during the run, so it also keeps a ledger of what ended (executions, their task runs, their
# "chaos-done" log lines, whether they logged a full disk) for the invariants, which would otherwise
# miss whatever was purged.
import csv
import json
import os
from statistics import median
import shutil
import subprocess
import threading
import time

TABLES = ["executions", "task_runs", "logs", "execution_labels", "jobs", "events", "trigger_events"]
COUNTED = ["executions", "task_runs", "logs"]
# Compared between the middle and the last third of the run when retention is on: these must stay flat.
FLAT = ["rows_executions", "rows_task_runs", "rows_logs", "db_bytes", "store_bytes", "store_objects"]
# Seen again on every sample for this long after it ended: retention keeps executions longer.
LEDGER_LOOKBACK = 120.0
DB_COLS = [f"rows_{t}" for t in COUNTED] + [f"bytes_{t}" for t in TABLES] + ["db_bytes", "ended_last_min"]


class Recorder:
    def __init__(self, run, every=10.0, ledger=False, out=None):
        """out: a directory where series.csv grows a row per sample (to watch a long run; kept if
        the harness dies)."""
        self.run, self.c, self.every, self.out = run, run.c, every, out
        self.rows = []
        self.fields = ["t_s", "phase"]
        for n in self.c.daemons:
            self.fields += [f"rss_mib_{n}", f"anon_mib_{n}", f"starts_{n}"]
        self.fields += ["rss_mib_osd", *DB_COLS, "store_bytes", "store_objects"]
        self._csv = None
        self.ledger = ledger
        self.execs, self.task_runs, self.done_logs, self.nospace = {}, {}, set(), set()
        self.ledger_since = None  # wall-clock time of the last ledger sample
        self.errors = []
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            self._csv = open(os.path.join(self.out, "series.csv"), "w", newline="")
            csv.DictWriter(self._csv, fieldnames=self.fields).writeheader()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(60)
            self._thread = None
        if self._csv:
            self._csv.close()
            self._csv = None

    def _loop(self):
        while True:
            t_next = time.monotonic() + self.every
            try:
                self.sample()
            except Exception as e:  # noqa: BLE001 — a missed sample is noted, not fatal to the run
                self.note(f"{type(e).__name__}: {e}")
            if self._stop.wait(max(0.0, t_next - time.monotonic())):
                return

    # ---- one sample ---------------------------------------------------------------------------
    def sample(self):
        row = {"t_s": round(self.run.now(), 1), "phase": self.run.phase}
        for n, d in self.c.daemons.items():
            r = d.rss_kib()
            row[f"rss_mib_{n}"] = round(r / 1024, 1) if r else ""
            # The heap's share: VmRSS also counts the pages of the binary and libraries as they are
            # touched, which grows for a while without any leak.
            r = proc_status_kib(d.pid, "RssAnon")
            row[f"anon_mib_{n}"] = round(r / 1024, 1) if r else ""
            row[f"starts_{n}"] = d.starts
        if self.c.rgw_dir:  # the memory-backed OSD holds the object store's data
            r = proc_status_kib(osd_pid(self.c.rgw_dir), "VmRSS")
            row["rss_mib_osd"] = round(r / 1024, 1) if r else ""
        try:
            row.update(self._db())
        except RuntimeError as e:  # PostgreSQL restarting: a gap in the series
            self.note(e)
        row.update(self._store())
        if self.ledger:
            try:
                self._ledger()
            except RuntimeError as e:
                self.note(f"ledger: {e}")
        if self._csv:
            csv.DictWriter(self._csv, fieldnames=self.fields, restval="").writerow(row)
            self._csv.flush()
        self.rows.append(row)

    def note(self, what):
        """A sample that missed something (the first line of why)."""
        self.errors.append(f"{self.run.now():.0f}s: {(str(what).splitlines() or [''])[0][:200]}")

    def _db(self):
        q = ("SELECT " + ", ".join(
            [f"(SELECT count(*) FROM {t})" for t in COUNTED] + [f"pg_total_relation_size('{t}')" for t in TABLES] +
            ["pg_database_size(current_database())",
             "(SELECT count(*) FROM executions WHERE end_date >= "
             "(extract(epoch FROM clock_timestamp()) * 1e6)::bigint - 60000000)"]))
        vals = self.c.sql(q).strip().split("|")
        return dict(zip(DB_COLS, (int(v) for v in vals)))

    def _store(self):
        """The bucket's size as radosgw accounts it (its index), read through the monitor and the OSD:
        it answers while radosgw itself is down."""
        if not self.c.rgw_dir:
            return {}
        r = self.c.nsexec("a", "radosgw-admin", "-c", os.path.join(self.c.rgw_dir, "ceph.conf"), "bucket", "stats",
                          "--bucket", "tern-test", check=False, timeout=30)
        if r.returncode != 0:
            self.note(f"radosgw-admin bucket stats: exit {r.returncode}: {r.stderr.strip()[-200:]}")
            return {}
        usage = (json.loads(r.stdout).get("usage") or {}).get("rgw.main") or {}
        return {"store_bytes": usage.get("size_actual", 0), "store_objects": usage.get("num_objects", 0)}

    def _ledger(self):
        """Executions that ended since the last sample (with a margin), their task runs, their
        "chaos-done" lines and which of them logged a full disk: retention may purge them before
        the invariants are checked."""
        now = time.time()
        since = int(((self.ledger_since or now) - LEDGER_LOOKBACK) * 1e6)
        where = f"end_date IS NOT NULL AND end_date >= {since}"
        execs = [json.loads(line) for line in self.c.sql(
            "SELECT json_build_object('id', id, 'flow', flow_id, 'state', state, 'parent', parent_id, "
            f"'trigger', doc->'trigger') FROM executions WHERE {where}").splitlines() if line.strip()]
        trs = [json.loads(line) for line in self.c.sql(
            "SELECT json_build_object('x', t.execution_id, 'flow', x.flow_id, 'id', t.id, 'state', t.state, "
            "'doc', t.doc::json) FROM task_runs t JOIN executions x ON x.id = t.execution_id "
            f"WHERE x.{where}").splitlines() if line.strip()]
        done = self.c.sql("SELECT DISTINCT l.task_run_id FROM logs l JOIN executions x ON x.id = l.execution_id "
                          f"WHERE x.{where} AND l.message LIKE '%chaos-done%'").split()
        self.execs.update((x["id"], x) for x in execs)
        self.task_runs.update((tr["id"], tr) for tr in trs)
        nospace = self.c.sql("SELECT DISTINCT l.execution_id FROM logs l JOIN executions x ON x.id = l.execution_id "
                             f"WHERE x.{where} AND l.message LIKE '%No space left on device%'").split()
        self.done_logs.update(done)
        self.nospace.update(nospace)
        self.ledger_since = now

    # ---- what the invariants see --------------------------------------------------------------
    def merge_execs(self, execs):
        """The database's executions plus those the ledger saw end and retention purged since."""
        ids = {x["id"] for x in execs}
        return execs + [x for i, x in self.execs.items() if i not in ids]

    def merge_task_runs(self, trs):
        ids = {tr["id"] for tr in trs}
        return trs + [tr for i, tr in self.task_runs.items() if i not in ids]

    def merge_done(self, done):
        return done | self.done_logs

    def merge_nospace(self, nospace):
        return nospace | self.nospace

    # ---- results ------------------------------------------------------------------------------
    def flat(self, duration):
        """(grown, detail): the median size over the middle third of the workload against that over
        its last third. Medians, not two samples: the object store holds a few dozen objects, and
        one sample taken at a dip of the workload made a 20% rise out of noise (seed 20261210)."""
        rows = [r for r in self.rows if r["phase"] == "workload"]
        mid = [r for r in rows if duration / 3 <= r["t_s"] < duration * 2 / 3]
        last = [r for r in rows if r["t_s"] >= duration * 2 / 3]
        if not mid or not last:
            return [], "too few samples"
        grown, detail = [], []
        for k in FLAT:
            va, vb = [r[k] for r in mid if k in r], [r[k] for r in last if k in r]
            if not va or not vb:
                detail.append(f"{k} not sampled")
                continue
            a, b = median(va), median(vb)
            detail.append(f"{k} {human(k, a)}->{human(k, b)}")
            if b > a * 1.2:
                grown.append(k)
        return grown, (f"medians over {mid[0]['t_s']:.0f}-{mid[-1]['t_s']:.0f}s and "
                       f"{last[0]['t_s']:.0f}-{last[-1]['t_s']:.0f}s: ") + ", ".join(detail)

    def write(self, out):
        """series.csv in out; then soak.png when gnuplot is there. Returns what was written, or why not."""
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "series.csv")
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, restval="")
            w.writeheader()
            w.writerows(self.rows)
        written = [path]
        png, why = plot(path, os.path.join(out, "soak.png"), list(self.c.daemons), self.run.a.duration)
        written.append(png if png else f"no plot ({why})")
        return written


def proc_status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, TypeError):
        pass
    return None


def osd_pid(rgw_dir):
    """The OSD's PID: rgw.sh lists the monitor, the OSD and radosgw in DIR/pids."""
    try:
        with open(os.path.join(rgw_dir, "pids")) as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def human(key, v):
    if key.endswith("bytes"):
        return f"{v / 1048576:.1f}MiB" if v >= 1048576 else f"{v / 1024:.0f}KiB"
    return f"{v:g}" if isinstance(v, float) else str(v)  # a median of two counts may end in .5


def plot(csv_path, png, daemons, duration):
    """RSS per daemon, executions ended per minute, PostgreSQL's sizes and the object store's over
    time, with gnuplot (the docs' plot; a run without gnuplot only says so). Returns (png, None) or
    (None, why)."""
    gp = shutil.which("gnuplot")
    if not gp:
        return None, "gnuplot is not installed: apt-get install gnuplot-nox"
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    present = {k for r in rows for k, v in r.items() if v not in ("", None)}
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]
    rss = ", ".join(f"'{csv_path}' using ($1/60):(column('rss_mib_{n}')) with lines lw 1.5 lc rgb '{colors[i % 9]}' "
                    f"title '{n}'" for i, n in enumerate(daemons))
    store = []
    if "store_objects" in present:
        store.append(f"'{csv_path}' using ($1/60):(column('store_objects')) with lines lw 2 title 'objects in the bucket'")
    if "rss_mib_osd" in present:
        store.append(f"'{csv_path}' using ($1/60):(column('rss_mib_osd')) axes x1y2 with lines lw 2 "
                     "title 'RSS of the OSD, MiB (right)'")
    store_plot = ("set title 'object store: objects in the bucket; the memory-backed OSD'\n"
                  "plot " + ", ".join(store)) if store else ""
    script = f"""
set terminal png size 960,1280 font ",10"
set output '{png}'
set datafile separator ','
set termoption noenhanced
set grid
set lmargin 8
set rmargin 26
set multiplot layout {4 if store else 3},1
set xrange [0:*]
set yrange [0:*]
set y2range [0:*]
set arrow 1 from {duration / 60:.2f}, graph 0 to {duration / 60:.2f}, graph 1 nohead
set key outside right
set title 'VmRSS per daemon (MiB); a drop to a lower line is a restart; the vertical line ends the workload'
plot {rss}
set key inside bottom right opaque
set title 'executions ended in the last minute'
plot '{csv_path}' using ($1/60):(column('ended_last_min')) with lines lw 2 title 'ended/min'
set title 'PostgreSQL (MiB)'
plot '{csv_path}' using ($1/60):(column('db_bytes')/1048576) with lines lw 2 title 'database', \\
     '' using ($1/60):(column('bytes_logs')/1048576) with lines title 'logs table', \\
     '' using ($1/60):(column('bytes_task_runs')/1048576) with lines title 'task_runs table', \\
     '' using ($1/60):(column('bytes_executions')/1048576) with lines title 'executions table', \\
     '' using ($1/60):(column('bytes_jobs')/1048576) with lines title 'jobs table'
set xlabel 'minutes'
set y2tics
{store_plot}
unset multiplot
"""
    r = subprocess.run([gp], input=script, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(png):
        return None, f"gnuplot failed: {r.stderr.strip()[-300:]}"
    return png, None

