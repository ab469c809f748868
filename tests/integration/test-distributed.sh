#!/usr/bin/env bash
# test-distributed [postgres|mysql]: the executor and two workers as separate processes on one
# PostgreSQL (or MySQL/MariaDB) database.
# The Kestra corpus runs through them, and a worker killed with SIGKILL in the middle of a Sleep or
# a shell command loses its job to the other worker after its lease, with the resubmission on record;
# a ForEachItem's batches are split by one process and read by others.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

backend=${1:-postgres}
if [ "$backend" = mysql ]; then
        script=$here/../store/mariadb-cluster.sh url=${TERN_TEST_MYSQL_URL:-} server=MariaDB
else
        script=$here/../store/pg-cluster.sh url=${TERN_TEST_PG_URL:-} server=PostgreSQL
fi

scratch=$(mktemp -d /tmp/tern-dist.XXXXXX)
cluster=
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ -n "$cluster" ] && "$script" stop "$cluster" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT
export TERN_STATE_DIR=$scratch/state

if [ -z "$url" ]; then
        out=$("$script" start)
        rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP no $server server binaries"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! cannot start $server"; exit 1; }
        url=$(sed -n 1p <<<"$out"); cluster=$(sed -n 2p <<<"$out")
fi
if [ "$backend" = mysql ]; then
        url=$("$script" createdb "$url") || { echo "Bail out! cannot create a database"; exit 1; }
        psql_q() { "$script" query "$url" "$1"; }
