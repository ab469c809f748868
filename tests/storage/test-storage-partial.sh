#!/usr/bin/env bash
# test-storage-partial.sh: an inputFiles download that breaks off midway (the S3 look-alike
# flaky-s3.py cuts every read of its always-cut object) fails the task with a clear error, and
# leaves no part of the file behind for the next task of the same WorkingDirectory to take as whole.
set -uo pipefail
TERN=${TERN:?}
FLAKY=${TERN_FLAKY_S3:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

scratch=$(mktemp -d /tmp/tern-stpart.XXXXXX)
flaky_pid=
cleanup() {
        [ -n "$flaky_pid" ] && kill "$flaky_pid" 2>/dev/null && wait "$flaky_pid" 2>/dev/null
        rm -rf "$scratch"
}
trap cleanup EXIT

python3 "$FLAKY" >"$scratch/port" 2>/dev/null &
flaky_pid=$!
for _ in $(seq 100); do [ -s "$scratch/port" ] && break; sleep 0.05; done
port=$(cat "$scratch/port")
[ -n "$port" ] || { echo "Bail out! flaky-s3.py did not start"; exit 1; }
# flaky-s3.py checks no signature; the keys only have to be there.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

cat >"$scratch/cut.yaml" <<'EOF'
id: cut
namespace: t.storage.partial
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: fetch
        type: io.kestra.plugin.scripts.shell.Commands
        allowFailure: true
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        inputFiles:
          data.bin: "kestra:///t/storage/partial/cut/executions/{{ execution.id }}/tasks/up/x/always-cut"
        commands:
          - echo "the task ran although its input file was not whole"
      - id: look
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - 'if [ -e data.bin ]; then s=$(stat -c %s data.bin); else s=none; fi; printf "::{\"outputs\":{\"left\":\"%s\"}}::\n" "$s"'
EOF
TERN_STATE_DIR=$scratch/state "$TERN" run "$scratch/cut.yaml" --db "sqlite://$scratch/tern.db" \
        --storage "s3://tern-test?endpoint=http://127.0.0.1:$port&region=us-east-1" --sandbox off -o json --include-logs \
        >"$scratch/out.json" 2>"$scratch/err"
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>/dev/null; }
run() { json "$scratch/out.json" "[t for t in d['taskRunList'] if t['taskId'] == '$1'][0]$2"; }
state=$(run fetch "['state']['current']")
left=$(run look "['outputs']['vars']['left']")
ok "$([ "$state" = WARNING ] || [ "$state" = FAILED ] && echo 0 || echo 1)" \
        "the task whose input file broke off midway did not succeed (state ${state:-?})"
ok "$(grep -q "input file 'data.bin'" "$scratch/out.json" "$scratch/err" && grep -q "always-cut" "$scratch/out.json" "$scratch/err" &&
        ! grep -q "the task ran although" "$scratch/out.json" "$scratch/err" && echo 0 || echo 1)" \
        "it failed before its commands ran, saying which file and which object: $(grep -oh "input file 'data.bin'[^\"]*" "$scratch/out.json" "$scratch/err" | head -1)"
ok "$([ "$left" = none ] && echo 0 || echo 1)" \
        "the next task of the WorkingDirectory finds no part of data.bin (${left:-?})"
[ "$left" = none ] || { sed 's/^/# /' "$scratch/err" | tail -5; }

echo "1..$n"
[ $failed = 0 ]
