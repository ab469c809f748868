#!/usr/bin/env bash
# test-cli-kestra-libs: a flow whose Node.js tasks call every function of Kestra's npm library
# (@kestra-io/libs) runs under 'tern run' in the sandbox; its outputs, log lines and metrics come out
# as Kestra shows them, in the run's JSON, 'tern execution show' and its metrics (TAP).
set -u
: "${TERN:?}" "${TERN_KESTRA_LIBS_DIR:?}"

command -v node >/dev/null || { echo "1..0 # SKIP node is not installed (scripts/install-deps test installs nodejs)"; exit 0; }
command -v npm >/dev/null || { echo "1..0 # SKIP npm is not installed (scripts/install-deps test installs it)"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the JSON"; exit 0; }

# The library from the npm registry, into the build directory (kept between runs).
libs=$TERN_KESTRA_LIBS_DIR
version=2.0.0
if [ "$(node -p "require('$libs/node_modules/@kestra-io/libs/package.json').version" 2>/dev/null)" != "$version" ]; then
        mkdir -p "$libs"
        if ! timeout 300 npm install --prefix "$libs" --no-save --no-audit --no-fund --loglevel=error "@kestra-io/libs@$version" \
                >"$libs/npm.log" 2>&1; then
                echo "1..0 # SKIP npm cannot install @kestra-io/libs@$version: $(grep -v "^ *$" "$libs/npm.log" | head -2 | tr "\n" " ")"
                exit 0
        fi
fi
# The tasks run as nobody in the sandbox, which sees the library through a read-only bind.
chmod -R a+rX "$libs"

dir=$(mktemp -d /tmp/tern-cli-kestra-libs.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

cat >"$dir/libs.yaml" <<YAML
id: kestra-libs
namespace: cli.test
tasks:
  - id: script
    type: io.kestra.plugin.scripts.node.Script
    env:
      NODE_PATH: $libs/node_modules
    script: |
      const Kestra = require('@kestra-io/libs');
      Kestra.outputs({greeting: 'hello', n: 42, nested: {list: [1, 2]}});
      Kestra.counter('rows', 3, {table: 'orders'});
      Kestra.counter('rows', 4, {table: 'orders'});
      Kestra.counter('rows', 1, {table: 'items'});
      Kestra.timer('load', 1.5, {step: 'parse'});
      Kestra.timer('wait', (done) => setTimeout(done, 120));
      Kestra.gauge('queue', 9);
      Kestra.gauge('queue', 5);
      const logger = Kestra.logger();
      logger.debug('a debug line');
      logger.info('an info line', 'a second one');
      logger.warn('a warn line');
      logger.error('an error line');
      logger.trace('a trace line');
      Kestra.assets({inputs: [{id: 'orders'}]});
      console.log(Kestra.format({note: 'plain'}));
  - id: commands
    type: io.kestra.plugin.scripts.node.Commands
    warningOnStdErr: false
    env:
      NODE_PATH: $libs/node_modules
    inputFiles:
      main.js: |
        const Kestra = require('@kestra-io/libs');
        Kestra.outputs({from: 'a file', argv: process.argv.slice(2)});
        Kestra.counter('files', 1);
        Kestra.logger().warn('warned from a file');
    beforeCommands:
      - node --version
    commands:
      - node main.js one two
  - id: python
    type: io.kestra.plugin.scripts.python.Script
    warningOnStdErr: false
    script: |
      # What the Python kestra package prints (it is not installable here: not in Debian, no PyPI).
      import json, sys
      def send(m, f=sys.stdout): print("::" + json.dumps(m) + "::", file=f, flush=True)
      send({"outputs": {"lang": "python"}})
      send({"metrics": [{"name": "rows", "type": "counter", "value": 2, "tags": {}}]})
      send({"logs": [{"level": "WARN", "message": "2024-01-01T00:00:00.000Z - careful"}]}, sys.stderr)
YAML

(cd "$dir" && "$TERN" run "$dir/libs.yaml" --sandbox-bind-ro "$libs" -q -o json --include-logs >"$dir/run.json" 2>"$dir/run.err")
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/run.json" 2>/dev/null)
"$TERN" execution show "$id" -o json >"$dir/show.json" 2>>"$dir/run.err"
"$TERN" execution show "$id" >"$dir/show.txt" 2>>"$dir/run.err"

# No container runs here: a task's image is said in its log, or refused with [sandbox] require-image.
cat >"$dir/image.yaml" <<YAML
id: image
namespace: cli.test
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Commands
    containerImage: python:3.12-slim
    commands:
      - python -c 'print(6 * 7)'
YAML
printf '[sandbox]\nrequire-image = yes\n' >"$dir/require.conf"
(cd "$dir" && "$TERN" run "$dir/image.yaml" -q -o json --include-logs >"$dir/image.json" 2>>"$dir/run.err")
(cd "$dir" && "$TERN" run "$dir/image.yaml" -c "$dir/require.conf" -q -o json --include-logs >"$dir/require.json" 2>>"$dir/run.err")

python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
def load(name):
    try:
        return json.load(open(d + "/" + name))
    except (OSError, ValueError):
        return {}
run, show, text = load("run.json"), load("show.json"), open(d + "/show.txt").read()
n = 0
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
ok(run.get("taskRunList") and show.get("id") == run.get("id"),
   "tern run runs the flow, tern execution show finds it (%s)" % open(d + "/run.err").read()[:300])
runs = {t["taskId"]: t for t in run.get("taskRunList", [])}
logs = lambda task: [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == task]
state = lambda task: runs.get(task, {}).get("state", {}).get("current")
out = lambda task: runs.get(task, {}).get("outputs", {}).get("vars", {})

# Node Script: every call of the library.
ok(state("script") == "WARNING", "the Script ends WARNING: its warn and error lines are on stderr (warningOnStdErr) (%s)" % state("script"))
ok(out("script") == {"greeting": "hello", "n": 42, "nested": {"list": [1, 2]}}, "Kestra.outputs(): outputs.script.vars %r" % out("script"))
l = logs("script")
for want in [("DEBUG", "a debug line"), ("INFO", "an info line"), ("INFO", "a second one"), ("WARN", "a warn line"),
             ("ERROR", "an error line")]:
    ok(want in l, "logger(): %s line %r" % want)
ok(not any(m.startswith("::{") and any(k in m for k in ('"logs"', '"metrics"', '"outputs"')) for _, m in l),
   "no ::{...}:: line of outputs, metrics or logs is logged as printed")
# console.trace prints "Trace: " before the line, and a stack: Kestra logs those raw too.
ok(any(m.startswith('Trace: ::{"logs":[{"level":"TRACE","message":"a trace line"}]}::') for _, m in l),
   "logger().trace(): console.trace's 'Trace: ::{...}::' line is no announcement, logged as printed")
ok(any(lv == "WARN" and "assets" in m for lv, m in l), "Kestra.assets(): dropped, with a WARN line")
ok(("INFO", '::{"note":"plain"}::') in l, "Kestra.format() of no known key: a plain line")

# Metrics, as GET /api/v1/metrics/{id} and Kestra's UI show them.
ms = show.get("metrics", [])
got = sorted((m["taskId"], m["type"], m["name"], json.dumps(m["tags"], sort_keys=True)) for m in ms)
ok(got == sorted([("script", "counter", "rows", '{"table": "orders"}'), ("script", "counter", "rows", '{"table": "items"}'),
                  ("script", "timer", "load", '{"step": "parse"}'), ("script", "timer", "wait", "{}"),
                  ("script", "gauge", "queue", "{}"), ("commands", "counter", "files", "{}"),
                  ("python", "counter", "rows", "{}")]),
   "one metric per task, type, name and tags: %r" % got)
val = {(m["taskId"], m["name"], json.dumps(m["tags"], sort_keys=True)): m["value"] for m in ms}
ok(val.get(("script", "rows", '{"table": "orders"}')) == 7.0, "Kestra.counter() twice with the same tags adds up: 7")
ok(val.get(("script", "load", '{"step": "parse"}')) == 1500.0, "Kestra.timer(name, 1.5): 1500 ms")
ok(100.0 <= (val.get(("script", "wait", "{}")) or 0) < 5000.0, "Kestra.timer(name, fn): the time fn took, in ms (%r)" % val.get(("script", "wait", "{}")))
ok(val.get(("script", "queue", "{}")) == 5.0, "Kestra.gauge() keeps the last value: 5")
m0 = ms[0] if ms else {}
ok(all(k in m0 for k in ["namespace", "flowId", "taskId", "executionId", "taskRunId", "type", "name", "value",
                         "timestamp", "tags"]) and m0.get("executionId") == run.get("id"), "metrics are Kestra's MetricEntry")
ok("Metrics" in text and "1500 ms" in text and '{"table":"orders"}' in text, "tern execution show lists them")

# Node Commands: a file of the working directory, warningOnStdErr: false.
ok(state("commands") == "SUCCESS", "Commands with warningOnStdErr: false ends SUCCESS (%s)" % state("commands"))
ok(out("commands") == {"from": "a file", "argv": ["one", "two"]}, "Commands: outputs of node main.js %r" % out("commands"))
l = logs("commands")
ok(("WARN", "warned from a file") in l and any(lv == "INFO" and m.startswith("v") for lv, m in l),
   "Commands: beforeCommands run first, the library's WARN line %r" % l)

# Python, with the lines its kestra package prints.
ok(state("python") == "SUCCESS" and out("python") == {"lang": "python"}, "python.Script: outputs (%s)" % state("python"))
ok(("WARN", "2024-01-01T00:00:00.000Z - careful") in logs("python"), "python.Script: a WARN entry from stderr")

image, req = load("image.json"), load("require.json")
ilogs = [l["message"] for l in image.get("logs", [])]
ok(image.get("state", {}).get("current") == "SUCCESS" and "42" in ilogs and
   any(m.startswith("Container image 'python:3.12-slim' is not used: tern runs the task on this worker's host") for m in ilogs),
   "containerImage: the task runs with the host's python, and a WARN line names the image")
rlogs = [l["message"] for l in req.get("logs", [])]
ok(req.get("state", {}).get("current") == "FAILED" and "42" not in rlogs and
   any("container image 'python:3.12-slim'" in m and "require-image = true" in m for m in rlogs),
   "[sandbox] require-image = yes: the task fails instead, saying why")
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
