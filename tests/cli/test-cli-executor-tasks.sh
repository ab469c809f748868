#!/usr/bin/env bash
# test-cli-executor-tasks: what the executor does itself, through `tern run` on the SQLite store: Exit,
# SetVariables and UnsetVariables, ForEachItem over a file of 10,000 lines, and kv() where the executor
# renders (If, Switch, labels, Subflow inputs) (TAP).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the JSON"; exit 0; }
dir=$(mktemp -d /tmp/tern-cli-executor-tasks.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

# run NAME [ARGS...]: tern run $dir/NAME.yaml, the final execution in $dir/NAME.json, its exit code in $rc.
run() {
        local name=$1; shift
        (cd "$dir" && "$TERN" run "$dir/$name.yaml" --sandbox off -q -o json --include-logs "$@" \
                > "$dir/$name.json" 2> "$dir/$name.err")
        rc=$?
}

# expect NAME PYTHON-EXPRESSION DESCRIPTION: the expression over e (the execution), runs (task id ->
# task run), out(task id, key) (an OutputValues' value) and logs (messages) is true.
expect() {
        python3 - "$dir/$1.json" "$2" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
runs = {t["taskId"]: t for t in e.get("taskRunList") or []}
logs = [l.get("message", "") for l in e.get("logs", [])]
def state(t):
    s = t.get("state")
    return s.get("current") if isinstance(s, dict) else s
def out(task, key):
    return ((runs.get(task) or {}).get("outputs") or {}).get("values", {}).get(key)
labels = {l["key"]: l["value"] for l in e.get("labels") or []}
ok = eval(sys.argv[2], {"e": e, "runs": runs, "logs": logs, "state": state, "out": out, "labels": labels})
if not ok:
    print("# execution:", json.dumps({"state": e.get("state", {}).get("current"),
          "tasks": {k: state(v) for k, v in runs.items()}})[:2000])
sys.exit(0 if ok else 1)
PY
        ok $? "$3"
}

cat > "$dir/exit.yaml" <<'YAML'
id: exit
namespace: cli.test
tasks:
  - id: if
    type: io.kestra.plugin.core.flow.If
    condition: "{{ false }}"
    then:
      - id: hello
        type: io.kestra.plugin.core.log.Log
        message: continuing
    else:
      - id: exit
        type: io.kestra.plugin.core.execution.Exit
        state: WARNING
  - id: end
    type: io.kestra.plugin.core.log.Log
    message: I'm ending
YAML
run exit
expect exit 'state(e) == "WARNING" and set(runs) == {"if", "exit"} and state(runs["if"]) == "WARNING"' \
        "Exit WARNING: the execution ends WARNING, the task after it never runs"

cat > "$dir/exit-killed.yaml" <<'YAML'
id: exit-killed
namespace: cli.test
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: slow
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 30"]
      - id: exit
        type: io.kestra.plugin.core.execution.Exit
        state: KILLED
  - id: end
    type: io.kestra.plugin.core.log.Log
    message: never
YAML
start=$(date +%s)
run exit-killed
expect exit-killed 'state(e) == "KILLED" and state(runs["slow"]) == "KILLED" and state(runs["exit"]) == "KILLED" and "end" not in runs' \
        "Exit KILLED: the running sibling is killed, the execution ends KILLED"
[ $(( $(date +%s) - start )) -lt 25 ] ; ok $? "without waiting for the sibling's 30 seconds"

cat > "$dir/variables.yaml" <<'YAML'
id: variables
namespace: cli.test
variables:
  name: World
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    variables:
      message: Hello
      name: "{{ 'Lo' ~ 'ïc' }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "from the worker {{ vars.message }} {{ vars.name }}"
  - id: unset
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [message]
  - id: output
    type: io.kestra.plugin.core.output.OutputValues
    values:
      message: "{{ vars.message ??? 'default' }} {{ vars.name }}"
YAML
run variables
expect variables 'state(e) == "SUCCESS" and any("from the worker Hello Loïc" in l for l in logs)' \
        "SetVariables: a worker's task renders {{ vars.x }} with them"
expect variables 'out("output", "message") == "default Loïc"' "UnsetVariables: the variable is gone, the others stay"
expect variables 'e.get("variables", {}).get("name") == "Loïc" and "message" not in e.get("variables", {})' \
        "the execution's document holds its variables"

# kv() where the executor renders: an If's condition, a Switch's value, Labels, a Subflow's inputs.
mkdir -p "$dir/flows"
cat > "$dir/flows/child.yaml" <<'YAML'
id: child
namespace: cli.test
inputs:
  - id: greeting
    type: STRING
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "child got {{ inputs.greeting }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ inputs.greeting }}"
YAML
cat > "$dir/kv.yaml" <<'YAML'
id: kv
namespace: cli.test
tasks:
  - id: set
    type: io.kestra.plugin.core.kv.Set
    key: go
    value: "yes"
  - id: set_branch
    type: io.kestra.plugin.core.kv.Set
    key: branch
    value: second
  - id: if
    type: io.kestra.plugin.core.flow.If
    condition: "{{ kv('go') == 'yes' }}"
    then:
      - id: then
        type: io.kestra.plugin.core.log.Log
        message: then ran
  - id: switch
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ kv('branch') }}"
    cases:
      second:
        - id: case
          type: io.kestra.plugin.core.log.Log
          message: case ran
    defaults:
      - id: default
        type: io.kestra.plugin.core.log.Log
        message: default ran
  - id: labels
    type: io.kestra.plugin.core.execution.Labels
    labels:
      from_kv: "{{ kv('go') }}"
  - id: missing
    type: io.kestra.plugin.core.flow.If
    condition: "{{ kv('nothing') is null }}"
    then:
      - id: null_ok
        type: io.kestra.plugin.core.log.Log
        message: missing is null
  - id: sub
    type: io.kestra.plugin.core.flow.Subflow
    namespace: cli.test
    flowId: child
    inputs:
      greeting: "{{ kv('go') }}"
