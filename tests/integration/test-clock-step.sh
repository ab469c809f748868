#!/usr/bin/env bash
# test-clock-step.sh: the real-time clock of one host stepped back and forward (clock-step-preload.c
# in that host's daemons, its offset rewritten in a file as the test goes; the monotonic clock and
# timers untouched, as a real step leaves them).
#  A. PostgreSQL, executor on the true clock, scheduler and worker on the stepped one: leases,
#     heartbeats and schedules follow the database's clock, so the steps change nothing: a task
#     running across them is not resubmitted, the worker is not declared dead, each slot of a
#     schedule every second runs once and none is missed. A worker whose clock is ahead hands a job
#     back as it stops: the resubmission shows on the task run (its event is due on the cluster's clock).
#  B. SQLite, one host (tern server standalone) whose clock steps: that clock is the schedule's.
#     A step back fires no slot twice; a step forward follows recoverMissedSchedules: ALL runs
#     every slot jumped over once, NONE skips them.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERN=${TERN:?}
cluster_sh=$here/../store/pg-cluster.sh
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

preload=${CLOCK_STEP_PRELOAD:-}
[ -n "$preload" ] && [ -e "$preload" ] || { echo "1..0 # SKIP no clock-step-preload library (CLOCK_STEP_PRELOAD)"; exit 0; }
scratch=$(mktemp -d /tmp/tern-clock.XXXXXX)
cluster=
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ -n "$cluster" ] && "$cluster_sh" stop "$cluster" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT
printf '[liveness]\nheartbeat = 1s\ndead-after = 8s\n' >"$scratch/tern.conf"
export TERN_CONFIG=$scratch/tern.conf
clock=$scratch/clock
echo "+0" >"$clock"
step() { echo "$1" >"$clock"; echo "# $(date +%T) the stepped host's clock at $1 s"; }
# Always in a subshell (a command substitution or a background job): exec, so that the job's pid
# is the daemon's own and the clean-up's kill reaches it (a function's job would leave it orphaned).
stepped() { LD_PRELOAD=$preload TERN_TEST_CLOCK_FILE=$clock exec "$@"; }
got=$(stepped date +%s); echo "-30" >"$clock"; sleep 0.1; got2=$(stepped date +%s); echo "+0" >"$clock"
[ $((got - got2)) -ge 29 ] || { echo "Bail out! the preloaded library does not step the clock ($got, $got2)"; exit 1; }

flows() { # db
        cat >"$scratch/every.yaml" <<'YAML'
id: every
namespace: t.clock
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "slot {{ trigger.date }}"
triggers:
  - id: second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
YAML
        sed -e 's/^id: every/id: none/' -e '$a\    recoverMissedSchedules: NONE' "$scratch/every.yaml" >"$scratch/none.yaml"
        cat >"$scratch/nap.yaml" <<'YAML'
id: nap
namespace: t.clock
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT24S
YAML
        sed -e 's/^id: nap/id: short/' -e 's/PT24S/PT3S/' "$scratch/nap.yaml" >"$scratch/short.yaml"
        for f in every none nap short; do
                "$TERN" flow apply "$scratch/$f.yaml" --db "$1" >/dev/null || { echo "Bail out! cannot apply flow '$f'"; exit 1; }
        done
}
# Slots (epoch seconds of trigger.date) of a flow, one a line, sorted; from "query" (SQL printing dates).
slots_of() { # query-command flow
        "$1" "SELECT doc FROM executions WHERE flow_id = '$2'" | python3 -c '
import json, sys, datetime
out = []
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    d = ((json.loads(line).get("trigger") or {}).get("variables") or {}).get("date")
    if d:
        out.append(int(datetime.datetime.fromisoformat(d.replace("Z", "+00:00")).timestamp()))
print("\n".join(str(s) for s in sorted(out)))'
}
# "dups missing first last" of a sorted list of slots.
slot_summary() {
        python3 -c '
import sys
s = [int(x) for x in sys.stdin.read().split()]
dups = len(s) - len(set(s))
missing = (s[-1] - s[0] + 1 - len(set(s))) if s else 0
print(dups, missing, len(s))'
}
wait_for() { # seconds, command...
        local t=$1; shift
        for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
        return 1
}

