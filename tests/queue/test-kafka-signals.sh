#!/usr/bin/env bash
# test-kafka-signals: 'tern execution start|kill|resume|restart' on the Kafka queue backend ([queue]
# type = kafka in tern.conf): each becomes an event on execution-events keyed by the execution id,
# applied by the executor that holds the execution, and the outcome is read from the database the
# executor indexes into (SQLite here). An executor and a worker run as processes on librdkafka's
# mock cluster (tests/queue/kafka-mock.c). Kill with and without cascade to a subflow, resume of a
# paused execution, restart of a failed one (ended: no executor holds it any more), and a start
# (TAP).
set -u
. "$(dirname "$0")/kafka-test-lib.sh"

dir=$(mktemp -d /tmp/tern-kafka-signals.XXXXXX)
pids=()
trap 'kafka_cleanup; rm -rf "$dir"' EXIT

kafka_specs ks.
kafka_mock_start "${all[@]}"
kafka_conf ks.

flows=$dir/flows
mkdir -p "$flows"
cat > "$flows/nap.yaml" <<EOF
id: nap
namespace: ks.test
tasks:
  - id: sleep
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['touch $dir/napping-{{ execution.id }}', 'sleep 20']
EOF
cat > "$flows/parent.yaml" <<EOF
id: parent
namespace: ks.test
tasks:
  - id: child
    type: io.kestra.plugin.core.flow.Subflow
    namespace: ks.test
    flowId: nap
    wait: true
EOF
cat > "$flows/gate.yaml" <<EOF
id: gate
namespace: ks.test
tasks:
  - id: before
    type: io.kestra.plugin.core.debug.Return
    format: before
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: after
EOF
cat > "$flows/flaky.yaml" <<EOF
id: flaky
namespace: ks.test
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: first
  - id: check
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo {{ taskrun.id }} >> $dir/checks', 'test -e $dir/fixed']
EOF
"$TERN" flow apply "$flows" --db "$db" > /dev/null || { echo "Bail out! cannot apply the flows"; exit 1; }

kafka_daemons 4

# field, state, wait_state, wait_file: kafka-test-lib.sh.

# start: on Kafka, not in the database's queue (which nothing reads here).
out=$("$TERN" execution start ks.test gate --wait --until PAUSED --timeout PT60S -o json 2> "$dir/start.err")
gate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$out" 2>/dev/null)
ok "$([ -n "$gate" ] && [ "$(state "$gate")" = PAUSED ] && echo 0 || echo 1)" \
        "tern execution start runs it on Kafka: PAUSED at its Pause task (got ${gate:+$(state "$gate")}$(head -c 200 "$dir/start.err"))"
ok "$(grep -q "start executions with\|database queue" "$dir/start.err"; [ $? = 1 ] && echo 0 || echo 1)" "and says nothing of the database queue"

# resume: inputs nested past the limit are refused before any event is sent, as on the database
deep=$(python3 -c 'print("{\"a\":" * 70 + "1" + "}" * 70)')
"$TERN" execution resume "$gate" --inputs-json "{\"x\": $deep}" > /dev/null 2> "$dir/deep.err"; rc=$?
sleep 1
ok "$([ $rc = 1 ] && grep -q "nested more than 64 levels" "$dir/deep.err" && [ "$(state "$gate")" = PAUSED ] && echo 0 || echo 1)" \
        "resume with inputs nested 70 deep: refused, naming the limit, and the execution stays PAUSED (rc $rc; $(head -c 200 "$dir/deep.err"))"
"$TERN" execution resume "$gate" --wait --timeout PT60S > /dev/null 2> "$dir/resume.err"; rc=$?
ok "$([ $rc = 0 ] && [ "$(state "$gate")" = SUCCESS ] && echo 0 || echo 1)" "resume: the paused execution goes on to SUCCESS (got $(state "$gate"); $(head -c 200 "$dir/resume.err"))"
ok "$([ "$(field "$gate" '[t["outputs"]["value"] for t in d["taskRunList"] if t["taskId"] == "after"][0]')" = after ] && echo 0 || echo 1)" \
        "the task after the Pause ran"

# kill, with the cascade to the subflow it waits for
parent=$("$TERN" execution start ks.test parent 2> "$dir/parent.err")
child=
until=$((SECONDS + 60))
while [ $SECONDS -lt $until ] && [ -z "$child" ]; do
        child=$("$TERN" execution list --namespace ks.test --flow nap -o json --db "$db" 2>/dev/null |
                python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)["results"] if e.get("parentId") == sys.argv[1]))' "$parent" 2>/dev/null)
        [ -n "$child" ] || sleep 0.3
