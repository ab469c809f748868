#!/usr/bin/env bash
# test-kafka-scheduler: the scheduler on the Kafka queue backend ([queue] type = kafka). A Schedule
# trigger every second starts one execution per slot through execution-events, none doubled and
# none missed, across a SIGKILL and restart of the scheduler (then two of them: HA), a rewind of
# its recorded slots (what a crash between the brokers' acknowledgement and the commit leaves), a
# duplicate "created" event of an execution that has ended, and the brokers out of reach for
# longer than a firing waits for them (the firing rolled back, saying why, and started once they
# are back); a Flow trigger (conditions on the upstream flow and its state) fires once per
# upstream execution, its ends reported by the indexer. An executor, a worker, the indexer and the
# scheduler run as processes on librdkafka's mock cluster (tests/queue/kafka-mock.c), with the
# database in SQLite (TAP).
set -u
. "$(dirname "$0")/kafka-test-lib.sh"

dir=$(mktemp -d /tmp/tern-kafka-scheduler.XXXXXX)
pids=()
trap 'kafka_cleanup; rm -rf "$dir"' EXIT

kafka_specs kc.
# The mock takes commands on its standard input (a record to produce): fd 7 here.
kafka_mock_start -c 7 "${all[@]}"
kafka_conf kc.

flows=$dir/flows
mkdir -p "$flows"
# Each run appends its slot and id: a slot started twice, or an execution run twice, shows here.
cat > "$flows/tick.yaml" <<EOF
id: tick
namespace: kc.sched
triggers:
  - id: every-second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
tasks:
  - id: mark
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo "{{ trigger.date }} {{ execution.id }}" >> $dir/ticks']
EOF
cat > "$flows/upstream.yaml" <<EOF
id: upstream
namespace: kc.flows
inputs:
  - id: code
    type: INT
    defaults: 0
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['exit {{ inputs.code }}']
EOF
cat > "$flows/other.yaml" <<EOF
id: other
namespace: kc.flows
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: hello
EOF
cat > "$flows/downstream.yaml" <<EOF
id: downstream
namespace: kc.flows
triggers:
  - id: after-upstream
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: kc.flows
        flowId: upstream
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
tasks:
  - id: mark
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo "{{ trigger.executionId }} {{ execution.id }}" >> $dir/downstream']
EOF
# What the scheduler cannot do on Kafka yet is said per trigger.
cat > "$flows/passing.yaml" <<EOF
id: passing
namespace: kc.gaps
triggers:
  - id: on-running
    type: io.kestra.plugin.core.trigger.Flow
    states: [RUNNING]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: kc.gaps
        flowId: nothing
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: hello
EOF
"$TERN" flow apply "$flows" --db "$db" > /dev/null || { echo "Bail out! cannot apply the flows"; exit 1; }

kafka_daemons 8
start_scheduler() {
        kafka_daemon sc scheduler
        sched=$daemon_pid
}
start_scheduler

q() { python3 - "$dir/tern.db" "$@"; }
# The tick executions as the database shows them: "slot id state" per line.
ticks_db() {
        q <<'EOF'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
for (doc,) in c.execute("SELECT doc FROM executions WHERE namespace = 'kc.sched' AND flow_id = 'tick'"):
    d = json.loads(doc)
    print(d["trigger"]["variables"]["date"], d["id"], d["state"]["current"])
EOF
}
# wait_until SECONDS COMMAND...: until the command succeeds.
wait_until() { local until=$((SECONDS + $1)); shift; while [ $SECONDS -lt $until ]; do "$@" && return 0; sleep 0.3; done; return 1; }
ticks_at_least() { [ "$(ticks_db | wc -l)" -ge "$1" ]; }
# The slots (sorted, one a line) that do not follow the one before by one second.
slot_gaps() {
        python3 -c '
import sys, datetime
ts = [datetime.datetime.fromisoformat(l.strip().replace("Z", "+00:00")) for l in sys.stdin if l.strip()]
print(" ".join(str(b) for a, b in zip(ts, ts[1:]) if (b - a).total_seconds() != 1))'
}

