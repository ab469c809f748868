#!/usr/bin/env bash
# test-cli-task-logs: a task's log is bounded per task run (lines and bytes), its outputs still arrive;
# errorLogs() reads the execution's ERROR lines (TAP).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the JSON"; exit 0; }
dir=$(mktemp -d /tmp/tern-cli-logs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

# run NAME COMMAND...: a Commands task 'noisy' running COMMAND, then an outputs line; a Log task
# after it prints that output. Leaves the execution with its logs in $dir/NAME.json, the peak
# memory (KiB) of tern run in $dir/NAME.rss.
run() {
        local name=$1; shift
        {
                printf 'id: %s\nnamespace: cli.test\ntasks:\n  - id: noisy\n' "$name"
                printf '    type: io.kestra.plugin.scripts.shell.Commands\n    commands:\n'
                for c in "$@"; do printf '      - %s\n' "$c"; done
                printf "      - echo '::{\"outputs\":{\"after\":\"still-here\"}}::'\n"
                printf '  - id: after\n    type: io.kestra.plugin.core.log.Log\n'
                printf '    message: "got {{ outputs.noisy.vars.after }}"\n'
        } > "$dir/$name.yaml"
        (cd "$dir" && /usr/bin/time -o "$dir/$name.rss" -f %M \
                "$TERN" run "$dir/$name.yaml" --sandbox off -q -o json --include-logs > "$dir/$name.json" 2> "$dir/$name.err")
}

# check NAME MAX_ROWS MAX_BYTES: what the logs of the noisy task must look like
check() {
        python3 - "$dir/$1.json" "$2" "$3" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
max_rows, max_bytes = int(sys.argv[2]), int(sys.argv[3])
noisy = [l for l in e.get("logs", []) if l.get("taskId") == "noisy"]
after = [l["message"] for l in e.get("logs", []) if l.get("taskId") == "after"]
size = sum(len(l["message"].encode()) for l in noisy[:-1])
problems = []
state = e.get("state")
if isinstance(state, dict):
    state = state.get("current")
if state != "SUCCESS":
    problems.append("execution %s" % state)
if not 1 < len(noisy) <= max_rows:
    problems.append("%d log rows for the task, want at most %d" % (len(noisy), max_rows))
if size > max_bytes:
    problems.append("%d bytes of log, want at most %d" % (size, max_bytes))
if not noisy or noisy[-1]["level"] != "WARN" or "Log limit reached" not in noisy[-1]["message"]:
    problems.append("last row %r" % ((noisy[-1]["level"], noisy[-1]["message"][:100]) if noisy else None))
if sum("Log limit reached" in l["message"] for l in noisy) != 1:
    problems.append("not exactly one limit line")
if after != ["got still-here"]:
    problems.append("outputs after the limit: %r" % after)
for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
PY
}

# 1. Many lines: 10000 kept, one WARN, then nothing but the outputs line, which still counts.
run lines 'seq 1 50000'
ok $? "a task printing 50000 lines runs to its end"
check lines 10001 $((10 * 1024 * 1024))
ok $? "its log stops at 10000 lines plus one WARN, and its outputs still arrive"

# 2. One 30 MB line without a newline: read in 64 KiB pieces, kept up to 10 MiB.
run longline 'head -c 30000000 /dev/zero | tr "\\0" a' 'echo'
ok $? "a task printing one 30 MB line runs to its end"
check longline 10001 $((10 * 1024 * 1024))
ok $? "its log stops at 10 MiB plus one WARN, and its outputs still arrive"
rss=$(tail -1 "$dir/longline.rss")
[ "$rss" -lt 400000 ]
ok $? "tern run's memory stays bounded while it drains the line (peak ${rss} KiB)"

# errorLogs() in an errors branch: the execution's ERROR lines so far, as Kestra's LogEntry maps.
cat > "$dir/errlogs.yaml" <<'YAML'
id: errlogs
namespace: cli.test
tasks:
  - id: boom
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - exit 3
errors:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "n={{ errorLogs() | length }} task={{ errorLogs()[0].taskId }} flow={{ errorLogs()[0].flowId }} msg={{ errorLogs()[0].message }}"
YAML
(cd "$dir" && "$TERN" run "$dir/errlogs.yaml" --sandbox off -q -o json --include-logs > "$dir/errlogs.json" 2> "$dir/errlogs.err")
report=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print([l["message"] for l in e.get("logs", []) if l.get("taskId") == "report"])' "$dir/errlogs.json" 2>&1)
[[ $report == "['n=1 task=boom flow=errlogs msg=Command failed with exit code 3']" ]]
ok $? "errorLogs() in an errors task lists the failed task's ERROR line ($report)"

echo "1..$n"
[ "$failed" = 0 ]
