# series.py: the soak's series (daemon RSS, table and object-store sizes, executions ended per minute) sampled during a chaos run, as CSV and a plot.
#
# A Recorder samples every `every` seconds from its own thread. With retention on, executions are
# purged during the run, so it also keeps a ledger of what ended (executions, their task runs, their
# "chaos-done" log lines) for the invariants, which would otherwise miss whatever was purged.
import csv
import json
import os
import shutil
import subprocess
import threading
import time

TABLES = ["executions", "task_runs", "logs", "execution_labels", "jobs", "events", "trigger_events"]
COUNTED = ["executions", "task_runs", "logs"]
# Compared between a third of the run and its end when retention is on: these must stay flat.
FLAT = ["rows_executions", "rows_task_runs", "rows_logs", "db_bytes", "store_bytes", "store_objects"]
# Seen again on every sample for this long after it ended: retention keeps executions longer.
LEDGER_LOOKBACK = 120.0


class Recorder:
    def __init__(self, run, every=10.0, ledger=False):
        self.run, self.c, self.every = run, run.c, every
        self.rows = []
        self.ledger = ledger
        self.execs, self.task_runs, self.done_logs = {}, {}, set()
        self.ledger_since = None  # wall-clock time of the last ledger sample
        self.errors = []
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(60)

    def _loop(self):
        while True:
            t_next = time.monotonic() + self.every
            try:
                self.sample()
            except Exception as e:  # noqa: BLE001 — a missed sample is noted, not fatal to the run
                self.errors.append(f"{self.run.now():.0f}s: {type(e).__name__}: {e}")
            if self._stop.wait(max(0.0, t_next - time.monotonic())):
                return

    # ---- one sample ---------------------------------------------------------------------------
    def sample(self):
        row = {"t_s": round(self.run.now(), 1), "phase": self.run.phase}
        for n, d in self.c.daemons.items():
            r = d.rss_kib()
            row[f"rss_mib_{n}"] = round(r / 1024, 1) if r else ""
            row[f"starts_{n}"] = d.starts
        try:
            row.update(self._db())
        except RuntimeError as e:  # PostgreSQL restarting: a gap in the series
            self.errors.append(f"{row['t_s']:.0f}s: {str(e)[:200]}")
        row.update(self._store())
        if self.ledger:
            try:
                self._ledger()
            except RuntimeError as e:
                self.errors.append(f"{row['t_s']:.0f}s: ledger: {str(e)[:200]}")
        self.rows.append(row)

    def _db(self):
        cols = ([f"rows_{t}" for t in COUNTED] + [f"bytes_{t}" for t in TABLES] + ["db_bytes", "ended_last_min"])
        q = ("SELECT " + ", ".join(
            [f"(SELECT count(*) FROM {t})" for t in COUNTED] + [f"pg_total_relation_size('{t}')" for t in TABLES] +
            ["pg_database_size(current_database())",
             "(SELECT count(*) FROM executions WHERE end_date >= "
             "(extract(epoch FROM clock_timestamp()) * 1e6)::bigint - 60000000)"]))
        vals = self.c.sql(q).strip().split("|")
        return dict(zip(cols, (int(v) for v in vals)))

    def _store(self):
        """The bucket's size as radosgw accounts it (its index), read through the monitor and the OSD:
        it answers while radosgw itself is down."""
        if not self.c.rgw_dir:
            return {}
        r = self.c.nsexec("a", "radosgw-admin", "-c", os.path.join(self.c.rgw_dir, "ceph.conf"), "bucket", "stats",
                          "--bucket", "tern-test", check=False, timeout=30)
        if r.returncode != 0:
            self.errors.append(f"{self.run.now():.0f}s: radosgw-admin bucket stats: exit {r.returncode}: "
                               f"{r.stderr.strip()[-200:]}")
            return {}
        usage = (json.loads(r.stdout).get("usage") or {}).get("rgw.main") or {}
        return {"store_bytes": usage.get("size_actual", 0), "store_objects": usage.get("num_objects", 0)}

    def _ledger(self):
        """Executions that ended since the last sample (with a margin), their task runs and their
        "chaos-done" lines: retention may purge them before the invariants are checked."""
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
        self.done_logs.update(done)
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

    # ---- results ------------------------------------------------------------------------------
    def at(self, t):
        """The workload's sample nearest to t seconds."""
        rows = [r for r in self.rows if r["phase"] == "workload"]
        return min(rows, key=lambda r: abs(r["t_s"] - t)) if rows else None

    def flat(self, duration):
        """(grown, detail): the sizes between a third of the workload and its last sample."""
        a, b = self.at(duration / 3), self.at(duration)
        if not a or not b or a is b:
            return [], "too few samples"
        grown, detail = [], []
        for k in FLAT:
            if k not in a or k not in b:
                detail.append(f"{k} not sampled")
                continue
            detail.append(f"{k} {human(k, a[k])}->{human(k, b[k])}")
            if b[k] > a[k] * 1.2:
                grown.append(k)
        return grown, f"at {a['t_s']:.0f}s and {b['t_s']:.0f}s: " + ", ".join(detail)

    def write(self, out):
        """series.csv in out; then soak.png when gnuplot is there. Returns what was written, or why not."""
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "series.csv")
        keys = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, restval="")
            w.writeheader()
            w.writerows(self.rows)
        written = [path]
        png, why = plot(path, os.path.join(out, "soak.png"), list(self.c.daemons), self.run.a.duration)
        written.append(png if png else f"no plot ({why})")
        return written


def human(key, v):
    if key.endswith("bytes"):
        return f"{v / 1048576:.1f}MiB"
    return str(v)


def plot(csv_path, png, daemons, duration):
    """RSS per daemon, executions ended per minute and the sizes over time, with gnuplot (the docs'
    plot; a run without gnuplot only says so). Returns (png, None) or (None, why)."""
    gp = shutil.which("gnuplot")
    if not gp:
        return None, "gnuplot is not installed: apt-get install gnuplot-nox"
    rss = ", ".join(f"'{csv_path}' using ($1/60):(column('rss_mib_{n}')) with lines lw 1.5 title '{n}'"
                    for n in daemons)
    script = f"""
set terminal png size 960,1080 font ",10"
set output '{png}'
set datafile separator ','
set termoption noenhanced
set key outside right
set grid
set lmargin 8
set rmargin 26
set multiplot layout 3,1
set xrange [0:{duration / 60 + 2:.1f}]
set yrange [0:*]
set arrow 1 from {duration / 60:.2f}, graph 0 to {duration / 60:.2f}, graph 1 nohead
set title 'VmRSS per daemon (MiB); a drop to a lower line is a restart'
plot {rss}
set title 'executions ended in the last minute'
plot '{csv_path}' using ($1/60):(column('ended_last_min')) with lines lw 2 title 'ended/min'
set title 'sizes (MiB); the vertical line is the end of the workload'
set xlabel 'minutes'
plot '{csv_path}' using ($1/60):(column('db_bytes')/1048576) with lines lw 2 title 'PostgreSQL database', \\
     '' using ($1/60):(column('bytes_logs')/1048576) with lines title 'logs table', \\
     '' using ($1/60):(column('bytes_task_runs')/1048576) with lines title 'task_runs table', \\
     '' using ($1/60):(column('bytes_executions')/1048576) with lines title 'executions table', \\
     '' using ($1/60):(column('store_bytes')/1048576) with lines lw 2 title 'object store'
unset multiplot
"""
    r = subprocess.run([gp], input=script, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(png):
        return None, f"gnuplot failed: {r.stderr.strip()[-300:]}"
    return png, None