wait_until 60 ticks_at_least 1
ok $? "the scheduler runs on Kafka: a Schedule slot starts an execution ($(grep -m1 -i "kafka" "$dir/sc.log" | head -c 200))"
ok "$(grep -q "cannot run on Kafka" "$dir/sc.log"; [ $? = 1 ] && echo 0 || echo 1)" "and it does not refuse [queue] type = kafka"
grep -q "Trigger 'on-running' of kc.gaps.passing: on the Kafka queue a Flow trigger fires on the end states it lists only" "$dir/sc.log"
ok $? "a Flow trigger on states executions pass through is named as not served on Kafka yet"

# Four seconds of slots, then the scheduler killed mid-run.
sleep 4
kill -9 "$sched"; wait "$sched" 2>/dev/null
sleep 2
# What a crash between the brokers' acknowledgement and the commit leaves: the last slots not
# recorded. The trigger's next slot is moved three seconds back; the rerun must start nothing twice.
before=$(ticks_db | wc -l)
q <<'EOF'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
for ns, f, t, state in c.execute("SELECT namespace, flow_id, trigger_id, state FROM triggers WHERE flow_id = 'tick'").fetchall():
    s = json.loads(state)
    s["next"] -= 3000000
    c.execute("UPDATE triggers SET state = ?, next_date = ? WHERE namespace = ? AND flow_id = ? AND trigger_id = ?",
              (json.dumps(s), s["next"], ns, f, t))
c.commit()
EOF
# Restarted with a second scheduler beside it (HA): they share the trigger rows as on the database.
start_scheduler
kafka_daemon sc2 scheduler
sched2=$daemon_pid
sleep 5

# The Flow trigger: three upstream executions that succeed, one that fails, one of another flow.
ups=()
for i in 1 2 3; do
        ups+=("$("$TERN" execution start kc.flows upstream 2>> "$dir/start.err" | head -1)")
done
"$TERN" execution start kc.flows upstream --inputs-json '{"code": 3}' > "$dir/failing.id" 2>> "$dir/start.err"
"$TERN" execution start kc.flows other > /dev/null 2>> "$dir/start.err"
kill -TERM "$sched" "$sched2"; wait "$sched" "$sched2" 2>/dev/null
all_ended() { ! ticks_db | grep -qv " SUCCESS$" && ticks_at_least 1; }
wait_until 60 all_ended
ok $? "every tick execution ends SUCCESS ($(ticks_db | grep -cv " SUCCESS$") not)"

slots=$(ticks_db | awk '{print $1}' | sort)
n_slots=$(echo "$slots" | wc -l)
ok "$([ "$n_slots" -ge 8 ] && echo 0 || echo 1)" "about ten seconds give one execution per second ($n_slots, $before before the kill)"
ok "$([ "$(echo "$slots" | uniq -d | wc -l)" = 0 ] && echo 0 || echo 1)" "no slot has two executions, two schedulers running for five seconds: $(echo "$slots" | uniq -d | head -3 | tr '\n' ' ')"
gaps=$(echo "$slots" | slot_gaps)
ok "$([ -z "$gaps" ] && echo 0 || echo 1)" "no slot is missed, the scheduler's downtime included (recoverMissedSchedules ALL): ${gaps:-none}"
runs=$(awk '{print $2}' "$dir/ticks" | sort)
ok "$([ "$(echo "$runs" | uniq -d | wc -l)" = 0 ] && [ "$(echo "$runs" | wc -l)" = "$n_slots" ] && echo 0 || echo 1)" \
        "each execution ran its task once ($(echo "$runs" | wc -l) runs for $n_slots executions; twice: $(echo "$runs" | uniq -d | head -3 | tr '\n' ' '))"

