#!/usr/bin/env bash
# test-cli-lifecycle: 'tern run' and 'tern server standalone' read tern.conf as the daemons do
# (file, environment, command line), and the servers live in the daemons' frame: READY=1 and STATUS=
# to $NOTIFY_SOCKET, the status socket, SIGHUP reloading the way tern-executor does (TAP).
set -u
: "${TERN:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (notify listener, JSON)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-lifecycle.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        rm -rf "$dir"
}
trap cleanup EXIT
# Every store of this test is in $dir: the fallback state directory too.
export TERN_STATE_DIR=$dir/state HOME=$dir/home
unset TERN_CONFIG TERN_DB TERN_WORKER_LOG_LINES TERN_WORKER_SLOTS NOTIFY_SOCKET

cat >"$dir/noisy.yaml" <<'YAML'
id: noisy
namespace: cli.lifecycle
tasks:
  - id: noisy
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - for i in $(seq 1 20); do echo "line $i"; done
YAML
# lines FILE: how many log lines the noisy task kept, and whether the limit's warning names LIMIT.
lines() {
        python3 - "$1" <<'PY'
import json, re, sys
try:
    e = json.load(open(sys.argv[1]))
except Exception:
    print("unreadable"); sys.exit()
logs = [l["message"] for l in e.get("logs", []) if l.get("taskId") == "noisy"]
kept = [m for m in logs if m.startswith("line ")]
limit = [m for m in logs if m.startswith("Log limit reached")]
print(f"{len(kept)} {re.sub(r'[^0-9].*', '', limit[0].split('(')[1]) if limit else '-'}")
PY
}

# ---- tern run ----
printf '[database]\nurl = sqlite://%s/conf.db\n[worker]\nlog-lines = 5\n' "$dir" >"$dir/run.conf"
(cd "$dir" && "$TERN" run "$dir/noisy.yaml" --config "$dir/run.conf" --sandbox off -q -o json --include-logs \
        >"$dir/run1.json" 2>"$dir/run1.err")
rc=$?
got=$(lines "$dir/run1.json")
ok "$([ $rc = 0 ] && [ "$got" = "5 5" ] && echo 0 || echo 1)" \
        "tern run --config: [worker] log-lines = 5 caps the task's log (kept, limit: $got; exit $rc)"
[ $rc = 0 ] || sed 's/^/# /' "$dir/run1.err"
ok "$([ -s "$dir/conf.db" ] && [ ! -e "$dir/state/tern.db" ] && echo 0 || echo 1)" \
        "tern run --config: the execution is stored in [database] url, not in the state directory's tern.db"

(cd "$dir" && TERN_CONFIG=$dir/run.conf TERN_WORKER_LOG_LINES=7 "$TERN" run "$dir/noisy.yaml" --sandbox off -q -o json \
        --include-logs >"$dir/run2.json" 2>"$dir/run2.err")
got=$(lines "$dir/run2.json")
ok "$([ "$got" = "7 7" ] && echo 0 || echo 1)" "tern run reads \$TERN_CONFIG; TERN_WORKER_LOG_LINES beats the file ($got)"

printf '[worker]\nslots = 0\n' >"$dir/bad.conf"
out=$(cd "$dir" && "$TERN" run "$dir/noisy.yaml" --config "$dir/bad.conf" --sandbox off -q 2>&1)
rc=$?
ok "$([ $rc = 1 ] && grep -q "bad.conf:2: worker.slots = '0' must be a number from 1 to 1024" <<<"$out" && echo 0 || echo 1)" \
        "tern run refuses an invalid tern.conf, naming file and line (exit $rc): $(head -1 <<<"$out")"
out=$(cd "$dir" && "$TERN" run "$dir/noisy.yaml" --config "$dir/missing.conf" -q 2>&1)
rc=$?
ok "$([ $rc = 1 ] && grep -q "missing.conf: cannot read" <<<"$out" && echo 0 || echo 1)" \
        "tern run --config with a missing file fails (exit $rc)"