done
wait_file "$dir/napping-$child"
ok "$([ -n "$child" ] && [ -e "$dir/napping-$child" ] && echo 0 || echo 1)" "a parent waits for its subflow, whose task is running"
"$TERN" execution kill "$parent" --wait --timeout PT60S > /dev/null 2> "$dir/kill.err"
ok "$([ "$(state "$parent")" = KILLED ] && echo 0 || echo 1)" "kill: the parent ends KILLED (got $(state "$parent"); $(head -c 200 "$dir/kill.err"))"
wait_state "$child" KILLED
ok $? "the kill cascades: its subflow execution ends KILLED (got $(state "$child"))"

# kill --no-cascade: the child goes on
parent2=$("$TERN" execution start ks.test parent 2>> "$dir/parent.err")
child2=
until=$((SECONDS + 60))
while [ $SECONDS -lt $until ] && [ -z "$child2" ]; do
        child2=$("$TERN" execution list --namespace ks.test --flow nap -o json --db "$db" 2>/dev/null |
                python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)["results"] if e.get("parentId") == sys.argv[1]))' "$parent2" 2>/dev/null)
        [ -n "$child2" ] || sleep 0.3
done
wait_file "$dir/napping-$child2"
# (Not --wait: the parent's Subflow task waits for the child it did not kill.)
"$TERN" execution kill "$parent2" --no-cascade > /dev/null 2>> "$dir/kill.err"
sleep 3 # longer than the cascade took above
ok "$([ "$(state "$child2")" = RUNNING ] && echo 0 || echo 1)" "kill --no-cascade: its subflow execution goes on (got $(state "$child2"))"
"$TERN" execution kill "$child2" --wait --timeout PT60S > /dev/null 2>> "$dir/kill.err"
ok "$([ "$(state "$child2")" = KILLED ] && echo 0 || echo 1)" "and is killed on its own (got $(state "$child2"))"
wait_state "$parent2" KILLED
ok $? "the parent ends KILLED (got $(state "$parent2"))"

# restart: a failed execution has ended; no executor holds it any more
flaky=$("$TERN" execution start ks.test flaky --wait --timeout PT60S 2> /dev/null | head -1)
flaky=$("$TERN" execution list --namespace ks.test --flow flaky -o json --db "$db" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])' 2>/dev/null)
ok "$([ -n "$flaky" ] && [ "$(state "$flaky")" = FAILED ] && echo 0 || echo 1)" "a failing execution ends FAILED (got $(state "$flaky"))"
touch "$dir/fixed"
"$TERN" execution restart "$flaky" --wait --timeout PT60S > /dev/null 2> "$dir/restart.err"; rc=$?
ok "$([ $rc = 0 ] && [ "$(state "$flaky")" = SUCCESS ] && echo 0 || echo 1)" "restart: it runs its failed task again and ends SUCCESS (got $(state "$flaky"); $(head -c 200 "$dir/restart.err"))"
ok "$([ "$(wc -l < "$dir/checks")" = 2 ] && [ "$(field "$flaky" 'len([t for t in d["taskRunList"] if t["taskId"] == "first"])')" = 1 ] && echo 0 || echo 1)" \
        "only the failed task ran again (check ran $(wc -l < "$dir/checks") times)"

# what is refused is said, before anything is sent
"$TERN" execution resume "$flaky" > /dev/null 2> "$dir/refused.err"; rc=$?
ok "$([ $rc != 0 ] && grep -q "only PAUSED" "$dir/refused.err" && echo 0 || echo 1)" "resuming an execution that is not paused is refused: $(head -c 160 "$dir/refused.err")"
"$TERN" execution replay "$flaky" > /dev/null 2> "$dir/refused.err"; rc=$?
ok "$([ $rc != 0 ] && grep -q "replays are not sent to Kafka yet" "$dir/refused.err" && echo 0 || echo 1)" "a replay is refused, saying why: $(head -c 160 "$dir/refused.err")"
got=$("$TERN" execution show "$flaky" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"]["current"])' 2>/dev/null)
ok "$([ "$got" = SUCCESS ] && echo 0 || echo 1)" "tern execution show without --db reads tern.conf's database (got ${got:-nothing})"
"$TERN" execution kill no-such-execution > /dev/null 2> "$dir/refused.err"; rc=$?
ok "$([ $rc != 0 ] && grep -q "no execution 'no-such-execution'" "$dir/refused.err" && echo 0 || echo 1)" "killing an unknown execution is refused naming it"
[ "$failed" = 0 ] || dump_logs

echo "1..$n"
[ "$failed" = 0 ]