else
        db=dist_$$_$RANDOM
        psql "$url" -q -c "CREATE DATABASE $db" >/dev/null || { echo "Bail out! cannot create a database"; exit 1; }
        url=${url/\/postgres\?//$db?}
        psql_q() { psql "$url" -qtAc "$1"; }
fi
"$TERN" db migrate --db "$url" >/dev/null
ok $? "schema migrated"

start() { # name, args...
        local name=$1; shift
        "$TERN" server "$@" --db "$url" >"$scratch/$name.log" 2>&1 &
        pids+=($!)
        eval "${name}_pid=$!"
}
start executor executor
start worker1 worker --workers 2 --lease PT2S
start worker2 worker --workers 2 --lease PT2S

# 1. The corpus through the separate processes (tern run --remote only creates and follows).
corpus=${KESTRA_COMPAT:-$here/../../../shared/kestra-compat}
if [ -f "$corpus/expectations.jsonl" ]; then
        python3 "$here/../compat/kestra-compat.py" --corpus "$corpus" --runner "$TERN run --remote" --db "$url" \
                --min-pass "${TERN_COMPAT_MIN_PASS:-88}" >"$scratch/compat.log" 2>&1
        rc=$?
        ok $rc "Kestra corpus on one executor and two workers: $(tail -1 "$scratch/compat.log")"
        # The flows that did not pass, with why (the floor leaves room for a few).
        grep -v "PASS\|^flow " "$scratch/compat.log" | sed 's/^/# /' 
else
        echo "ok $((++n)) - # SKIP no Kestra corpus at $corpus"
fi

# 2. SIGKILL of the worker running a long task: the other worker takes the job after the lease.
kill_and_resubmit() { # flow file, description
        local flow=$1 what=$2
        "$TERN" flow apply "$flow" --db "$url" >/dev/null
        kill -9 "$worker2_pid" 2>/dev/null; wait "$worker2_pid" 2>/dev/null
        local id
        id=$("$TERN" execution start test.resubmit "$(basename "$flow" .yaml)" --db "$url")
        # Wait for a worker to claim the job (the only worker left is worker1).
        local holder="" i
        for i in $(seq 1 200); do
                holder=$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL")
                [ -n "$holder" ] && break
                sleep 0.05
        done
        ok "$([ -n "$holder" ] && echo 0 || echo 1)" "$what: the job is claimed ($holder)"
        sleep 0.5
        kill -9 "$worker1_pid"; wait "$worker1_pid" 2>/dev/null
        start worker2 worker --workers 2 --lease PT2S
        "$TERN" execution wait "$id" --timeout PT60S --db "$url" -o json >"$scratch/exec.json"
        ok $? "$what: the execution succeeds after the worker's death"
        python3 - "$scratch/exec.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
tr = d["taskRunList"][0]
states = [a["state"]["current"] for a in tr["attempts"]]
assert states[0] == "RESUBMITTED" and states[-1] == "SUCCESS", states
PY
        ok $? "$what: the task run shows the resubmission (attempts $(python3 -c "import json;print([a['state']['current'] for a in json.load(open('$scratch/exec.json'))['taskRunList'][0]['attempts']])"))"
        "$TERN" execution logs "$id" --db "$url" | grep -q "resubmitted"
        ok $? "$what: the logs say the task was resubmitted"
        "$TERN" execution show "$id" --db "$url" | grep -q "2 (RESUBMITTED, SUCCESS)"
        ok $? "$what: tern execution show lists the attempts: $("$TERN" execution show "$id" --db "$url" | grep -o "[0-9] (.*)")"
        # worker2 is the live one now; start a new worker1 for the next round
        start worker1 worker --workers 2 --lease PT2S
}

cat >"$scratch/sleep-long.yaml" <<'YAML'
id: sleep-long
namespace: test.resubmit
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT3S
YAML
cat >"$scratch/shell-long.yaml" <<'YAML'
id: shell-long
namespace: test.resubmit
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 3
      - echo done
YAML
kill_and_resubmit "$scratch/sleep-long.yaml" "Sleep"
kill_and_resubmit "$scratch/shell-long.yaml" "shell Commands"

# 3. A WorkingDirectory's tasks share one directory although two workers take jobs: its later
#    tasks are pinned to the worker that ran the first one.
cat >"$scratch/wd.yaml" <<'YAML'
id: wd
namespace: test.resubmit
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["echo from-write > note.txt"]
      - id: pause
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT0.2S
      - id: read
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["cat note.txt"]
YAML
"$TERN" flow apply "$scratch/wd.yaml" --db "$url" >/dev/null
wd_ok=0
for i in 1 2 3 4 5; do
        id=$("$TERN" execution start test.resubmit wd --db "$url")
        "$TERN" execution wait "$id" --timeout PT60S --db "$url" >/dev/null || wd_ok=1
        "$TERN" execution logs "$id" --db "$url" | grep -q "from-write" || wd_ok=1
done
ok $wd_ok "WorkingDirectory: five runs on two workers, the last task always reads the first's file"

# 4. A worker that stops answering (SIGSTOP) loses its job to the other worker, then wakes up after
#    its own task ended: it must neither share nor remove its successor's working directory (both
#    share one state directory, as tern-worker@N do), and the successor runs as attempt 2.
cat >"$scratch/zombie.yaml" <<'YAML'
id: zombie
namespace: test.resubmit
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "attempt=$TERN_ATTEMPT"
      - sleep 4
      - echo ok > out.txt
      - echo "read=$(cat out.txt)"
YAML
"$TERN" flow apply "$scratch/zombie.yaml" --db "$url" >/dev/null
id=$("$TERN" execution start test.resubmit zombie --db "$url")
holder=""
for i in $(seq 1 200); do
        holder=$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL")
        [ -n "$holder" ] && break
        sleep 0.05
done
zpid=
for name in worker1 worker2; do
        pid_var=${name}_pid
        # A worker's instance id: worker-HOST-PID-RANDOM.
        [[ $holder == *"-${!pid_var}-"* ]] && zpid=${!pid_var}
done
if [ -n "$zpid" ]; then
        kill -STOP "$zpid"
        # Wait for the other worker to hold the job, then let the stopped one wake up while it runs.
        for i in $(seq 1 400); do
                now=$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL")
                [ -n "$now" ] && [ "$now" != "$holder" ] && break
                sleep 0.05
        done
        sleep 1.5
        kill -CONT "$zpid"
        "$TERN" execution wait "$id" --timeout PT60S --db "$url" >/dev/null
        rc=$?
        logs=$("$TERN" execution logs "$id" --db "$url")
        ok "$([ $rc = 0 ] && grep -q "read=ok" <<<"$logs" && echo 0 || echo 1)" \
                "a woken zombie leaves its successor's working directory alone (exit $rc)"
        ok "$(grep -q "attempt=2" <<<"$logs" && echo 0 || echo 1)" \
                "the successor runs as attempt 2 ($(grep -o "attempt=[0-9]*" <<<"$logs" | tr '\n' ' '))"
        [ $rc = 0 ] || sed 's/^/#   /' <<<"$logs" | tail -8
else
        ok 1 "the zombie test found the worker holding the job ($holder)"
fi

# 5. ForEachItem through the separate processes: a worker splits the file into batches in the shared
#    internal storage, the executor starts one subflow per batch (over several steps: more than 100),
#    and the workers run them; each subflow reads its own batch.
cat >"$scratch/batch.yaml" <<'YAML'
id: batch
namespace: test.items
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
cat >"$scratch/items.yaml" <<'YAML'
id: items
namespace: test.items
tasks:
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: [items.txt]
    commands:
      - seq 1 250 > items.txt
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ outputs.gen.outputFiles['items.txt'] }}"
    batch:
      rows: 2
    namespace: test.items
    flowId: batch
    inputs:
      items: "{{ taskrun.items }}"
      n: "{{ taskrun.iteration }}"
  - id: check
    type: io.kestra.plugin.core.log.Log
    message: "batches={{ outputs.each.numberOfBatches }} ok={{ outputs.each.iterations.SUCCESS }} first={{ kv('batch-0') }} last={{ kv('batch-124') }}"
