#!/usr/bin/env bash
# test-cli-run-progress: tern run's live progress and final output follow the execution as stored, task run by task run, while its wait reads only what changed (TAP).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the JSON"; exit 0; }
dir=$(mktemp -d /tmp/tern-cli-progress.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

# Items that end at different times over many reads of the wait, each with a log line, a task run
# that fails and is retried (an ended task run taken up again), and a task after that reads them.
cat > "$dir/progress.yaml" <<'YAML'
id: progress
namespace: cli.test
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 60) }}"
    concurrencyLimit: 4
    tasks:
      - id: ret
        type: io.kestra.plugin.core.debug.Return
        format: "item {{ taskrun.value }}"
      - id: say
        type: io.kestra.plugin.core.log.Log
        message: "said {{ taskrun.value }}"
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    retry:
      type: constant
      interval: PT0.05S
      maxAttempts: 3
    commands:
      - "n=$(cat COUNT 2>/dev/null || echo 0); echo $((n+1)) > COUNT; [ $n -ge 1 ]"
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "last {{ outputs.ret['60'].value }}"
YAML
sed -i "s|COUNT|$dir/count|g" "$dir/progress.yaml"

(cd "$dir" && "$TERN" run "$dir/progress.yaml" --sandbox off > "$dir/table.out" 2> "$dir/table.err")
ok $? "tern run of a 60-item ForEach ends SUCCESS"
id=$(tail -n 1 "$dir/table.out" | cut -d' ' -f1)
(cd "$dir" && "$TERN" execution show "$id" -o json > "$dir/stored.json" 2> "$dir/show.err")
ok $? "the execution is stored ('tern execution show')"
rm -f "$dir/count"
(cd "$dir" && "$TERN" run "$dir/progress.yaml" --sandbox off -o json > "$dir/run.json" 2> "$dir/json.err")
ok $? "tern run -o json of the same flow ends SUCCESS"
id2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$dir/run.json")
(cd "$dir" && "$TERN" execution show "$id2" -o json > "$dir/stored2.json" 2>> "$dir/show.err")

py_failed=0
python3 - "$dir/table.out" "$dir/stored.json" "$dir/run.json" "$dir/stored2.json" <<'PY'
import json, re, sys
out = open(sys.argv[1]).read().splitlines()
stored = json.load(open(sys.argv[2]))
run, stored2 = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
n = 3
bad = 0
def ok(cond, what):
    global n, bad
    n += 1
    bad += 0 if cond else 1
    print(("ok" if cond else "not ok") + f" {n} - {what}")
# Progress lines: "  <elapsed>  <label> <STATE> [duration]"; log lines carry a '│'.
states = {}
seq = {}
for l in out:
    m = re.match(r"^\s+\S+\s{2}(\S.*?)\s+(CREATED|RUNNING|SUCCESS|FAILED|RETRYING|RETRIED|WARNING|KILLED)\b", l)
    if m and "│" not in l:
        seq.setdefault(m.group(1), []).append(m.group(2))
def label(tr):
    return tr["taskId"] + (f" [{tr['value']}]" if tr.get("value") is not None else "")
runs = stored["taskRunList"]
last = {}
for tr in runs:
    last[label(tr)] = tr["state"]["current"]
ok(len(runs) == 1 + 60 * 2 + 2 and all(s == "SUCCESS" for s in last.values()),
   f"the stored execution has its {len(runs)} task runs, all SUCCESS")
ok(set(seq) == set(last), "every stored task run, and no other, is in the progress")
ok(all(seq[k][-1] == last[k] for k in last), "each task run's last progress line is its stored end state")
ok(all(all(a != b for a, b in zip(v, v[1:])) for v in seq.values()),
   "a state is printed once per change, not at every read")
flaky = [tr for tr in runs if tr["taskId"] == "flaky"][0]
ok(len(flaky.get("attempts", [])) == 2, "the task that failed once was retried: %d attempts" % len(flaky.get("attempts", [])))
said = [l for l in out if "│" in l and "said " in l]
ok(sorted(int(l.split("said ")[1]) for l in said) == list(range(1, 61)), "each item's log line is printed once")
ok(out[-1].split()[1:] and out[-1].split()[1] == "SUCCESS" and out[-1].endswith(f"{len(runs)} task runs"),
   "the summary line counts the stored task runs: " + out[-1])
strip = lambda d: {k: v for k, v in d.items() if k != "ternEngine"}
ok([strip(t) for t in run["taskRunList"]] == [strip(t) for t in stored2["taskRunList"]]
   and run["state"] == stored2["state"] and run.get("outputs") == stored2.get("outputs"),
   "tern run -o json prints the execution as stored")
sys.exit(1 if bad else 0)
PY
[ $? = 0 ] || py_failed=1
n=$((n + 8))
echo "1..$n"
[ $failed = 0 ] && [ $py_failed = 0 ]
