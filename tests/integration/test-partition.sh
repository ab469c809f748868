#!/usr/bin/env bash
# test-partition: a worker cut off from PostgreSQL (a relay that stops passing anything) stops its task once its lease runs out.
#  1. The store's connections probe an idle link after 10 s (libpq's default is the system's: 2 h),
#     and a URL's own setting wins.
#  2. Worker A (through the relay) runs a 20 s task; the relay freezes: A cannot renew the lease,
#     stops the task before the lease (6 s) is over and says why, in one line; the job runs on worker
#     B, the task run shows the resubmission, and the first run never finishes.
#  3. When the link is back, A reports nothing for the job it gave up.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERN=${TERN:?}
cluster_sh=$here/../store/pg-cluster.sh
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v ss >/dev/null || { echo "1..0 # SKIP no ss (iproute2)"; exit 0; }
scratch=$(mktemp -d /tmp/tern-partition.XXXXXX)
cluster=
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        [ -n "$cluster" ] && "$cluster_sh" stop "$cluster" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT
export TERN_STATE_DIR=$scratch/state
# Only the lease decides here: nobody is declared dead while the relay is frozen.
printf '[liveness]\ndead-after = 120s\n' >"$scratch/tern.conf"
export TERN_CONFIG=$scratch/tern.conf

out=$("$cluster_sh" start)
rc=$?
[ $rc = 77 ] && { echo "1..0 # SKIP no PostgreSQL server binaries"; exit 0; }
[ $rc = 0 ] || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
url=$(sed -n 1p <<<"$out"); cluster=$(sed -n 2p <<<"$out")
psql_q() { psql "$url" -qtAc "$1"; }
"$TERN" db migrate --db "$url" >/dev/null
ok $? "schema migrated"

coproc relay { exec python3 "$here/freeze-proxy.py" "$(cat "$cluster/port")"; }
relay_pid=$relay_PID
pids+=("$relay_pid")
read -r -t 10 rport <&"${relay[0]}"
[ -n "${rport:-}" ] || { echo "Bail out! the relay did not start"; exit 1; }
relay_url="postgresql://tern@127.0.0.1:$rport/postgres"

side=$scratch/side
mkdir -p "$side" && chmod 0777 "$side"
start() { # name, url, args...
        local name=$1 u=$2; shift 2
        "$TERN" server "$@" --db "$u" >>"$scratch/$name.log" 2>&1 &
        pids+=($!)
        eval "${name}_pid=$!"
}
# Whether a process's connections to the relay probe an idle link within a minute ("short"), later
# ("long"), or not at all (nothing). ss prints what is left: "59min", "1min9sec", "9.328ms" (sic:
# iproute2 6.1 writes seconds under a minute so).
keepalive_of() {
        ss -tnpo state established "( dport = :$rport )" 2>/dev/null | grep "pid=$1," | grep -o "timer:(keepalive,[^,]*" |
                awk '/min|h/ { long = 1 } { any = 1 } END { if (long) print "long"; else if (any) print "short" }'
}
wait_connected() { # pid
        local i
        for i in $(seq 1 100); do
                ss -tnp state established "( dport = :$rport )" 2>/dev/null | grep -q "pid=$1," && return 0
                sleep 0.1
        done
        return 1
}

# 1. Probes after 10 s by default; keepalives_idle in the URL wins.
start probe "$relay_url?keepalives_idle=3600" worker --workers 1
wait_connected "$probe_pid" && sleep 0.5
k=$(keepalive_of "$probe_pid")
kill "$probe_pid"; wait "$probe_pid" 2>/dev/null
start workera "$relay_url" worker --workers 1 --lease PT6S --sandbox-bind-rw "$side"
wait_connected "$workera_pid" && sleep 0.5
ka=$(keepalive_of "$workera_pid")
ok "$([ "$ka" = short ] && [ "$k" = long ] && echo 0 || echo 1)" \
        "an idle connection is probed within seconds by default (${ka:-no timer}), later when the URL says so (${k:-no timer})"

start executor "$url" executor
cat >"$scratch/long.yaml" <<YAML
id: long
namespace: test.partition
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo start >> $side/runs
      - sleep 20
      - echo end >> $side/runs
YAML
"$TERN" flow apply "$scratch/long.yaml" --db "$url" >/dev/null
ok $? "flow applied"

# 2. Worker A claims the job; then the link freezes and worker B (direct) is there to take over.
id=$("$TERN" execution start test.partition long --db "$url")
holder=
for i in $(seq 1 300); do
        holder=$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL" 2>/dev/null)
        [ -n "$holder" ] && break
        sleep 0.05
done
ok "$([ -n "$holder" ] && echo 0 || echo 1)" "worker A claimed the job ($holder)"
start workerb "$url" worker --workers 1 --lease PT6S --sandbox-bind-rw "$side"
sleep 1.5
kill -USR1 "$relay_pid"
t0=$(date +%s.%N)
stopped=
for i in $(seq 1 150); do
        stopped=$(grep "Lease of job .* of execution $id not renewed" "$scratch/workera.log")
        [ -n "$stopped" ] && break
        sleep 0.1
done
took=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
ok "$([ -n "$stopped" ] && echo 0 || echo 1)" "worker A stops the task once the lease runs out (after ${took}s frozen)"
ok "$(python3 -c "print(0 if $took <= 6 + 2 else 1)")" "within the lease and a margin (${took}s <= 8s)"
grep -q "not renewed for [0-9]* s: the database is unreachable; stopping the task, it will run elsewhere" <<<"$stopped"
ok $? "it says why, in one line: ${stopped#*: }"

"$TERN" execution wait "$id" --timeout PT90S --db "$url" -o json >"$scratch/long.json"
ok $? "the execution succeeds on worker B"
attempts=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(",".join(a["state"]["current"] for a in d["taskRunList"][0].get("attempts", [])))' "$scratch/long.json" 2>/dev/null)
ok "$([ "$attempts" = RESUBMITTED,SUCCESS ] && echo 0 || echo 1)" "the task run shows the resubmission (attempts $attempts)"
starts=$(grep -c '^start$' "$side/runs"); ends=$(grep -c '^end$' "$side/runs")
ok "$([ "$starts" = 2 ] && [ "$ends" = 1 ] && echo 0 || echo 1)" \
        "the first run was stopped: $starts start(s), $ends end(s) (a run left going would have ended first)"
"$TERN" execution logs "$id" --db "$url" >"$scratch/long.logs" 2>&1
grep -q "lease of worker .* expired without renewal; task resubmitted" "$scratch/long.logs"
ok $? "the execution's log says the lease expired (not that the worker was stopped or died)"

# 3. Back: A reports nothing for the job it gave up (no result, no failed attempt on record).
kill -USR2 "$relay_pid"
sleep 3
! grep -q "Cannot report the result\|reported after" "$scratch/workera.log"
ok $? "worker A, back, does not report the result of the task it stopped"
kill -0 "$workera_pid" 2>/dev/null
ok $? "worker A is still running"
grep -v "^tern[^ :]*: " "$scratch/workera.log" | head -5 | sed 's/^/# /'

echo "1..$n"
[ $failed = 0 ]
