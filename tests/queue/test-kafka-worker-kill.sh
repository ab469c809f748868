#!/usr/bin/env bash
# test-kafka-worker-kill: what reaches the worker on the Kafka queue backend from the executions'
# side (TAP). A kill stops the running task on its worker (worker-kills): the task's process is gone
# within seconds, the execution is KILLED and the worker's only slot takes the next job; a job killed
# while it waits in worker-jobs is not run when a slot fetches it. The tasks that act on executions
# run on the worker: Resume sends its event to execution-events (a paused execution goes on, an
# ended one is refused), Count and PurgeExecutions act on the indexer's database, and a flow with a
# concurrency limit is refused with a reason rather than run past its limit. An executor, one
# worker with one slot and the indexer run as processes on librdkafka's mock cluster
# (tests/queue/kafka-mock.c).
set -u
. "$(dirname "$0")/kafka-test-lib.sh"

dir=$(mktemp -d /tmp/tern-kafka-worker-kill.XXXXXX)
pids=()
cleanup() {
        kafka_cleanup
        # A task process the test failed to see stopped: by its own pid, never by name.
        for f in "$dir"/pid-*; do [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
        rm -rf "$dir"
}
trap cleanup EXIT

kafka_specs kw.
kafka_mock_start "${all[@]}"
kafka_conf kw.
cat >> "$dir/tern.conf" <<EOF
[liveness]
heartbeat = 1s
dead-after = 30s
EOF

flows=$dir/flows
mkdir -p "$flows"
# The task's shell becomes the sleep (exec): its pid is the process to see gone.
cat > "$flows/long.yaml" <<EOF
id: long
namespace: kw.test
tasks:
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo \$\$ > $dir/pid-{{ execution.id }}', 'exec sleep 60']
EOF
cat > "$flows/quick.yaml" <<EOF
id: quick
namespace: kw.test
tasks:
  - id: mark
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['touch $dir/ran-{{ execution.id }}']
EOF
cat > "$flows/gate.yaml" <<EOF
id: gate
namespace: kw.test
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['touch $dir/after-{{ execution.id }}']
EOF
cat > "$flows/resumer.yaml" <<EOF
id: resumer
namespace: kw.test
inputs:
  - id: target
    type: STRING
tasks:
  - id: resume
    type: io.kestra.plugin.core.execution.Resume
    executionId: "{{ inputs.target }}"
EOF
cat > "$flows/counter.yaml" <<EOF
id: counter
namespace: kw.test
tasks:
  - id: count
    type: io.kestra.plugin.core.execution.Count
    flows:
      - namespace: kw.test
        flowId: quick
    startDate: "2020-01-01T00:00:00Z"
    expression: "{{ count > 0 }}"
EOF
cat > "$flows/purger.yaml" <<EOF
id: purger
namespace: kw.test
tasks:
  - id: purge
    type: io.kestra.plugin.core.execution.PurgeExecutions
    namespace: kw.test
    flowId: quick
    endDate: "{{ now() }}"
EOF
cat > "$flows/limited.yaml" <<EOF
id: limited
namespace: kw.test
concurrency:
  limit: 1
  behavior: QUEUE
tasks:
  - id: mark
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['touch $dir/limited-{{ execution.id }}']
EOF
"$TERN" flow apply "$flows" --db "$db" > /dev/null || { echo "Bail out! cannot apply the flows"; exit 1; }

kafka_daemon ex executor
# One slot: a task that holds it on past its kill would keep the next job from running.
kafka_daemon wk worker --workers 1 --sandbox off
kafka_daemon ix indexer

submit() { "$TERN" kafka submit kw.test "$@" --timeout 20s 2>> "$dir/submit.log"; }
# field, state, wait_state: kafka-test-lib.sh. wait_file here waits for a pid written, not a file made.
wait_file() { local until=$((SECONDS + 60)); while [ $SECONDS -lt $until ]; do [ -s "$1" ] && return 0; sleep 0.2; done; return 1; }
alive() { kill -0 "$1" 2>/dev/null; }

# A kill stops the running task on its worker.
long1=$(submit long)
wait_file "$dir/pid-$long1"; rc=$?
pid=$(cat "$dir/pid-$long1" 2>/dev/null)
ok "$([ $rc = 0 ] && [ -n "$pid" ] && alive "$pid" && echo 0 || echo 1)" "the long task runs on the worker (pid ${pid:-none})"
wait_state "$long1" RUNNING 20
"$TERN" execution kill "$long1" > /dev/null 2> "$dir/kill.err"
killed_at=$SECONDS
gone=1
for _ in $(seq 1 100); do alive "$pid" || { gone=0; break; }; sleep 0.1; done
ok $gone "its process is gone within 10 s of the kill (after $((SECONDS - killed_at)) s; $(head -c 200 "$dir/kill.err"))"
wait_state "$long1" KILLED 30
ok $? "the execution ends KILLED (got $(state "$long1"))"
ok "$([ "$(field "$long1" '[t["state"]["current"] for t in d["taskRunList"]][0]')" = KILLED ] && echo 0 || echo 1)" \
        "its task run ends KILLED (got $(field "$long1" '[t["state"]["current"] for t in d["taskRunList"]]'))"
ok "$(grep -q "Stopping task .*: its execution was killed" "$dir/wk.log" && echo 0 || echo 1)" "the worker says why it stops the task"
# The worker's only slot is free again: the next job runs well before the sleep would have ended.
quick1=$(submit quick)
wait_state "$quick1" SUCCESS 30; rc=$?
ok $rc "the worker's only slot takes the next job: it ends SUCCESS $((SECONDS - killed_at)) s after the kill (got $(state "$quick1"))"
ok "$([ $((SECONDS - killed_at)) -lt 45 ] && [ -e "$dir/ran-$quick1" ] && echo 0 || echo 1)" "well before the killed task's 60 s sleep would have ended"
[ $rc = 0 ] || dump_logs

# A job killed while it waits in worker-jobs (the only slot is busy) is not run when it is fetched.
long2=$(submit long)
wait_file "$dir/pid-$long2"
pid2=$(cat "$dir/pid-$long2" 2>/dev/null)
quick2=$(submit quick)
wait_state "$quick2" RUNNING 20 || wait_state "$quick2" CREATED 5
"$TERN" execution kill "$quick2" > /dev/null 2>> "$dir/kill.err"
wait_state "$quick2" KILLED 30
ok $? "a waiting execution is killed (got $(state "$quick2"))"
"$TERN" execution kill "$long2" > /dev/null 2>> "$dir/kill.err"
wait_state "$long2" KILLED 30
ok $? "the one holding the slot is killed too (got $(state "$long2"))"
for _ in $(seq 1 100); do grep -q "not run: its execution was killed before it started" "$dir/wk.log" && break; sleep 0.2; done
ok "$(grep -q "not run: its execution was killed before it started" "$dir/wk.log" && echo 0 || echo 1)" \
        "the worker fetches the killed job and does not run it"
ok "$([ ! -e "$dir/ran-$quick2" ] && echo 0 || echo 1)" "its task left no mark"
ok "$([ -n "$pid2" ] && ! alive "$pid2" && echo 0 || echo 1)" "the first task's process is gone"

# Resume: the task sends the resume event on Kafka; the paused execution goes on.
gate=$(submit gate)
wait_state "$gate" PAUSED 30
ok $? "an execution stops at its Pause (got $(state "$gate"))"
res=$(submit resumer -i target="$gate")
wait_state "$res" SUCCESS 30
ok $? "a Resume task of another execution succeeds (got $(state "$res"))"
wait_state "$gate" SUCCESS 30
ok $? "the paused execution goes on to SUCCESS (got $(state "$gate"))"
ok "$([ -e "$dir/after-$gate" ] && echo 0 || echo 1)" "the task after its Pause ran"
ok "$("$TERN" execution logs "$res" --db "$db" 2>/dev/null | grep -q "Execution $gate resumed" && echo 0 || echo 1)" \
        "the Resume task logs the execution it resumed"
# A Resume of an execution that is not paused fails with the reason, as on the database.
res2=$(submit resumer -i target="$gate")
wait_state "$res2" FAILED 30
ok $? "a Resume task of an ended execution fails (got $(state "$res2"))"
ok "$("$TERN" execution logs "$res2" --db "$db" 2>/dev/null | grep -q "No paused task found on execution $gate (it is SUCCESS)" && echo 0 || echo 1)" \
        "saying that the execution is not paused"

# Count reads the indexer's database (quick ran once, and was killed once).
cnt=$(submit counter)
wait_state "$cnt" SUCCESS 30
ok $? "a Count task runs on the worker (got $(state "$cnt"); $("$TERN" execution logs "$cnt" --db "$db" 2>/dev/null | tail -1))"
got=$(field "$cnt" '[t.get("outputs", {}).get("total") for t in d["taskRunList"]][0]')
ok "$([ "$got" = 2 ] && echo 0 || echo 1)" "it counts the flow's executions in the indexer's database: 2 (got ${got:-nothing})"

# PurgeExecutions deletes ended executions from the indexer's database; an ended execution gets no
# new state record, so the indexer does not write it back.
pur=$(submit purger)
wait_state "$pur" SUCCESS 30
ok $? "a PurgeExecutions task runs on the worker (got $(state "$pur"); $("$TERN" execution logs "$pur" --db "$db" 2>/dev/null | grep -m1 ERROR))"
got=$(field "$pur" '[t.get("outputs", {}).get("executionsCount") for t in d["taskRunList"]][0]')
sleep 2 # (the indexer's batches after the purge)
left=$("$TERN" execution list --namespace kw.test --flow quick -o json --db "$db" 2>/dev/null |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["results"]))' 2>/dev/null)
ok "$([ "$got" = 2 ] && [ "$left" = 0 ] && echo 0 || echo 1)" \
        "it purges the flow's 2 executions, and they stay purged (purged ${got:-none}, ${left:-?} left)"

# A flow with a concurrency limit is refused on Kafka, with the reason.
lim=$(submit limited)
wait_state "$lim" FAILED 30
ok $? "an execution of a flow with a concurrency limit is refused: FAILED (got $(state "$lim"))"
ok "$("$TERN" execution logs "$lim" --db "$db" 2>/dev/null | grep -q "concurrency limit (1), which the Kafka queue backend does not keep yet" && echo 0 || echo 1)" \
        "its log says why"
ok "$([ ! -e "$dir/limited-$lim" ] && echo 0 || echo 1)" "its task did not run"

[ "$failed" = 0 ] || dump_logs
echo "1..$n"
[ "$failed" = 0 ]
