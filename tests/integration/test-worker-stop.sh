#!/usr/bin/env bash
# test-worker-stop.sh: a worker told to stop (SIGTERM) while a task runs waits out its grace period
# quietly: it keeps passing kills on and renewing leases, but does not spin. A worker stopped with
# SIGSTOP past its lease says, once resumed, that it did not run, not that the database was
# unreachable. On SQLite, an executor and workers as separate processes.
set -uo pipefail
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

scratch=$(mktemp -d /tmp/tern-wstop.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        rm -rf "$scratch"
}
trap cleanup EXIT
db="sqlite://$scratch/tern.db"
mkdir -p "$scratch/ex" "$scratch/wk"
"$TERN" db migrate --db "$db" >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
TERN_STATE_DIR=$scratch/ex "$TERN" server executor --db "$db" >"$scratch/ex.log" 2>&1 &
pids+=($!)
TERN_STATE_DIR=$scratch/wk "$TERN" server worker --workers 1 --grace PT3S --sandbox off --db "$db" >"$scratch/wk.log" 2>&1 &
pids+=($!)
wk_pid=$!
cat >"$scratch/nap.yaml" <<'YAML'
id: nap
namespace: t.worker.stop
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
YAML
"$TERN" flow apply "$scratch/nap.yaml" --db "$db" >/dev/null || { echo "Bail out! cannot apply the flow"; exit 1; }
id=$("$TERN" execution start t.worker.stop nap --db "$db")
# held: a worker holds the job (task runs show RUNNING only once done)
held() { python3 -c "import sqlite3, sys; sys.exit(0 if sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM jobs WHERE worker_id IS NOT NULL').fetchone()[0] else 1)" "$scratch/tern.db" 2>/dev/null; }
running=
for _ in $(seq 1 300); do
        held && { running=True; break; }
        sleep 0.1
done
ok "$([ "$running" = True ] && echo 0 || echo 1)" "the Sleep runs on the worker"
sleep 0.5

# CPU time (user + system, clock ticks) of the worker: it idles through its grace period.
cpu() { awk '{print $14 + $15}' "/proc/$wk_pid/stat"; }
hz=$(getconf CLK_TCK)
start=$(date +%s)
kill -TERM "$wk_pid"
sleep 0.3
c0=$(cpu)
sleep 2
c1=$(cpu)
used=$((c1 - c0))
ok "$([ -n "$c0" ] && [ -n "$c1" ] && [ $used -lt $((hz / 4)) ] && echo 0 || echo 1)" \
        "the stopping worker idles through its grace period: $used of $((2 * hz)) ticks of CPU in 2 s"
wait "$wk_pid" 2>/dev/null
took=$(($(date +%s) - start))
ok "$([ $took -lt 15 ] && echo 0 || echo 1)" "and exits after its 3 s grace ($took s)"

# SIGSTOP past the lease (2 s), then SIGCONT: the lease guard stops the task, saying why.
TERN_STATE_DIR=$scratch/wk "$TERN" server worker --workers 2 --lease PT2S --sandbox off --db "$db" >"$scratch/wk2.log" 2>&1 &
pids+=($!)
wk_pid=$!
"$TERN" execution start t.worker.stop nap --db "$db" >/dev/null
for _ in $(seq 1 300); do
        held && break
        sleep 0.1
done
sleep 0.5
# The guard speaks only when it looks before the renewal thread renews (both wake at SIGCONT): up
# to four tries.
line=
for _ in 1 2 3 4; do
        kill -STOP "$wk_pid"
        sleep 4
        kill -CONT "$wk_pid"
        for _ in $(seq 1 20); do
                line=$(grep -m1 "Lease of job" "$scratch/wk2.log")
                [ -n "$line" ] && break 2
                sleep 0.1
        done
done
ok "$(grep -q "this worker did not run for [0-9]* s (stopped or frozen)" <<<"$line" && ! grep -q "database is unreachable" "$scratch/wk2.log" && echo 0 || echo 1)" \
        "after SIGSTOP/SIGCONT the lease guard says the worker did not run: ${line:-nothing logged}"
[ -n "$line" ] || sed 's/^/# worker: /' "$scratch/wk2.log" | tail -5

echo "1..$n"
[ $failed = 0 ]
