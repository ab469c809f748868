"""plugin_tap.py: the checking half of a plugin test (plugin_check in plugin-test-lib.sh): TAP lines numbered on from the shell's, the run and what the test's server received."""
import json
import os
import sys

d, n, failed = sys.argv[1], int(sys.argv[2]), 0


def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))


def load(name):
    """A JSON file of the test's directory; {} when the run wrote none (its checks fail, naming what is missing)."""
    try:
        return json.load(open(os.path.join(d, name)))
    except (OSError, ValueError):
        return {}


run = load("run.json")
# One JSON line a request, as the test's server logs them.
got = [json.loads(line) for line in open(d + "/received")] if os.path.exists(d + "/received") else []
runs = {t["taskId"]: t for t in run.get("taskRunList", [])}
err = open(d + "/run.err").read()[:300] if os.path.exists(d + "/run.err") else ""


def state(t):
    return runs.get(t, {}).get("state", {}).get("current")


def out(t):
    return runs.get(t, {}).get("outputs", {})


def logs(t):
    return [(line["level"], line["message"]) for line in run.get("logs", []) if line.get("taskId") == t]


def done():
    print("1..%d" % n)
    sys.exit(1 if failed else 0)
