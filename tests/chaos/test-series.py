#!/usr/bin/env python3
# test-series.py: the soak recorder's own logic without a cluster: the flat-or-not verdict, the ledger that keeps purged executions (and their full-disk failures) for the invariants, the CSV and the plot (or why there is none).
import csv
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # nothing left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import series  # noqa: E402

n = 0
failed = 0


def ok(cond, what):
    global n, failed
    n += 1
    failed += not cond
    print(f"{'ok' if cond else 'not ok'} {n} - {what}")


class FakeDaemon:
    pid = None

    def __init__(self, rss, starts=1):
        self.rss, self.starts = rss, starts

    def rss_kib(self):
        return self.rss


class FakeCluster:
    rgw_dir = None

    def __init__(self):
        self.daemons = {"exec-b": FakeDaemon(40 * 1024), "sched-b": FakeDaemon(None, 2)}
        self.db = []  # answers of sql(), in order

    def sql(self, q):
        return self.db.pop(0)


class FakeArgs:
    duration = 600.0


class FakeRun:
    def __init__(self):
        self.c, self.a, self.t, self.phase = FakeCluster(), FakeArgs(), 0.0, "workload"

    def now(self):
        return self.t


def db_row(executions, logs, db_bytes):
    # rows of executions, task_runs, logs; bytes of the seven tables; database bytes; ended in the last minute
    return "|".join(str(v) for v in [executions, 3 * executions, logs, 1, 2, 3, 4, 5, 6, 7, db_bytes, 60]) + "\n"


def recorder(sizes):
    run = FakeRun()
    rec = series.Recorder(run)
    for i, (x, logs, dbb) in enumerate(sizes):
        run.t = i * 60.0
        run.c.db.append(db_row(x, logs, dbb))
        rec.sample()
    return rec


def main():
    # Flat: the middle third of 600 s has the samples at 240, 300 and 360 s; the last, 420 to 600 s.
    rec = recorder([(10 * i, 100 * i, 1 << 20) for i in range(4)] + [(30, 300, 1 << 20)] * 3 + [(35, 350, 1 << 20)] * 4)
    grown, detail = rec.flat(600)
    ok(grown == [], f"sizes within 20% are flat ({detail})")
    ok("rows_executions 30->35" in detail and "db_bytes 1.0MiB->1.0MiB" in detail and "240-360s and 420-600s" in detail,
       "the detail shows both thirds")
    ok("store_bytes not sampled" in detail, "what was not sampled is said, not taken as flat")
    rec = recorder([(30, 300 + 100 * i, (1 << 20) + (i << 18)) for i in range(11)])
    grown, _ = rec.flat(600)
    ok(grown == ["rows_logs", "db_bytes"], f"steady growth over 20% is named: {grown}")
    # Noise is not growth: one low sample near a third of the run (as the bucket's 27 objects at
    # 600 s of seed 20261210, against 34 at the end and 27 to 41 throughout) does not make a rise.
    rec = recorder([(30, 300, 1 << 20)] * 3 + [(24, 240, 1 << 20)] + [(30, 300, 1 << 20)] * 6 + [(34, 340, 1 << 20)])
    grown, detail = rec.flat(600)
    ok(grown == [], f"a dip in one sample is not taken for growth ({detail})")
    rec = recorder([(30, 300, 1 << 20)])
    ok(rec.flat(600) == ([], "too few samples"), "one sample is too few to judge")

    # RSS columns: MiB, and empty for a daemon whose process is gone; starts count restarts.
    row = rec.rows[0]
    ok(row["rss_mib_exec-b"] == 40.0 and row["rss_mib_sched-b"] == "" and row["starts_sched-b"] == 2,
       "RSS in MiB per daemon, empty when not running, with its start count")

    # A failed query leaves a gap and a note, not a dead recorder.
    run = FakeRun()
    rec = series.Recorder(run)

    def down(q):
        raise RuntimeError("SQL failed: connection refused")
    run.c.sql = down
    rec.sample()
    ok(len(rec.rows) == 1 and "rows_executions" not in rec.rows[0] and "connection refused" in rec.errors[0],
       "PostgreSQL down: the sample has no sizes and the error is kept")

    # Ledger: executions purged by retention stay visible to the invariants; the database's rows win.
    run = FakeRun()
    rec = series.Recorder(run, ledger=True)
    run.c.db = [db_row(2, 10, 1),
                '{"id": "x1", "flow": "seq", "state": "SUCCESS"}\n{"id": "x2", "flow": "par", "state": "SUCCESS"}\n',
                '{"x": "x1", "flow": "seq", "id": "t1", "state": "SUCCESS", "doc": {}}\n',
                "t1\n", "x2\n"]
    rec.sample()
    execs = rec.merge_execs([{"id": "x2", "flow": "par", "state": "FAILED"}, {"id": "x3", "flow": "seq"}])
    ok(sorted(x["id"] for x in execs) == ["x1", "x2", "x3"] and
       [x["state"] for x in execs if x["id"] == "x2"] == ["FAILED"], "purged executions are merged back")
    ok([tr["id"] for tr in rec.merge_task_runs([])] == ["t1"] and rec.merge_done({"t9"}) == {"t1", "t9"},
       "their task runs and chaos-done lines too")
    ok(rec.merge_nospace({"x9"}) == {"x2", "x9"},
       "and which of them logged a full disk (a files execution FAILED so is expected after its purge too)")

    # CSV and plot.
    d = tempfile.mkdtemp(prefix="tern-test-series.")
    try:
        # While the run goes on, series.csv grows a row per sample (a long run can be watched).
        run = FakeRun()
        run.c.db = [db_row(7, 70, 1 << 20)]
        rec = series.Recorder(run, every=3600, out=d)
        rec.start()
        for _ in range(500):
            if rec.rows:
                break
            time.sleep(0.01)
        with open(os.path.join(d, "series.csv")) as f:
            rows = list(csv.DictReader(f))
        rec.stop()
        ok(len(rows) == 1 and rows[0]["rows_executions"] == "7" and rows[0]["store_bytes"] == "",
           "series.csv has each sample as it is taken")
        rec = recorder([(30, 300, 1 << 20)] * 3)
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = d  # no gnuplot there
        written = rec.write(d)
        os.environ["PATH"] = path
        with open(os.path.join(d, "series.csv")) as f:
            rows = list(csv.DictReader(f))
        ok(len(rows) == 3 and rows[2]["t_s"] == "120.0" and rows[2]["rows_logs"] == "300", "series.csv has every sample")
        ok(written[1].startswith("no plot (gnuplot is not installed"), f"without gnuplot: {written[1]}")
        if shutil.which("gnuplot"):
            png, why = series.plot(os.path.join(d, "series.csv"), os.path.join(d, "soak.png"), ["exec-b"], 120)
            ok(png and os.path.getsize(png) > 1000, f"gnuplot draws soak.png ({why or 'ok'})")
        else:
            ok(True, "gnuplot draws soak.png # SKIP gnuplot is not installed")
    finally:
        shutil.rmtree(d)
    print(f"1..{n}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