# ---- A. PostgreSQL: the scheduler's and the worker's host steps ----------------------------------
out=$("$cluster_sh" start)
rc=$?
if [ $rc = 77 ]; then
        echo "# no PostgreSQL server binaries: part A skipped"
elif [ $rc != 0 ]; then
        echo "Bail out! cannot start PostgreSQL"; exit 1
else
        url=$(sed -n 1p <<<"$out"); cluster=$(sed -n 2p <<<"$out")
        pq() { psql "$url" -qtAc "$1"; }
        "$TERN" db migrate --db "$url" >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
        flows "$url"
        mkdir -p "$scratch/a-ex" "$scratch/a-sc" "$scratch/a-wk"
        TERN_STATE_DIR=$scratch/a-ex "$TERN" server executor --db "$url" >"$scratch/a-ex.log" 2>&1 &
        pids+=($!)
        TERN_STATE_DIR=$scratch/a-sc stepped "$TERN" server scheduler --db "$url" >"$scratch/a-sc.log" 2>&1 &
        sc_pid=$!; pids+=($!)
        TERN_STATE_DIR=$scratch/a-wk stepped "$TERN" server worker --workers 4 --lease PT6S --sandbox off --db "$url" \
                >"$scratch/a-wk.log" 2>&1 &
        wk_pid=$!; pids+=($!)
        count_every() { [ "$(pq "SELECT count(*) FROM executions WHERE flow_id = 'every' AND state = 'SUCCESS'")" -ge 3 ]; }
        wait_for 60 count_every || echo "# the schedule did not start within 60 s"
        nap=$("$TERN" execution start t.clock nap --db "$url")
        held() { [ "$(pq "SELECT count(*) FROM jobs WHERE worker_id IS NOT NULL")" -ge 1 ]; }
        wait_for 30 held || echo "# the nap was not claimed within 30 s"
        step -20; sleep 10            # back, past the lease (6 s) and dead-after (8 s)
        step +15; sleep 5             # forward, 35 s at once
        step +0                       # back again
        "$TERN" execution wait "$nap" --timeout PT60S --db "$url" >/dev/null 2>&1
        sleep 3
        kill "$sc_pid"; wait "$sc_pid" 2>/dev/null
        sleep 2
        state=$(pq "SELECT state FROM executions WHERE id = '$nap'")
        attempts=$(pq "SELECT doc FROM task_runs WHERE execution_id = '$nap'" | python3 -c '
import json, sys
for line in sys.stdin:
    if line.strip():
        print(" ".join((a.get("state") or {}).get("current", "?") for a in json.loads(line).get("attempts") or []))')
        ok "$([ "$state" = SUCCESS ] && [ "$attempts" = SUCCESS ] && echo 0 || echo 1)" \
                "A: a task running while its worker's clock steps back 20 s and forward 35 s runs once: $state, attempts: ${attempts:-none}"
        ok "$(kill -0 "$wk_pid" 2>/dev/null && ! grep -qi "declared dead\|silent instance" "$scratch/a-wk.log" "$scratch/a-ex.log" && echo 0 || echo 1)" \
                "A: the stepped worker is not declared dead"
        ok "$(! grep -q "Re-queued\|re-queued [1-9]" "$scratch/a-ex.log" && echo 0 || echo 1)" "A: the executor re-queues no job"
        read -r dups missing total < <(slots_of pq every | slot_summary)
        ok "$([ "$dups" = 0 ] && [ "$missing" = 0 ] && [ "$total" -ge 25 ] && echo 0 || echo 1)" \
                "A: the stepped scheduler runs each slot once, none missed: $total slots, $dups twice, $missing missing"
        read -r dups missing total < <(slots_of pq none | slot_summary)
        ok "$([ "$dups" = 0 ] && [ "$missing" = 0 ] && echo 0 || echo 1)" \
                "A: ... also with recoverMissedSchedules NONE: $total slots, $dups twice, $missing missing"
        # A worker whose clock is ahead stops at once and hands its job back: the resubmission is
        # due at the cluster's time, so it is recorded before the next worker's result (an event
        # stamped by the worker's own clock waited 60 s, and the task run showed one attempt).
        kill "$wk_pid"; wait "$wk_pid" 2>/dev/null
        step +60
        TERN_STATE_DIR=$scratch/a-wk stepped "$TERN" server worker --workers 2 --grace PT0S --sandbox off --db "$url" \
                >"$scratch/a-wk2.log" 2>&1 &
        wk2_pid=$!; pids+=($!)
        short=$("$TERN" execution start t.clock short --db "$url")
        wait_for 30 held || echo "# the short nap was not claimed within 30 s"
        kill -TERM "$wk2_pid"; wait "$wk2_pid" 2>/dev/null
        mkdir -p "$scratch/a-wk3"
        TERN_STATE_DIR=$scratch/a-wk3 "$TERN" server worker --workers 2 --sandbox off --db "$url" >"$scratch/a-wk3.log" 2>&1 &
        pids+=($!)
        "$TERN" execution wait "$short" --timeout PT40S --db "$url" >/dev/null 2>&1
        step +0
        state=$(pq "SELECT state FROM executions WHERE id = '$short'")
        attempts=$(pq "SELECT doc FROM task_runs WHERE execution_id = '$short'" | python3 -c '
import json, sys
for line in sys.stdin:
    if line.strip():
        print(" ".join((a.get("state") or {}).get("current", "?") for a in json.loads(line).get("attempts") or []))')
        ok "$(grep -q "Released 1 running job" "$scratch/a-wk2.log" && [ "$state" = SUCCESS ] &&
              [ "$attempts" = "RESUBMITTED SUCCESS" ] && echo 0 || echo 1)" \
                "A: a job handed back by a worker whose clock is 60 s ahead shows its resubmission: $state, attempts: ${attempts:-none}"
        ok "$(! grep -q "ERROR: AddressSanitizer\|runtime error:" "$scratch"/a-*.log && echo 0 || echo 1)" "A: no sanitizer report"
        [ $failed = 0 ] || for f in "$scratch"/a-*.log; do sed "s|^|# $(basename "$f"): |" "$f" | tail -8; done
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        pids=()
        "$cluster_sh" stop "$cluster" >/dev/null 2>&1
        cluster=
fi

# ---- B. SQLite: the one host steps ---------------------------------------------------------------
echo "+0" >"$clock"
db="sqlite://$scratch/b.db"
sq() { python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print(*row)' "$scratch/b.db" "$1"; }
"$TERN" db migrate --db "$db" >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
flows "$db"
mkdir -p "$scratch/b"
TERN_STATE_DIR=$scratch/b stepped "$TERN" server standalone --workers 4 --sandbox off --db "$db" >"$scratch/b.log" 2>&1 &
sa_pid=$!; pids+=($!)
count_every() { [ "$(sq "SELECT count(*) FROM executions WHERE flow_id = 'every' AND state = 'SUCCESS'")" -ge 3 ]; }
wait_for 60 count_every || echo "# the schedule did not start within 60 s"
step -10; sleep 6                     # back 10 s: the schedule waits for slots it ran already
step +10; sleep 6                     # forward 20 s: 10 slots jumped over
kill "$sa_pid"; wait "$sa_pid" 2>/dev/null
read -r dups missing total < <(slots_of sq every | slot_summary)
ok "$([ "$dups" = 0 ] && [ "$missing" = 0 ] && [ "$total" -ge 12 ] && echo 0 || echo 1)" \
        "B: after a step back and a step forward, ALL runs each slot once, those jumped over too: $total slots, $dups twice, $missing missing"
read -r dups missing total < <(slots_of sq none | slot_summary)
ok "$([ "$dups" = 0 ] && [ "$missing" -ge 8 ] && echo 0 || echo 1)" \
        "B: NONE runs no slot twice and skips those jumped over: $total slots, $dups twice, $missing skipped"
ok "$(! grep -q "ERROR: AddressSanitizer\|runtime error:" "$scratch/b.log" && echo 0 || echo 1)" "B: no sanitizer report"
[ $failed = 0 ] || sed 's/^/# standalone: /' "$scratch/b.log" | tail -8

echo "1..$n"
[ $failed = 0 ]