YAML
run kv --flows "$dir/flows"
expect kv 'state(e) == "SUCCESS"' "kv() in the executor: the execution succeeds"
expect kv '"then" in runs' "an If's condition reads the store"
expect kv '"case" in runs and "default" not in runs' "a Switch's value too"
expect kv 'labels.get("from_kv") == "yes"' "Labels too"
expect kv '"null_ok" in runs' "a missing key is null"
expect kv '(runs["sub"].get("outputs") or {}).get("outputs", {}).get("greeting") == "yes"' "a Subflow's inputs too"

cat > "$dir/kv-missing.yaml" <<'YAML'
id: kv-missing
namespace: cli.test
tasks:
  - id: if
    type: io.kestra.plugin.core.flow.If
    condition: "{{ kv('nothing', 'cli.test', true) }}"
    then:
      - id: never
        type: io.kestra.plugin.core.log.Log
        message: never
YAML
run kv-missing
expect kv-missing 'state(e) == "FAILED" and any("No value found for key '"'nothing'"' in namespace '"'cli.test'"'" in l for l in logs)' \
        "errorOnMissing (third argument) true: the If fails, naming the key and namespace"

# ForEachItem: 10,000 lines by 97 are 104 batches (more than one step creates); each subflow reads its
# batch (a FILE input: the parent's file) and leaves its first line and line count in the kv store.
cat > "$dir/flows/batch.yaml" <<'YAML'
id: batch
namespace: cli.test
inputs:
  - id: items
    type: FILE
  - id: n
    type: INT
tasks:
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      batch.txt: "{{ inputs.items }}"
    commands:
      - echo "::{\"outputs\":{\"first\":\"$(head -n 1 batch.txt)\",\"lines\":$(wc -l < batch.txt)}}::"
  - id: keep
    type: io.kestra.plugin.core.kv.Set
    key: "batch-{{ inputs.n }}"
    value: "{{ outputs.count.vars.first }}:{{ outputs.count.vars.lines }}"
YAML
cat > "$dir/items.yaml" <<'YAML'
id: items
namespace: cli.test
tasks:
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: [items.txt]
    commands:
      - seq 1 10000 > items.txt
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ outputs.gen.outputFiles['items.txt'] }}"
    batch:
      rows: 97
    namespace: cli.test
    flowId: batch
    inputs:
      items: "{{ taskrun.items }}"
      n: "{{ taskrun.iteration }}"
  - id: check
    type: io.kestra.plugin.core.output.OutputValues
    values:
      first: "{{ kv('batch-0') }}"
      last: "{{ kv('batch-103') }}"
YAML
run items --flows "$dir/flows"
expect items 'state(e) == "SUCCESS"' "ForEachItem of 10,000 lines: SUCCESS"
expect items '(runs["each"].get("outputs") or {}).get("numberOfBatches") == 104' "104 batches of 97 lines"
expect items '(runs["each"].get("outputs") or {}).get("iterations", {}).get("SUCCESS") == 104 and runs["each"]["outputs"]["iterations"].get("RUNNING") == 0' \
        "104 subflow executions succeeded, none left running"
expect items 'out("check", "first") == "1:97" and out("check", "last") == "9992:9"' \
        "each subflow read its own batch: the first from line 1, the last from line 9992 with 9 lines"

echo "1..$n"
[ "$failed" = 0 ]