# ---- tern server standalone under a notify socket ----
# listen SOCKET OUT: every datagram sent to SOCKET, one per paragraph, into OUT.
listen() {
        python3 - "$1" "$2" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1)
end = time.time() + 240
with open(sys.argv[2], "a") as out:
    while time.time() < end:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            continue
        out.write(m + "\n\n")
        out.flush()
PY
        pids+=($!)
        for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.05; done
        return 1
}
wait_for() { # seconds, command...
        local end=$((SECONDS + $1)); shift
        while ! "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
# status SOCKET WORD: the status socket's answer
status() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().read().strip())' "$1" "$2" 2>&1; }
# after FILE N PATTERN: some datagram after the first N matches the extended regex
after() { python3 - "$@" <<'PY'
import re, sys
msgs = open(sys.argv[1]).read().split("\n\n")[int(sys.argv[2]):]
sys.exit(0 if any(re.search(sys.argv[3], m) for m in msgs) else 1)
PY
}
count() { python3 -c 'import sys; print(len(open(sys.argv[1]).read().split("\n\n")) - 1)' "$1"; }

sa_conf=$dir/sa.conf
write_sa_conf() { printf '[database]\nurl = sqlite://%s/sa.db\n[server]\nruntime-dir = %s/rt\n[worker]\nslots = 3\nlog-lines = 4\n%b' \
        "$dir" "$dir" "${1:-}" >"$sa_conf"; }
write_sa_conf
listen "$dir/notify.sock" "$dir/notify.log" || echo "# the notify listener did not start"
: >>"$dir/notify.log"
NOTIFY_SOCKET=$dir/notify.sock "$TERN" server standalone --config "$sa_conf" --sandbox off -w 2 >"$dir/sa.log" 2>&1 &
sa=$!
pids+=($sa)
wait_for 60 grep -q "^READY=1" "$dir/notify.log"
ok $? "tern server standalone sends READY=1 to \$NOTIFY_SOCKET"
ready=$(grep -A1 "^READY=1" "$dir/notify.log" | sed -n 's/^STATUS=//p' | head -1)
ok "$([[ $ready == *"executor: "*"scheduler: "*"worker: 0/2 slots busy"*"db ok"* ]] && echo 0 || echo 1)" \
        "with STATUS= naming each component, --workers over [worker] slots: '$ready'"
wait_for 10 after "$dir/notify.log" 1 "^STATUS=.*db ok"
ok $? "and keeps STATUS= up to date"
health=$(status "$dir/rt/standalone.sock" health)
st=$(status "$dir/rt/standalone.sock" status)
ok "$([ "$health" = ok ] && [[ $st == "standalone (pid $sa): "* ]] && echo 0 || echo 1)" \
        "its status socket in [server] runtime-dir answers (health '$health', status '${st:0:60}...')"
metrics=$(status "$dir/rt/standalone.sock" metrics)
ok "$(grep -q 'tern_up{component="scheduler"} 1' <<<"$metrics" && grep -q '^tern_worker_slots 2' <<<"$metrics" && echo 0 || echo 1)" \
        "its metrics cover every component"

"$TERN" flow apply "$dir/noisy.yaml" --db "sqlite://$dir/sa.db" >/dev/null &&
        id=$("$TERN" execution start cli.lifecycle noisy --db "sqlite://$dir/sa.db") &&
        "$TERN" execution wait "$id" --timeout PT60S --db "sqlite://$dir/sa.db" -o json >/dev/null
rc=$?
"$TERN" execution logs "${id:-none}" --db "sqlite://$dir/sa.db" -o json >"$dir/sa-logs.json" 2>/dev/null
python3 -c '
import json, sys
logs = json.load(open(sys.argv[1]))
logs = logs.get("results", logs) if isinstance(logs, dict) else logs
print(json.dumps({"logs": logs}))' "$dir/sa-logs.json" >"$dir/sa.json" 2>/dev/null
got=$(lines "$dir/sa.json")
ok "$([ $rc = 0 ] && [ "$got" = "4 4" ] && echo 0 || echo 1)" \
        "tern server standalone runs the flow with tern.conf's [worker] log-lines = 4 (kept, limit: $got)"

