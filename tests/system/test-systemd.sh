#!/usr/bin/env bash
# test-systemd: the units under a real systemd booted with systemd-nspawn (--volatile=yes on the
# host's /usr), pointed at a throwaway PostgreSQL on the host's loopback. Proves the six points
# of issue 7: socket activation, tern.target with READY/STATUS, a flow across the executor and two
# workers, SIGKILL and SIGSTOP (watchdog) of a worker with the task resubmitted, and journald fields;
# and that the daemons take the database password from a systemd credential (the only place it is
# given) and that tern-worker@N runs shell tasks in the sandbox by default (issue 8).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${TERN:?}" "${TERN_BUILD_ROOT:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v systemd-nspawn >/dev/null || skip_all "no systemd-nspawn (package systemd-container)"
[ -x /lib/systemd/systemd ] || skip_all "no systemd"

scratch=$(mktemp -d /tmp/tern-sysd.XXXXXX)
chmod 755 "$scratch"
cluster=; nspawn=; nspawn_pid=; hba=; role=
cleanup() {
        if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
                kill "$nspawn_pid" 2>/dev/null   # nspawn asks the container's systemd to power off
                for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$nspawn_pid" 2>/dev/null
        fi
        if [ -n "$hba" ] && [ -z "$cluster" ]; then # a shared cluster: leave it as it was
                sed -i "/ # $role\$/d" "$hba"
                psql "$url" -qtAc "SELECT pg_reload_conf()" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
                        -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
        fi
        [ -n "$cluster" ] && "$here/../store/pg-cluster.sh" stop "$cluster" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT

url=${TERN_TEST_PG_URL:-}
if [ -z "$url" ]; then
        out=$("$here/../store/pg-cluster.sh" start); rc=$?
        [ $rc = 77 ] && skip_all "no PostgreSQL server binaries"
        [ $rc = 0 ] || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
        url=$(sed -n 1p <<<"$out"); cluster=$(sed -n 2p <<<"$out")
fi
db=sysd_$$_$RANDOM
# The daemons log in as a role of their own whose password they get only as a systemd credential:
# pg_hba.conf gets a first line that asks that role (and only it) for the password on TCP.
role=tern_sysd_$$
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
psql "$url" -q -c "CREATE ROLE $role LOGIN PASSWORD '$password'" -c "CREATE DATABASE $db OWNER $role" >/dev/null ||
        { echo "Bail out! cannot create a role and a database"; exit 1; }
hba=$(psql "$url" -qtAc "SHOW hba_file")
sed -i "1i host all $role 127.0.0.1/32 scram-sha-256 # $role" "$hba" && psql "$url" -qtAc "SELECT pg_reload_conf()" >/dev/null ||
        { echo "Bail out! cannot require a password in $hba"; exit 1; }
hurl=${url/\/postgres\?//$db?}
port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$url")
# The container has its own /tmp: it reaches the cluster on the loopback port (shared network).
curl_url="postgresql://$role@127.0.0.1:$port/$db"
# Migrated as the role (over the socket, trusted) so that it owns the tables.
"$TERN" db migrate --db "$(sed "s/user=[^&]*/user=$role/" <<<"$hurl")" >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
psql_q() { psql "$hurl" -qtAc "$1"; }

needs_password() { ! PGPASSWORD= psql -w "$curl_url" -qtAc "SELECT 1" >/dev/null 2>&1 && PGPASSWORD=$password psql -w "$curl_url" -qtAc "SELECT 1" >/dev/null 2>&1; }
wait_pw() { local end=$((SECONDS + 20)); while ! needs_password; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
wait_pw
ok $? "PostgreSQL asks $role for its password on 127.0.0.1 (refused without it)"

# ---- stage: units rendered for the binaries in the build tree, configuration, drop-ins ----
stage=$scratch/stage
mkdir -p "$stage/units" "$stage/dropin"
for f in "$src"/units/*.service.in; do
        b=$(basename "$f" .in); c=${b#tern-}; c=${c%.service}; c=${c%@}
        sed "s|@libexecdir@/tern/tern-$c|/opt/tern/daemons/$c/tern-$c|" "$f" >"$stage/units/$b"
done
cp "$src"/units/*.socket "$src"/units/tern.target "$stage/units/"
# The password only as a credential: LoadCredential=db-password:tern-db-password in every unit.
(umask 077; printf '%s\n' "$password" >"$stage/db-password")
cat >"$stage/tern.conf" <<CONF
[database]
url = $curl_url
[server]
grace = 3s
[worker]
slots = 2
lease = 20s
[liveness]
heartbeat = 1s
dead-after = 5s
CONF
# Short watchdog and abort timeouts so that point 5 takes seconds; sanitizer builds cannot run
# LeakSanitizer under the seccomp filter (it needs ptrace). A short stop timeout too: this
# container's systemd tracks units on cgroup v1 without empty-cgroup notifications, so when a
# killed worker's sandbox processes (in PID namespaces of their own, not its children) are still
# being torn down as it lists the unit's processes, it learns that they are gone only when the stop
# times out (seen here as "Processes still around after SIGKILL" though none is left in /proc).
cat >"$stage/dropin/test.conf" <<'CONF'
[Service]
WatchdogSec=4s
TimeoutAbortSec=2s
TimeoutStopSec=10s
RestartSec=1s
Environment=ASAN_OPTIONS=detect_leaks=0
CONF
# A machine id: without one systemd sees a first boot and applies the presets to every unit
# (Debian's enable everything), which would start the tern units behind the test's back.
python3 -c 'import uuid; print(uuid.uuid4().hex)' >"$stage/machine-id"
binds=(--bind-ro=/dev/null:/etc/systemd/system/systemd-firstboot.service
       --bind-ro="$stage/machine-id":/etc/machine-id
       --bind-ro=/dev/null:/etc/systemd/system/postgresql.service
       --bind-ro="$TERN_BUILD_ROOT":/opt/tern
       --bind-ro="$stage/tern.conf":/etc/tern/tern.conf
       --bind-ro="$stage/db-password":/etc/credstore/tern-db-password
       --bind-ro="$src/units/tern.sysusers":/etc/sysusers.d/tern.conf
       --bind-ro="$src/units/tern.tmpfiles":/etc/tmpfiles.d/tern.conf)
for f in "$stage"/units/*; do binds+=(--bind-ro="$f":/etc/systemd/system/$(basename "$f")); done
for u in tern-executor.service tern-scheduler.service tern-worker@.service; do
        binds+=(--bind-ro="$stage/dropin/test.conf":/etc/systemd/system/$u.d/test.conf)
done

# ---- boot ----
# The host has a hybrid cgroup v1 mount and no v2 controllers: systemd in the container detects
# that and runs in legacy/hybrid mode on its own (no SYSTEMD_NSPAWN_UNIFIED_HIERARCHY needed).
systemd-nspawn --volatile=yes -D / -b --register=no --keep-unit --console=passive \
        --machine="tern-test-$$" "${binds[@]}" >"$scratch/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
pid1=
for _ in $(seq 1 200); do
        pid1=$(pgrep -P "$nspawn_pid" -x systemd | head -1)
        [ -n "$pid1" ] && break
        sleep 0.1
done
[ -n "$pid1" ] || { sed 's/^/# /' "$scratch/nspawn.log"; echo "Bail out! the container's systemd did not start"; exit 1; }
C() { nsenter -t "$pid1" -a "$@"; }
# PID 1's private bus socket appears a moment after it starts: retry until systemctl connects.
for _ in $(seq 1 300); do
        state=$(timeout 90 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1)
        [[ $state == *"Failed to connect"* ]] || break
        sleep 0.1
done
ok "$([[ $state == running || $state == degraded ]] && echo 0 || echo 1)" "systemd booted in the container ($state)"

wait_for() { # seconds, command...: poll until it succeeds
        local t=$1; shift
        local end=$((SECONDS + t))
        while ! "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
prop() { C systemctl show -P "$2" "$1"; }

# ---- 1. socket activation (the scheduler's status socket stands in for the webserver's port) ----
C systemctl start tern-scheduler.socket
before=$(prop tern-scheduler.service ActiveState)
reply=$(C timeout 30 curl -sf --unix-socket /run/tern/scheduler.sock http://localhost/status)
after=$(prop tern-scheduler.service ActiveState)
ok "$([ "$before" = inactive ] && [ "$after" = active ] && [[ $reply == scheduler* ]] && echo 0 || echo 1)" \
        "socket activation: the first connection starts tern-scheduler ($before -> $after; '$reply')"

# ---- 2. tern.target brings every component up with READY and STATUS ----
C systemctl enable --quiet tern-worker@1.service tern-worker@2.service
C systemctl start tern.target
units=(tern-executor.service tern-scheduler.service tern-worker@1.service tern-worker@2.service)
all_active() { for u in "${units[@]}"; do [ "$(prop "$u" ActiveState)" = active ] || return 1; done; }
wait_for 60 all_active
rc=$?
statuses=""
for u in "${units[@]}"; do
        s=$(prop "$u" StatusText); statuses+="$u: $s; "
        [[ $s == *"db ok"* ]] || rc=1
done
ok $rc "systemctl start tern.target: every component active (Type=notify READY) with STATUS: $statuses"
ok "$([ $rc = 0 ] && ! grep -q "$password" "$stage/tern.conf" && echo 0 || echo 1)" \
        "the daemons logged in as $role with the password from the db-password credential (in neither tern.conf nor the environment)"
[ $rc = 0 ] || C systemctl status --no-pager "${units[@]}" 2>&1 | sed 's/^/# /'

# ---- 3. a flow to SUCCESS across the executor and both workers ----
cat >"$scratch/fan.yaml" <<'YAML'
id: fan
namespace: test.systemd
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: a
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 2", "echo a done"]
      - id: b
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 2", "echo b done"]
      - id: c
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 2", "echo c done"]
      - id: d
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 2", "echo d done"]
  - id: end
    type: io.kestra.plugin.core.log.Log
    message: "fan-out finished"
YAML
"$TERN" flow apply "$scratch/fan.yaml" --db "$hurl" >/dev/null
id=$("$TERN" execution start test.systemd fan --db "$hurl")
"$TERN" execution wait "$id" --timeout PT90S --db "$hurl" >/dev/null
ok $? "a flow runs to SUCCESS on the executor and two workers ($id)"
done1=$(C curl -sf --unix-socket /run/tern/worker@1.sock http://localhost/metrics | sed -n 's/^tern_worker_jobs_done_total //p')
done2=$(C curl -sf --unix-socket /run/tern/worker@2.sock http://localhost/metrics | sed -n 's/^tern_worker_jobs_done_total //p')
ok "$([ "${done1:-0}" -gt 0 ] && [ "${done2:-0}" -gt 0 ] && echo 0 || echo 1)" \
        "both workers ran tasks (jobs done: worker@1 ${done1:-?}, worker@2 ${done2:-?})"
fan_id=$id

# ---- the worker's shell tasks run in the sandbox (tern.conf has no [sandbox]: the default) ----
cat >"$scratch/probe.yaml" <<'YAML'
id: probe
namespace: test.systemd
tasks:
  - id: look
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "pid1=$(cat /proc/1/comm 2>/dev/null) procs=$(ls /proc | grep -c '^[0-9]') host=$(hostname) uid=$(id -u)"
      - echo "uidmap=$(tr -s ' ' ' ' < /proc/self/uid_map | sed 's/^ //')"
      - echo "capeff=$(sed -n 's/^CapEff.[[:space:]]*//p' /proc/self/status)"
      - if cat /etc/tern/tern.conf >/dev/null 2>&1; then echo conf=readable; else echo conf=hidden; fi
      - if cat /run/credentials/*/db-password >/dev/null 2>&1; then echo cred=readable; else echo cred=hidden; fi
      - if bash -c 'exec 3<>/dev/tcp/127.0.0.1/PGPORT' 2>/dev/null; then echo net=yes; else echo net=no; fi
      - if touch /usr/probe 2>/dev/null; then echo usr=writable; else echo usr=readonly; fi
YAML
sed -i "s/PGPORT/$port/" "$scratch/probe.yaml"
"$TERN" flow apply "$scratch/probe.yaml" --db "$hurl" >/dev/null
id=$("$TERN" execution start test.systemd probe --db "$hurl")
"$TERN" execution wait "$id" --timeout PT60S --db "$hurl" >/dev/null
ok $? "a shell task on tern-worker@N succeeds in the sandbox ($id)"
seen=$("$TERN" execution logs "$id" --db "$hurl" 2>&1)
field() { grep -o "$1=[^ ]*" <<<"$seen" | head -1 | cut -d= -f2-; }
tern_uid=$(C id -u tern)
chost=$(C hostname)
ok "$([ "$(field pid1)" != systemd ] && [ "$(field procs)" -le 6 ] && echo 0 || echo 1)" \
        "the task sees its own PID namespace (PID 1 is '$(field pid1)', not systemd; $(field procs) processes)"
ok "$([ "$(field host)" = tern ] && [ "$chost" != tern ] && echo 0 || echo 1)" \
        "the task has its own hostname ('$(field host)'; the machine's is '$chost')"
ok "$([ "$(field conf)" = hidden ] && [ "$(field cred)" = hidden ] && echo 0 || echo 1)" \
        "the task reads neither /etc/tern/tern.conf ($(field conf)) nor the worker's credentials ($(field cred))"
ok "$([ "$(field net)" = no ] && echo 0 || echo 1)" \
        "the task has no network: PostgreSQL on the host's 127.0.0.1:$port is out of reach (net=$(field net))"
ok "$([ "$(field usr)" = readonly ] && [ "$(field capeff)" = 0000000000000000 ] && echo 0 || echo 1)" \
        "the task runs without capabilities (CapEff $(field capeff)) on a read-only system (usr=$(field usr))"
ok "$(grep -q "uidmap=0 $tern_uid 1" <<<"$seen" && echo 0 || echo 1)" \
        "the task's user namespace maps only the worker's own uid ($(grep -o 'uidmap=.*' <<<"$seen" | head -1); tern is $tern_uid)"
[ $failed = 0 ] || sed 's/^/# /' <<<"$seen"
# Its sandbox was made ahead, while the fan-out's tasks ran (each worker had run two by then).
ahead=0
for i in 1 2; do
        made=$(C curl -sf --unix-socket /run/tern/worker@$i.sock http://localhost/metrics |
                sed -n 's/^tern_worker_sandbox_starts_total{sandbox="made_ahead"} //p')
        ahead=$((ahead + ${made:-0}))
done
ok "$([ "$ahead" -gt 0 ] && echo 0 || echo 1)" \
        "the workers start tasks in sandboxes made ahead, in their user namespaces too ($ahead such starts)"
started=$(C journalctl -q -u 'tern-worker@1.service' -o cat --no-pager | grep -m1 "Shell tasks run in the sandbox")
ok "$([ -n "$started" ] && echo 0 || echo 1)" "tern-worker@1 says how it sandboxes: ${started:-nothing}"

# ---- 4/5: a long task, its worker killed (SIGKILL) or frozen (SIGSTOP) ----
cat >"$scratch/long.yaml" <<'YAML'
id: long
namespace: test.systemd
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 6", "echo long done"]
YAML
"$TERN" flow apply "$scratch/long.yaml" --db "$hurl" >/dev/null
holder_of() { psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$1' AND worker_id IS NOT NULL"; }
attempts() {
        "$TERN" execution show "$1" --db "$hurl" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(a["state"]["current"] for a in d["taskRunList"][0]["attempts"]))'
}
disrupt() { # signal, description
        local sig=$1 what=$2 id holder inst restarts0 restarts1
        id=$("$TERN" execution start test.systemd long --db "$hurl")
        wait_for 30 test -n "$(holder_of "$id")"
        for _ in $(seq 1 150); do holder=$(holder_of "$id"); [ -n "$holder" ] && break; sleep 0.2; done
        inst=$(sed -n 's/^worker@\([^-]*\)-.*/\1/p' <<<"$holder")
        ok "$([ -n "$inst" ] && echo 0 || echo 1)" "$what: the long task is claimed by worker@$inst ($holder)"
        [ -n "$inst" ] || return
        restarts0=$(prop "tern-worker@$inst.service" NRestarts)
        C systemctl kill --kill-whom=main -s "$sig" "tern-worker@$inst.service"
        "$TERN" execution wait "$id" --timeout PT90S --db "$hurl" >/dev/null
        ok $? "$what: the execution succeeds ($id)"
        local a; a=$(attempts "$id")
        ok "$([[ $a == RESUBMITTED*SUCCESS ]] && echo 0 || echo 1)" "$what: the task run shows the resubmission ($a)"
        wait_for 30 test "$(prop "tern-worker@$inst.service" ActiveState)" = active
        restarts1=$(prop "tern-worker@$inst.service" NRestarts)
        ok "$([ "$restarts1" -gt "$restarts0" ] && [ "$(prop "tern-worker@$inst.service" ActiveState)" = active ] && echo 0 || echo 1)" \
                "$what: systemd restarted worker@$inst (NRestarts $restarts0 -> $restarts1)"
        last_id=$id
}
disrupt SIGKILL "SIGKILL of the worker"
disrupt SIGSTOP "SIGSTOP of the worker (watchdog)"
res=$(C journalctl -q -u 'tern-worker@*' -o cat --no-pager | grep -ci "watchdog timeout")
ok "$([ "${res:-0}" -gt 0 ] && echo 0 || echo 1)" "the watchdog fired for the stopped worker (systemd logged a watchdog timeout)"

# ---- 6. journald: one execution's lines from each component ----
comps=$(C journalctl TERN_EXECUTION_ID="$fan_id" -o export --no-pager | sed -n 's/^TERN_COMPONENT=//p' | sort -u | tr '\n' ' ')
ok "$([[ $comps == *executor* && $comps == *worker* ]] && echo 0 || echo 1)" \
        "journalctl TERN_EXECUTION_ID=$fan_id shows lines from: $comps"

# ---- graceful stop ----
C systemctl stop tern.target
all_inactive() { for u in "${units[@]}"; do [ "$(prop "$u" ActiveState)" = inactive ] || return 1; done; }
t0=$SECONDS
wait_for 60 all_inactive
rc=$?
for u in "${units[@]}"; do [ "$(prop "$u" Result)" = success ] || rc=1; done
ok $rc "systemctl stop tern.target stops every component cleanly (in $((SECONDS - t0))s)"
left=$(psql_q "SELECT string_agg(id || ' ' || state, ', ') FROM services")
ok "$([ -z "$left" ] && echo 0 || echo 1)" "stopped instances removed their heartbeat rows (left: ${left:-none})"

[ $failed = 0 ] || C journalctl -q -u 'tern*' --no-pager -n 80 2>/dev/null | sed 's/^/# /'
echo "1..$n"
exit $((failed > 0))