YAML
"$TERN" flow apply "$scratch/batch.yaml" "$scratch/items.yaml" --db "$url" >/dev/null
id=$("$TERN" execution start test.items items --db "$url")
"$TERN" execution wait "$id" --timeout PT300S --db "$url" >/dev/null
rc=$?
logs=$("$TERN" execution logs "$id" --db "$url")
ok "$([ $rc = 0 ] && grep -q "batches=125 ok=125 first=1:2 last=249:2" <<<"$logs" && echo 0 || echo 1)" \
        "ForEachItem: 125 batches split by a worker, 125 subflows, each read its batch (exit $rc)"
[ $rc = 0 ] || sed 's/^/#   /' <<<"$logs" | tail -8

# 5b. Tasks ending together have their results, logs and metrics delivered in one transaction per
#     worker: three executions of 40 parallel Log tasks of three lines each lose and double nothing.
values=$(seq -s, 1 40)
cat >"$scratch/many.yaml" <<YAML
id: many
namespace: test.batch
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [$values]
    concurrencyLimit: 0
    tasks:
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: ["one {{ taskrun.value }}", "two {{ taskrun.value }}", "three {{ taskrun.value }}"]
YAML
"$TERN" flow apply "$scratch/many.yaml" --db "$url" >/dev/null
ids=()
for k in 1 2 3; do ids+=("$("$TERN" execution start test.batch many --db "$url")"); done
for id in "${ids[@]}"; do
        "$TERN" execution wait "$id" --timeout PT120S --db "$url" -o json >"$scratch/many-$id.json"
        rc=$?
        runs=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
logs = [t for t in d['taskRunList'] if t['taskId'] == 'log']
print(d['state']['current'], len(logs), sum(t['state']['current'] == 'SUCCESS' and len(t.get('attempts', [])) == 1 for t in logs))
" "$scratch/many-$id.json" 2>&1)
        lines=$(psql_q "SELECT count(*) || '/' || count(DISTINCT message) FROM logs WHERE execution_id = '$id' AND task_id = 'log'")
        ok "$([ $rc = 0 ] && [ "$runs" = "SUCCESS 40 40" ] && [ "$lines" = "120/120" ] && echo 0 || echo 1)" \
                "40 parallel tasks: each result taken once, 120 log lines each once (state, runs, single-attempt successes: $runs; lines, distinct: $lines)"
done

# 5c. A wake-up that never comes (a row made due behind the daemons' back: no NOTIFY, no wake-up
#     row) costs the fallback poll (at most a second when idle), not the rest of the hour. The
#     executor: a Pause's timer made due at once. A worker: a job made available while it waits.
cat >"$scratch/lost.yaml" <<'YAML'
id: lost
namespace: test.lost
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT1H
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
YAML
cat >"$scratch/lost-job.yaml" <<'YAML'
id: lostjob
namespace: test.lost
tasks:
  - id: only
    type: io.kestra.plugin.core.log.Log
    message: ran
