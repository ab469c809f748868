#!/usr/bin/env bash
# test-cli-python-deps: the `dependencies` of Kestra's Python tasks under 'tern run' in the sandbox:
# pip installs them from a package index ([worker] pip-index-url) into a virtual environment that
# tasks listing the same packages share, made once even when two tasks ask at once; a package pip
# cannot find fails the task with one line naming it and pip's output in the log (TAP).
# (An interpreter without pip: test-worker-tasks.)
# No real index is reachable here: the test writes two tiny wheels (a few hundred bytes, no build
# tool) and serves them on loopback with python3 -m http.server, a directory listing pip reads as a
# "simple" index. Environments are made without pip (the host's installs into them): about 2 s
# of CPU each; five are made.
set -u
: "${TERN:?}"

export PATH=/usr/local/bin:/usr/bin:/bin # the worker's: the python3 tasks get
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
python3 -c 'import venv' 2>/dev/null || { echo "1..0 # SKIP python3 has no venv module"; exit 0; }
# The worker installs with the host's pip into the environment (pip --python: pip >= 22.3).
python3 -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' 2>/dev/null ||
        { echo "1..0 # SKIP python3 has no pip >= 22.3 (Debian's python3-pip)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-python-deps.XXXXXX)
chmod 755 "$dir"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

# Two wheels made by hand (a wheel is a zip of the package and its .dist-info), in the index's layout.
python3 - "$dir/index/simple" <<'PY'
import base64, hashlib, os, sys, zipfile
root = sys.argv[1]
def wheel(name, version, code):
    files = {"%s/__init__.py" % name: code,
             "%s-%s.dist-info/METADATA" % (name, version): "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
             "%s-%s.dist-info/WHEEL" % (name, version): "Wheel-Version: 1.0\nGenerator: tern-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "%s-%s.dist-info/RECORD" % (name, version)
    lines = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        lines.append("%s,sha256=%s,%d" % (path, digest, len(text.encode())))
    files[record] = "\n".join(lines + [record + ",,"]) + "\n"
    os.makedirs(os.path.join(root, name), exist_ok=True)
    with zipfile.ZipFile(os.path.join(root, name, "%s-%s-py3-none-any.whl" % (name, version)), "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
wheel("tinygreet", "1.0", "def greet(who):\n    return 'hello ' + who\n")
wheel("tinycount", "2.0", "def count(s):\n    return len(s.split())\n")
PY

python3 -u -m http.server --bind 127.0.0.1 --directory "$dir/index" 0 >"$dir/http.log" 2>&1 &
server=$!
port=
for _ in $(seq 1 200); do # until it says where it listens
        port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$dir/http.log" | head -1)
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
done
[ -n "$port" ] || { echo "1..0 # SKIP python3 -m http.server did not start: $(head -c 300 "$dir/http.log")"; exit 0; }
export TERN_WORKER_PIP_INDEX_URL=http://127.0.0.1:$port/simple/

cat >"$dir/deps.yaml" <<'YAML'
id: python-deps
namespace: cli.test
tasks:
  - id: script
    type: io.kestra.plugin.scripts.python.Script
    dependencies:
      - tinygreet
    script: |
      import json, os, sys, tinygreet
      print("::" + json.dumps({"outputs": {"greeting": tinygreet.greet("tern"), "venv": os.environ.get("VIRTUAL_ENV", ""),
                                           "prefix": sys.prefix}}) + "::")
  - id: same
    type: io.kestra.plugin.scripts.python.Commands
    dependencies: ["tinygreet"]
    commands:
      - python -c 'import tinygreet; print(tinygreet.greet("again"))'
  - id: both
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: first
        type: io.kestra.plugin.scripts.python.Commands
        dependencies: [tinycount, tinygreet]
        commands:
          - python3 -c 'import tinycount, tinygreet; print(tinycount.count(tinygreet.greet("x")))'
      - id: second
        type: io.kestra.plugin.scripts.python.Commands
        dependencies: [tinygreet, tinycount]
        commands:
          - python3 -c 'import tinycount, tinygreet; print(tinycount.count(tinygreet.greet("y z")))'
  - id: plain
    type: io.kestra.plugin.scripts.python.Commands
    commands:
      - python3 -c 'import importlib.util as u; print("found" if u.find_spec("tinygreet") else "absent")'
YAML

# Environments of the tasks' own (not cached): a flow of its own, run once.
cat >"$dir/own.yaml" <<'YAML'
id: python-deps-own
namespace: cli.test
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: own1
        type: io.kestra.plugin.scripts.python.Commands
        dependencies: [tinygreet]
        dependencyCacheEnabled: false
        commands:
          - python -c 'import tinygreet; print(tinygreet.greet("one"))'
      - id: own2
        type: io.kestra.plugin.scripts.python.Commands
        dependencies: [tinycount]
        dependencyCacheEnabled: false
        commands:
          - python -c 'import sys, tinycount; print(sys.prefix, tinycount.count("a b c d"))'
YAML

cat >"$dir/missing.yaml" <<'YAML'
id: python-deps-missing
namespace: cli.test
tasks:
  - id: missing
    type: io.kestra.plugin.scripts.python.Script
    dependencies:
      - tinygreet
      - nosuchpkg==1.0
    script: print("never")
YAML

(cd "$dir" && "$TERN" run "$dir/deps.yaml" --sandbox-network -q -o json --include-logs >"$dir/run.json" 2>"$dir/run.err")
(cd "$dir" && "$TERN" run "$dir/own.yaml" --sandbox-network -q -o json --include-logs >"$dir/own.json" 2>>"$dir/run.err")
(cd "$dir" && "$TERN" run "$dir/deps.yaml" --sandbox-network -q -o json --include-logs >"$dir/again.json" 2>>"$dir/run.err")
(cd "$dir" && "$TERN" run "$dir/missing.yaml" --sandbox-network -q -o json --include-logs >"$dir/missing.json" 2>>"$dir/run.err")
ls -a "$dir/state/cache/python" >"$dir/cache.txt" 2>&1

python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
def load(name):
    try:
        return json.load(open(d + "/" + name))
    except (OSError, ValueError):
        return {}
n = failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
def view(run):
    runs = {t["taskId"]: t for t in run.get("taskRunList", [])}
    state = lambda task: runs.get(task, {}).get("state", {}).get("current")
    out = lambda task: runs.get(task, {}).get("outputs", {}).get("vars", {})
    logs = lambda task: [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == task]
    return state, out, logs
err = open(d + "/run.err").read()[:400]

run = load("run.json")
state, out, logs = view(run)
ok(run.get("state", {}).get("current") == "SUCCESS", "the flow of Python tasks with dependencies succeeds (%r)" % err)
cache = os.path.join(d, "state/cache/python")
ok(state("script") == "SUCCESS" and out("script").get("greeting") == "hello tern",
   "Script: the package from the index is imported: %r" % out("script"))
venv = out("script").get("venv", "")
ok(venv.startswith(cache + "/") and out("script").get("prefix") == venv,
   "Script: it runs in a virtual environment kept in the state directory's cache: %r" % out("script"))
ok(any(m == "Installing the Python dependencies 'tinygreet' with pip into " + venv for _, m in logs("script")),
   "Script: its log says what pip installs, and where")
ok(state("same") == "SUCCESS" and ("INFO", "hello again") in logs("same"), "Commands with the same dependencies: runs (%s)" % state("same"))
ok(("INFO", "Python dependencies 'tinygreet': installed already (%s)" % venv) in logs("same"),
   "Commands with the same dependencies: the environment is reused, not made again %r" % logs("same")[:3])
installs = [t for t in ("first", "second") if any(m.startswith("Installing the Python dependencies 'tinycount', 'tinygreet'") for _, m in logs(t))]
ok(state("first") == "SUCCESS" and state("second") == "SUCCESS" and ("INFO", "2") in logs("first") and ("INFO", "3") in logs("second"),
   "two parallel tasks with the same new dependencies (in another order) both run (%s, %s)" % (state("first"), state("second")))
ok(len(installs) == 1, "the environment both ask for at once is made once: by %r" % installs)
state, out, logs = view(load("own.json"))
ok(state("own2") == "SUCCESS" and any(lv == "INFO" and m.endswith("/.venv 4") and "/state/work/" in m for lv, m in logs("own2")),
   "dependencyCacheEnabled: false: an environment of the task's own, in its working directory %r" % logs("own2")[-2:])
ok(("INFO", "hello one") in logs("own1") and state("own2") == "SUCCESS",
   "in a WorkingDirectory, a task's own environment replaces the one an earlier task left (%s, %s)" % (state("own1"), state("own2")))
state, out, logs = view(run)
ok(("INFO", "absent") in logs("plain") and not any("dependencies" in m for _, m in logs("plain")),
   "a task without dependencies runs with the host's python alone")
entries = sorted(e for e in open(d + "/cache.txt").read().split() if e not in (".", ".."))
ok(len([e for e in entries if not e.endswith(".lock")]) == 2 and
   all(os.path.exists(os.path.join(cache, e, ".tern-ready")) for e in entries if not e.endswith(".lock")),
   "the cache holds one complete environment per dependency list: %r" % entries)

state, out, logs = view(load("again.json"))
ok(state("script") == "SUCCESS" and out("script").get("venv") == venv and
   not any(m.startswith("Installing") for _, m in logs("script") + logs("first") + logs("second")),
   "a later run finds every environment made already")

missing = load("missing.json")
state, out, logs = view(missing)
msgs = [m for _, m in logs("missing")]
ok(state("missing") == "FAILED" and "never" not in msgs, "a dependency the index does not have fails the task (%s)" % state("missing"))
ok(("ERROR", "pip cannot install Python dependency 'nosuchpkg==1.0': No matching distribution found for nosuchpkg==1.0") in logs("missing"),
   "the failure is one line naming the dependency: %r" % [m for lv, m in logs("missing") if lv == "ERROR"])
ok(any("Looking in indexes: http://127.0.0.1:" in m for m in msgs) and
   any("Could not find a version that satisfies the requirement nosuchpkg==1.0" in m for m in msgs),
   "pip's whole output is in the task's log")
ok(not any(e for e in sorted(os.listdir(cache)) if not e.endswith(".lock") and e not in entries),
   "a failed install leaves no environment in the cache")
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