# SIGHUP: an invalid file is refused and the running configuration kept; a valid one is taken,
# the settings that need a restart named.
write_sa_conf '[liveness]\nheartbeat = 10s\ndead-after = 5s\n'
before=$(count "$dir/notify.log")
kill -HUP $sa
wait_for 10 grep -q "dead-after must be longer than heartbeat" "$dir/sa.log" && grep -q "Reload refused" "$dir/sa.log"
ok $? "SIGHUP with an invalid tern.conf: 'Reload refused', the running configuration kept"
after "$dir/notify.log" "$before" "^RELOADING=1" && wait_for 5 after "$dir/notify.log" "$before" "^READY=1"
ok $? "and RELOADING=1 then READY=1 to \$NOTIFY_SOCKET"
ok "$(kill -0 $sa 2>/dev/null && [ "$(status "$dir/rt/standalone.sock" health)" = ok ] && echo 0 || echo 1)" \
        "the server keeps running and healthy"
# worker.slots changes in the file, but --workers wins over it: still 2, nothing to restart for.
write_sa_conf '[log]\nlevel = debug\n[executor]\nbatch = 7\n'
sed -i 's/^slots = 3/slots = 5/' "$sa_conf"
kill -HUP $sa
wait_for 10 grep -q "take effect on restart only: executor.batch\.$" "$dir/sa.log"
ok $? "SIGHUP with a valid tern.conf reloads it, naming what needs a restart: $(grep -m1 'reloaded' "$dir/sa.log")"

before=$(count "$dir/notify.log")
kill -TERM $sa
wait $sa
rc=$?
ok "$([ $rc = 0 ] && after "$dir/notify.log" "$before" "^STOPPING=1" && [ ! -e "$dir/rt/standalone.sock" ] && echo 0 || echo 1)" \
        "SIGTERM: STOPPING=1, the status socket removed, exit $rc"

# The daemon reloads the same way (same frame, same messages).
executor=${TERN_EXECUTOR:-$(dirname "$TERN")/../daemons/executor/tern-executor}
if [ -x "$executor" ]; then
        printf '[database]\nurl = sqlite://%s/sa.db\n[server]\nruntime-dir = %s/rt2\n' "$dir" "$dir" >"$dir/x.conf"
        listen "$dir/notify2.sock" "$dir/notify2.log"
        : >>"$dir/notify2.log"
        NOTIFY_SOCKET=$dir/notify2.sock TERN_LOG_TARGET=console "$executor" --config "$dir/x.conf" >"$dir/x.log" 2>&1 &
        x=$!
        pids+=($x)
        wait_for 60 grep -q "^READY=1" "$dir/notify2.log"
        printf '[worker]\nslots = 0\n' >>"$dir/x.conf"
        before=$(count "$dir/notify2.log")
        kill -HUP $x
        wait_for 10 grep -q "Reload refused" "$dir/x.log" && after "$dir/notify2.log" "$before" "^RELOADING=1" &&
                wait_for 5 after "$dir/notify2.log" "$before" "^READY=1"
        ok $? "tern-executor answers SIGHUP with an invalid file the same way (Reload refused, RELOADING=1, READY=1)"
        kill -TERM $x
        wait $x
        ok $? "and stops cleanly on SIGTERM"
else
        ok 0 "# SKIP no tern-executor next to tern"
        ok 0 "# SKIP no tern-executor next to tern"
fi

[ $failed = 0 ] || { sed 's/^/# sa: /' "$dir/sa.log" | tail -20; sed 's/^/# notify: /' "$dir/notify.log" | tail -20; }
echo "1..$n"
exit $((failed > 0))
