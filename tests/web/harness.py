# harness.py: what the webserver's tests share: TAP lines, a scratch directory, a throwaway store
# (SQLite, or a PostgreSQL database of their own with --pg, a MariaDB one with --mysql), the processes they start and their
# clean-up, a free loopback port. Imported by test-web.py, test-web-auth.py and test-limits.py.
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

TERN = os.environ["TERN"]
here = os.path.dirname(os.path.abspath(__file__))
use_pg = "--pg" in sys.argv
use_mysql = "--mysql" in sys.argv

_count = 0
_failed = 0


def ok(cond, what):
    global _count, _failed
    _count += 1
    if not cond:
        _failed += 1
    # One line: a description that carries a command's stderr must not break the TAP stream.
    what = " | ".join(str(what).splitlines())
    print(("ok" if cond else "not ok") + f" {_count} - {what}", flush=True)
    return cond


def failed():
    return _failed


def done():
    """The plan, and the exit status: 1 when a test failed."""
    print(f"1..{_count}")
    sys.exit(1 if _failed else 0)


class Setup:
    """A scratch directory, the environment tern runs with, and a migrated store at self.db."""

    def __init__(self, prefix, db_prefix, extra_env=None):
        self.scratch = tempfile.mkdtemp(prefix=prefix)
        self.env = dict(os.environ, TERN_STATE_DIR=self.scratch + "/state", **(extra_env or {}))
        self.procs = []
        self.cluster = None
        self.pg_url = None
        self.db = "sqlite://" + self.scratch + "/tern.db"
        self.mariadb = None
        if use_mysql:
            self._mysql()
            return
        if not use_pg:
            return
        url = os.environ.get("TERN_TEST_PG_URL")
        if not url:
            r = subprocess.run([here + "/../store/pg-cluster.sh", "start"], capture_output=True, text=True)
            if r.returncode == 77:
                self.cleanup()
                print("1..0 # SKIP no PostgreSQL server binaries")
                sys.exit(0)
            if r.returncode != 0:
                self.cleanup()
                print("Bail out! cannot start PostgreSQL")
                sys.exit(1)
            url, self.cluster = r.stdout.splitlines()[:2]
        name = f"{db_prefix}_{os.getpid()}"
        if subprocess.run(["psql", url, "-q", "-c", f"CREATE DATABASE {name}"], capture_output=True).returncode != 0:
            print("Bail out! cannot create a database")
            self.cleanup()
            sys.exit(1)
        self.db = self.pg_url = url.replace("/postgres?", f"/{name}?")
        subprocess.run([TERN, "db", "migrate", "--db", self.db], env=self.env, check=True, capture_output=True)

    def _mysql(self):
        script = here + "/../store/mariadb-cluster.sh"
        url = os.environ.get("TERN_TEST_MYSQL_URL")
        if not url:
            r = subprocess.run([script, "start"], capture_output=True, text=True)
            if r.returncode == 77:
                self.cleanup()
                print("1..0 # SKIP no MariaDB server binaries")
                sys.exit(0)
            if r.returncode != 0:
                self.cleanup()
                print("Bail out! cannot start MariaDB")
                sys.exit(1)
            url, self.mariadb = r.stdout.splitlines()[:2]
        r = subprocess.run([script, "createdb", url], capture_output=True, text=True)
        if r.returncode != 0:
            print("Bail out! cannot create a database")
            self.cleanup()
            sys.exit(1)
        self.db = r.stdout.strip()
        subprocess.run([TERN, "db", "migrate", "--db", self.db], env=self.env, check=True, capture_output=True)

    def sql(self, statement):
        """Run one statement on the store behind the API (what a test sets up by hand)."""
        if use_mysql:
            subprocess.run([here + "/../store/mariadb-cluster.sh", "query", self.db, statement], check=True,
                           capture_output=True)
        elif use_pg:
            subprocess.run(["psql", self.db, "-q", "-c", statement], check=True, capture_output=True)
        else:
            import sqlite3
            with sqlite3.connect(self.scratch + "/tern.db", timeout=30) as con:
                con.execute(statement)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.cluster:
            subprocess.run([here + "/../store/pg-cluster.sh", "stop", self.cluster], capture_output=True)
        if self.mariadb:
            subprocess.run([here + "/../store/mariadb-cluster.sh", "stop", self.mariadb], capture_output=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port
