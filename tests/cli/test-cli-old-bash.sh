#!/usr/bin/env bash
# test-cli-old-bash: Kestra's old script task io.kestra.core.tasks.scripts.Bash through `tern run`: its
# interpreter and interpreterArgs, exitOnFailed, warningOnStdErr, env, inputFiles, outputFiles (and their
# old names outputsFiles and files) given to the commands as {{ outputFiles.KEY }}, outputDirs, the
# ::{...}:: outputs, and the outputs Kestra 0.x gave it (exitCode, stdOutLineCount, stdErrLineCount,
# vars, outputFiles, files) (TAP).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the JSON"; exit 0; }
dir=$(mktemp -d /tmp/tern-cli-old-bash.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

run() {
        local name=$1; shift
        (cd "$dir" && "$TERN" run "$dir/$name.yaml" --sandbox off -q -o json --include-logs "$@" \
                > "$dir/$name.json" 2> "$dir/$name.err")
        rc=$?
}

# expect NAME PYTHON-EXPRESSION DESCRIPTION: over e (the execution), runs (task id -> task run),
# out(task, key) (a task's output), logs ([(level, message)]).
expect() {
        python3 - "$dir/$1.json" "$2" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
runs = {t["taskId"]: t for t in e.get("taskRunList") or []}
logs = [(l.get("level"), l.get("message", "")) for l in e.get("logs", [])]
def state(t):
    s = t.get("state")
    return s.get("current") if isinstance(s, dict) else s
def out(task, *keys):
    v = (runs.get(task) or {}).get("outputs") or {}
    for k in keys:
        v = (v or {}).get(k)
    return v
ok = eval(sys.argv[2], {"e": e, "runs": runs, "logs": logs, "state": state, "out": out})
if not ok:
    print("# execution:", json.dumps({"state": e.get("state", {}).get("current"),
          "tasks": {k: [state(v), v.get("outputs")] for k, v in runs.items()}, "logs": logs})[:3000])
sys.exit(0 if ok else 1)
PY
        ok $? "$3"
}

cat > "$dir/bash.yaml" <<'YAML'
id: bash
namespace: cli.test
tasks:
  - id: old
    type: io.kestra.core.tasks.scripts.Bash
    env:
      GREETING: hello
    inputFiles:
      in.txt: "from {{ flow.id }}"
    outputFiles: [first]
    outputsFiles: [second]
    files: [third]
    outputDirs: [dir]
    commands:
      - echo "$GREETING $(cat in.txt)"
      - echo 1 > {{ outputFiles.first }}
      - echo 2 > {{ outputFiles.second }}
      - echo 3 > {{ outputFiles.third }}
      - echo a > {{ outputDirs.dir }}/a.txt
      - test -d "{{ workingDir }}"
      - echo '::{"outputs":{"answer":42}}::'
  - id: use
    type: io.kestra.plugin.core.output.OutputValues
    values:
      first: "{{ read(outputs.old.outputFiles.first) }}"
      second: "{{ read(outputs.old.outputFiles.second) }}"
      third: "{{ read(outputs.old.files.third) }}"
      dir: "{{ read(outputs.old.outputFiles['dir/a.txt']) }}"
      answer: "{{ outputs.old.vars.answer }}"
YAML
run bash
expect bash 'state(e) == "SUCCESS"' "a Bash task runs: SUCCESS"
expect bash '("INFO", "hello from bash") in logs' "env and inputFiles reach the commands"
expect bash 'out("use", "values", "first") == "1\n" and out("use", "values", "second") == "2\n" and out("use", "values", "third") == "3\n"' \
        "outputFiles, outputsFiles and files: {{ outputFiles.KEY }} is a file the commands write, kept as outputs.old.outputFiles.KEY"
expect bash 'out("use", "values", "dir") == "a\n"' "outputDirs: the directory's files as outputFiles['KEY/name']"
expect bash 'out("use", "values", "answer") == "42"' "::{\"outputs\":...}:: lines become outputs.old.vars"
expect bash 'out("old", "exitCode") == 0 and out("old", "stdOutLineCount") == 2 and out("old", "stdErrLineCount") == 0' \
        "exitCode, stdOutLineCount (the ::{...}:: line counted) and stdErrLineCount"

cat > "$dir/fail.yaml" <<'YAML'
id: fail
namespace: cli.test
tasks:
  - id: old
    type: io.kestra.core.tasks.scripts.Bash
    commands:
      - "false"
      - echo not reached
YAML
run fail
expect fail 'state(e) == "FAILED" and not any(m == "not reached" for _, m in logs)' "exitOnFailed (default true): the first failing command fails the task"
expect fail 'any("failed with exit code 1" in m for _, m in logs)' "saying with which exit code"

cat > "$dir/lenient.yaml" <<'YAML'
id: lenient
namespace: cli.test
tasks:
  - id: old
    type: io.kestra.core.tasks.scripts.Bash
    exitOnFailed: false
    interpreter: /bin/bash
    interpreterArgs: ["-c"]
    commands:
      - "false"
      - echo "bash ${BASH_VERSION%%.*}" >&2
YAML
run lenient
expect lenient 'state(e) == "WARNING"' "exitOnFailed false runs on; a line on stderr makes it WARNING (warningOnStdErr, default true)"
expect lenient 'any(l == "WARN" and m.startswith("bash ") and m != "bash " for l, m in logs)' "interpreter /bin/bash with interpreterArgs runs the commands"
expect lenient 'out("old", "stdErrLineCount") == 1' "stdErrLineCount counts it"

cat > "$dir/quiet.yaml" <<'YAML'
id: quiet
namespace: cli.test
tasks:
  - id: old
    type: io.kestra.core.tasks.scripts.Bash
    warningOnStdErr: false
    commands:
      - echo err >&2
YAML
run quiet
expect quiet 'state(e) == "SUCCESS"' "warningOnStdErr false: stderr does not warn"

cat > "$dir/badkey.yaml" <<'YAML'
id: badkey
namespace: cli.test
tasks:
  - id: old
    type: io.kestra.core.tasks.scripts.Bash
    outputFiles: ["../x"]
    commands:
      - "true"
YAML
run badkey
expect badkey 'state(e) == "FAILED" and any("'"'../x'"' is not a valid name" in m for _, m in logs)' "an outputFiles key that is a path fails the task, naming it"

echo "1..$n"
[ "$failed" = 0 ]