YAML
"$TERN" flow apply "$scratch/lost.yaml" "$scratch/lost-job.yaml" --db "$url" >/dev/null
id=$("$TERN" execution start test.lost lost --db "$url")
timer=0
for i in $(seq 1 200); do
        [ "$(psql_q "SELECT state FROM executions WHERE id = '$id'")" = PAUSED ] &&
                timer=$(psql_q "SELECT count(*) FROM events WHERE execution_id = '$id'") && [ "$timer" = 1 ] && break
        sleep 0.05
done
sleep 1.5 # the executor is idle: its fallback poll is back at its longest
t0=$(date +%s%N)
psql_q "UPDATE events SET due_at = 0 WHERE execution_id = '$id'" >/dev/null
"$TERN" execution wait "$id" --timeout PT30S --db "$url" >/dev/null
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
ok "$([ $rc = 0 ] && [ "$timer" = 1 ] && [ $ms -lt 8000 ] && echo 0 || echo 1)" \
        "a timer made due without a wake-up is found by the executor's fallback poll ($ms ms, exit $rc)"
# Both workers stopped while the job is enqueued, then made to wait for it: it is not available yet
# when they look, and becomes so without a wake-up.
kill -STOP "$worker1_pid" "$worker2_pid"
id=$("$TERN" execution start test.lost lostjob --db "$url")
for i in $(seq 1 200); do
        [ "$(psql_q "SELECT count(*) FROM jobs WHERE execution_id = '$id'")" = 1 ] && break
        sleep 0.05
done
psql_q "UPDATE jobs SET available_at = 9000000000000000 WHERE execution_id = '$id'" >/dev/null
kill -CONT "$worker1_pid" "$worker2_pid"
sleep 1.5
t0=$(date +%s%N)
psql_q "UPDATE jobs SET available_at = 0 WHERE execution_id = '$id'" >/dev/null
"$TERN" execution wait "$id" --timeout PT30S --db "$url" >/dev/null
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
ok "$([ $rc = 0 ] && [ $ms -lt 8000 ] && echo 0 || echo 1)" \
        "a job made available without a wake-up is found by the workers' fallback poll ($ms ms, exit $rc)"

# 6. A worker that stops without grace (grace 0, or declared dead: "Stopping at once") hands its
#    running jobs back before it cancels their tasks: the job runs again on the other worker, the
#    execution succeeds with the resubmission on record, instead of ending KILLED. It has an idle
#    slot: its claimer must not take the released job again before the task is cancelled.
for name in worker1 worker2; do pid_var=${name}_pid; kill -9 "${!pid_var}" 2>/dev/null; wait "${!pid_var}" 2>/dev/null; done
start nograce worker --workers 2 --lease PT2S --grace PT0S
"$TERN" flow apply "$scratch/shell-long.yaml" --db "$url" >/dev/null
id=$("$TERN" execution start test.resubmit shell-long --db "$url")
holder=""
for i in $(seq 1 200); do
        holder=$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL")
        [ -n "$holder" ] && break
        sleep 0.05
done
start worker2 worker --workers 2 --lease PT2S
sleep 0.5
kill -TERM "$nograce_pid"; wait "$nograce_pid" 2>/dev/null
"$TERN" execution wait "$id" --timeout PT60S --db "$url" -o json >"$scratch/exec.json"
rc=$?
states=$(python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(d['state']['current'], [a['state']['current'] for a in d['taskRunList'][0]['attempts']])" "$scratch/exec.json" 2>&1)
ok "$([ $rc = 0 ] && [[ $states == "SUCCESS ['RESUBMITTED', 'SUCCESS']" ]] && echo 0 || echo 1)" \
        "a worker stopped with --grace PT0S hands its job back: $states (held by $holder)"
grep -qi "released 1 running job" "$scratch/nograce.log"
ok $? "it says it released the job: $(grep -o "Released.*" "$scratch/nograce.log")"

# No job or event left behind.
left=$(psql_q "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM events)")
ok "$([ "$left" = 0 ] && echo 0 || echo 1)" "queue tables are empty afterwards ($left rows)"

echo "1..$n"
[ $failed = 0 ]