# A second "created" event of an ended execution (a scheduler that crashed after the brokers
# acknowledged it, restarted before the indexer wrote the execution): the executor refuses it.
first=$(ticks_db | sort | head -1 | awk '{print $2}')
doc=$(q "$first" <<'EOF'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
d = json.loads(c.execute("SELECT doc FROM executions WHERE id = ?", (sys.argv[2],)).fetchone()[0])
created = d["state"]["histories"][0]
d["state"] = {"current": "CREATED", "histories": [created], "startDate": created["date"]}
d["taskRunList"] = []
d.pop("outputs", None)
print(json.dumps({"type": "created", "execution": d}, separators=(",", ":")))
EOF
)
echo "produce kc.execution-events $first $doc" >&7
wait_until 10 grep -q "ok: produce" "$dir/mock.log"
ok $? "a duplicate 'created' event of ended execution $first is sent ($(grep "produce" "$dir/mock.log" | tail -1))"
sleep 4
ok "$([ "$(grep -c " $first\$" "$dir/ticks")" = 1 ] && [ "$(ticks_db | grep " $first " | awk '{print $3}')" = SUCCESS ] && echo 0 || echo 1)" \
        "the executor refuses it: the execution ran once and stays SUCCESS (ran $(grep -c " $first\$" "$dir/ticks") times)"

# Flow trigger.
downstream_count() { [ -e "$dir/downstream" ] && [ "$(wc -l < "$dir/downstream")" -ge "$1" ]; }
start_scheduler
wait_until 60 downstream_count 3
sleep 3 # a fourth (the failed upstream, the other flow, a double) would come within that
got=$(awk '{print $1}' "$dir/downstream" 2>/dev/null | sort | tr '\n' ' ')
want=$(printf '%s\n' "${ups[@]}" | sort | tr '\n' ' ')
ok "$([ -n "${ups[0]}" ] && [ "$got" = "$want" ] && echo 0 || echo 1)" \
        "the Flow trigger fired once per successful upstream execution, not for the failed one nor the other flow (got: $got; want: $want; $(head -c 200 "$dir/start.err"))"
down_db=$(q <<'EOF'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
print(" ".join(sorted(json.loads(d)["state"]["current"] for (d,) in c.execute("SELECT doc FROM executions WHERE flow_id = 'downstream'"))))
EOF
)
ok "$([ "$down_db" = "SUCCESS SUCCESS SUCCESS" ] && echo 0 || echo 1)" "the database shows three downstream executions, SUCCESS (got: $down_db)"
ok "$(cat "$dir/sc.log" "$dir/sc2.log" | grep -q "ERROR\|Cannot start execution\|step failed"; [ $? = 1 ] && echo 0 || echo 1)" "the schedulers logged no error"

# The brokers out of reach for longer than a firing waits for its acknowledgement: the firing is
# rolled back, saying why, and the slots are started once the brokers are back, none twice.
for b in 1 2 3; do echo "down $b" >&7; done
outage_said() { grep -q "Cannot start execution .* of kc.sched.tick on Kafka (tried again at the next step): cannot send to Kafka topic 'kc.execution-events'" "$dir/sc.log"; }
wait_until 40 outage_said
ok $? "a firing the brokers do not acknowledge is rolled back, naming the execution, the topic and why: $(grep -m1 "Cannot start execution" "$dir/sc.log" | head -c 300)"
for b in 1 2 3; do echo "up $b" >&7; done
last=$(ticks_db | sort | tail -1 | awk '{print $1}')
after_outage() { ticks_db | awk -v l="$last" '$1 > l && $3 == "SUCCESS"' | grep -q .; }
wait_until 60 after_outage
ok $? "the brokers back, the slots go on (after $last)"
kill -TERM "$sched"; wait "$sched" 2>/dev/null
wait_until 60 all_ended
slots=$(ticks_db | awk '{print $1}' | sort)
gaps=$(echo "$slots" | slot_gaps)
runs=$(awk '{print $2}' "$dir/ticks" | sort)
ok "$([ -z "$gaps" ] && [ "$(echo "$slots" | uniq -d | wc -l)" = 0 ] && [ "$(echo "$runs" | uniq -d | wc -l)" = 0 ] && [ "$(echo "$runs" | wc -l)" = "$(echo "$slots" | wc -l)" ] && echo 0 || echo 1)" \
        "across the outage every slot has one execution, run once ($(echo "$slots" | wc -l) slots; gaps: ${gaps:-none}; doubled: $(echo "$runs" | uniq -d | head -3 | tr '\n' ' '))"
[ "$failed" = 0 ] || dump_logs

echo "1..$n"
[ "$failed" = 0 ]
