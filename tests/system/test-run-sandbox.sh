#!/usr/bin/env bash
# test-run-sandbox: 'tern run' and 'tern server standalone' run shell tasks in the sandbox when
# they can (default --sandbox auto), say once why not, refuse with --sandbox required where it
# cannot work, and take the same --sandbox-* options as 'tern server worker'; tern.conf's [sandbox]
# values are checked by 'tern config check' (TAP).
set -uo pipefail
: "${TERN:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (runs tern as root and as nobody)"; exit 0; }
command -v setpriv >/dev/null || { echo "1..0 # SKIP no setpriv"; exit 0; }

scratch=$(mktemp -d /tmp/tern-run-sandbox.XXXXXX)
chmod 755 "$scratch"
# User nobody may not be able to reach the build tree (a clone in a 0700 directory): it runs a copy.
tern_nobody=$TERN
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$TERN" 2>/dev/null; then
        cp "$TERN" "$scratch/tern" && chmod 755 "$scratch/tern" && tern_nobody=$scratch/tern
fi
vardir=$(mktemp -d /var/tmp/tern-run-sandbox.XXXXXX)
chmod 755 "$vardir"
server=
daemons=()
cleanup() {
        [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
        for p in "${daemons[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        rm -rf "$scratch" "$vardir"
}
trap cleanup EXIT

# A secret the tasks must not read, and a loopback server they must not reach.
mkdir -p "$scratch/secret"
echo hunter2 >"$scratch/secret/key"
chmod 644 "$scratch/secret/key"
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
s.settimeout(120)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept(); c.close()
    except OSError:
        break
' >"$scratch/port" &
server=$!
for _ in $(seq 1 100); do [ -s "$scratch/port" ] && break; sleep 0.05; done
port=$(cat "$scratch/port")

cat >"$scratch/probe.yaml" <<YAML
id: probe
namespace: test.sandbox
tasks:
  - id: look
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "host=\$(hostname) procs=\$(ls /proc | grep -c '^[0-9]')"
      - if cat $scratch/secret/key >/dev/null 2>&1; then echo secret=readable; else echo secret=hidden; fi
      - if bash -c 'exec 3<>/dev/tcp/127.0.0.1/$port' 2>/dev/null; then echo net=yes; else echo net=no; fi
YAML
machine=$(hostname)
field() { grep -o "$1=[^ ]*" <<<"$out" | head -1 | cut -d= -f2-; }
run() { # as (root|nobody), args...: tern run of the probe flow with its own state directory
        local as=$1; shift
        local st="$scratch/state-$n-$as"
        mkdir -p "$st"
        if [ "$as" = nobody ]; then
                chown nobody "$st"
                out=$(cd "$scratch" && setpriv --reuid=65534 --regid=65534 --clear-groups \
                        env HOME="$st" TERN_STATE_DIR="$st" "$tern_nobody" run "$scratch/probe.yaml" "$@" 2>&1)
        else
                out=$(TERN_STATE_DIR="$st" "$TERN" run "$scratch/probe.yaml" "$@" 2>&1)
        fi
        rc=$?
}

# Root: the whole sandbox by default; --sandbox-hide masks a path, the network is loopback only.
run root --sandbox-hide "$scratch/secret"
ok "$([ $rc = 0 ] && [ "$(field host)" = tern ] && [ "$(field procs)" -le 6 ] && echo 0 || echo 1)" \
        "tern run as root sandboxes by default (exit $rc, hostname '$(field host)', $(field procs) processes)"
ok "$([ "$(field secret)" = hidden ] && [ "$(field net)" = no ] && echo 0 || echo 1)" \
        "--sandbox-hide masks a path ($(field secret)) and the loopback server is out of reach (net=$(field net))"
ok "$(grep -qi "without sandbox" <<<"$out" && echo 1 || echo 0)" "nothing is said when the sandbox works"
[ $failed = 0 ] || sed 's/^/# /' <<<"$out"

run root --sandbox-network
ok "$([ $rc = 0 ] && [ "$(field net)" = yes ] && [ "$(field host)" = tern ] && echo 0 || echo 1)" \
        "--sandbox-network keeps the host's network inside the sandbox (net=$(field net))"

run root --sandbox off
ok "$([ $rc = 0 ] && [ "$(field host)" = "$machine" ] && [ "$(field secret)" = readable ] && echo 0 || echo 1)" \
        "--sandbox off runs plain processes (hostname '$(field host)', secret $(field secret))"
ok "$(grep -q "WITHOUT sandbox (--sandbox off)" <<<"$out" && echo 0 || echo 1)" "--sandbox off says so once"

run root --sandbox-memory lots
ok "$([ $rc = 2 ] && grep -q "sandbox-memory 'lots'" <<<"$out" && echo 0 || echo 1)" \
        "a bad --sandbox-memory is a usage error naming the option (exit $rc)"

# Extra read-only binds, PATH and HOST:INSIDE, below /tmp (a directory of our own there) and
# elsewhere: every task sees each of them, the first (a sandbox built for it) and the next (made
# ahead), through each way of running a worker.
mkdir -p "$scratch/tools"
chmod 755 "$scratch/tools"
echo tmp-tool >"$scratch/tools/t.txt"
echo var-data >"$vardir/v.txt"
chmod 644 "$scratch/tools/t.txt" "$vardir/v.txt"
binds=(--sandbox-bind-ro "$scratch/tools" --sandbox-bind-ro "$vardir:/srv/tern-inside"
       --sandbox-bind-ro "$vardir:/tmp/tern-inside" --sandbox-bind-ro "$vardir")
look="echo \"binds=\$(cat $scratch/tools/t.txt || echo -),\$(cat /srv/tern-inside/v.txt || echo -),\$(cat /tmp/tern-inside/v.txt || echo -),\$(cat $vardir/v.txt || echo -)\""
cat >"$scratch/binds.yaml" <<YAML
id: binds
namespace: test.sandbox
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - $look
  - id: next
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - $look
YAML
want="binds=tmp-tool,var-data,var-data,var-data"
seen() { grep -c -- "$want" <<<"$out"; }
binds_ok() { # how: both tasks saw every bind
        ok "$([ "$(seen)" = 2 ] && echo 0 || echo 1)" "$1: both tasks see the binds below /tmp and elsewhere, PATH and HOST:INSIDE ($(grep -o 'binds=[^ ]*' <<<"$out" | tr '\n' ' '))"
        [ "$(seen)" = 2 ] || sed 's/^/# /' <<<"$out" | tail -8
}
st="$scratch/state-binds"
mkdir -p "$st"
out=$(TERN_STATE_DIR="$st" "$TERN" run "$scratch/binds.yaml" "${binds[@]}" 2>&1)
binds_ok "tern run as root"
mkdir -p "$scratch/state-binds-nobody" && chown nobody "$scratch/state-binds-nobody"
out=$(cd "$scratch" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$scratch/state-binds-nobody" \
        TERN_STATE_DIR="$scratch/state-binds-nobody" "$tern_nobody" run "$scratch/binds.yaml" "${binds[@]}" 2>&1)
binds_ok "tern run as nobody (user namespace)"
wait_log() { for _ in $(seq 1 150); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
st="$scratch/state-binds-standalone"
mkdir -p "$st"
TERN_STATE_DIR="$st" "$TERN" server standalone "${binds[@]}" >"$scratch/binds-standalone.log" 2>&1 &
daemons+=($!)
wait_log "$scratch/binds-standalone.log" "running"
out=$(TERN_STATE_DIR="$st" timeout 60 "$TERN" run --remote "$scratch/binds.yaml" 2>&1)
binds_ok "tern server standalone"
st="$scratch/state-binds-worker"
mkdir -p "$st"
TERN_STATE_DIR="$st" "$TERN" server executor >"$scratch/binds-executor.log" 2>&1 &
daemons+=($!)
TERN_STATE_DIR="$st" "$TERN" server worker "${binds[@]}" >"$scratch/binds-worker.log" 2>&1 &
daemons+=($!)
wait_log "$scratch/binds-executor.log" "running"; wait_log "$scratch/binds-worker.log" "running"
out=$(TERN_STATE_DIR="$st" timeout 60 "$TERN" run --remote "$scratch/binds.yaml" 2>&1)
binds_ok "tern server worker (with tern server executor)"
# The worker daemon, as its unit runs it (here as root, outside systemd), with tern.conf's bind-ro.
worker_bin=$(dirname "$TERN")/../daemons/worker/tern-worker
if [ -x "$worker_bin" ]; then
        st="$scratch/state-binds-daemon"
        mkdir -p "$st"
        printf '[server]\nstate-dir = %s\n[sandbox]\nbind-ro = %s %s:/srv/tern-inside %s:/tmp/tern-inside %s\n' \
                "$st" "$scratch/tools" "$vardir" "$vardir" "$vardir" >"$scratch/binds.conf"
        TERN_STATE_DIR="$st" "$TERN" server executor >"$scratch/binds-executor2.log" 2>&1 &
        daemons+=($!)
        wait_log "$scratch/binds-executor2.log" "running"
        TERN_LOG_TARGET=console "$worker_bin" --config "$scratch/binds.conf" >"$scratch/binds-daemon.log" 2>&1 &
        daemons+=($!)
        wait_log "$scratch/binds-daemon.log" "Shell tasks run"
        out=$(TERN_STATE_DIR="$st" timeout 60 "$TERN" run --remote "$scratch/binds.yaml" 2>&1)
        binds_ok "tern-worker with [sandbox] bind-ro in tern.conf"
        [ "$(seen)" = 2 ] || sed 's/^/# daemon: /' "$scratch/binds-daemon.log" | tail -5
else
        ok 0 "# SKIP no tern-worker next to tern"
fi
for p in "${daemons[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
daemons=()
# A bind that cannot work is a usage error, not a reason to run without sandbox.
out=$(TERN_STATE_DIR="$scratch/state-binds" "$TERN" run "$scratch/binds.yaml" --sandbox-bind-ro "$vardir:/opt/tern-missing" 2>&1); rc=$?
ok "$([ $rc = 2 ] && grep -q "invalid sandbox option: bind '$vardir:/opt/tern-missing': /opt/tern-missing does not exist on the host" <<<"$out" &&
        ! grep -q "$want" <<<"$out" && echo 0 || echo 1)" \
        "a bind INSIDE a read-only system directory where it does not exist is refused, naming it (exit $rc): $(head -1 <<<"$out")"
out=$(TERN_STATE_DIR="$scratch/state-binds" "$TERN" run "$scratch/binds.yaml" --sandbox-bind-ro "$scratch/no-such-dir" 2>&1); rc=$?
ok "$([ $rc = 2 ] && grep -q "bind '$scratch/no-such-dir': .*No such file or directory" <<<"$out" && echo 0 || echo 1)" \
        "a bind of a missing host path is refused, naming it (exit $rc)"

# An unprivileged user: a user namespace; the cgroups are root's, so no limits: said once.
run nobody
ok "$([ $rc = 0 ] && [ "$(field host)" = tern ] && echo 0 || echo 1)" \
        "tern run as nobody still sandboxes, in a user namespace (exit $rc, hostname '$(field host)')"
ok "$([ "$(grep -c "Shell tasks run in the sandbox, incomplete here" <<<"$out")" = 1 ] && echo 0 || echo 1)" \
        "as nobody, tern run says once that the cgroup limits are missing"
[ $failed = 0 ] || sed 's/^/# /' <<<"$out"

run nobody --sandbox required
execs=$(TERN_STATE_DIR="$scratch/state-$n-nobody" "$TERN" execution list -o json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
ok "$([ $rc = 1 ] && grep -q "sandbox required, but the task sandbox does not work here" <<<"$out" && echo 0 || echo 1)" \
        "--sandbox required where the limits cannot be had fails at once, saying why (exit $rc)"
ok "$([ "$execs" = 0 ] && echo 0 || echo 1)" "and creates no execution (${execs:-?})"

# Where no sandbox can be made (here: root of a user namespace that maps only itself and may make no
# user namespace: the task's uid cannot own a working directory, nor a namespace be had without
# one): auto runs plain processes and says why once; required refuses.
st="$scratch/state-nons"
nons() { # args...: tern run in that user namespace
        out=$(ST="$st" FLOW="$scratch/probe.yaml" unshare --user --map-root-user sh -c \
                'echo 0 >/proc/sys/user/max_user_namespaces && HOME="$ST" TERN_STATE_DIR="$ST" "$TERN" run "$FLOW" "$@"' \
                nons "$@" 2>&1 </dev/null)
        rc=$?
}
if unshare --user --map-root-user true 2>/dev/null; then
        nons --sandbox-userns
        ok "$([ $rc = 0 ] && [ "$(field host)" = "$machine" ] && [ "$(grep -c "WITHOUT sandbox" <<<"$out")" = 1 ] && echo 0 || echo 1)" \
                "no sandbox possible: auto runs plain processes and says why once ($(grep -o "WITHOUT sandbox: [^(]*" <<<"$out"))"
        nons --sandbox-userns --sandbox required
        ok "$([ $rc = 1 ] && grep -q "sandbox required, but the task sandbox does not work here" <<<"$out" && echo 0 || echo 1)" \
                "no sandbox possible: --sandbox required refuses (exit $rc)"
        # Best effort: each task runs as a plain process, with the reason in its log.
        nons --sandbox-userns --sandbox best-effort
        ok "$([ $rc = 0 ] && [ "$(field host)" = "$machine" ] && grep -q "Sandbox: NOT SANDBOXED: " <<<"$out" && echo 0 || echo 1)" \
                "no sandbox possible: best-effort runs the task plainly and logs why (exit $rc)"
        [ $rc = 0 ] || sed 's/^/# /' <<<"$out" | tail -5
else
        ok 0 "# SKIP no user namespaces here"
        ok 0 "# SKIP no user namespaces here"
        ok 0 "# SKIP no user namespaces here"
fi

# The unit's case: an unprivileged worker in cgroups handed to it, as systemd's Delegate=yes does
# (emulated: a cgroup per v1 controller, or one on v2, chowned to nobody, the shell moved in).
deleg=()
for c in memory pids; do
        rel=$(grep -E "^[0-9]+:([^:]*,)?$c(,[^:]*)?:" /proc/self/cgroup | cut -d: -f3)
        [ -n "$rel" ] && [ -d "/sys/fs/cgroup/$c" ] && deleg+=("/sys/fs/cgroup/$c${rel%/}/tern-test-deleg-$$")
done
[ ${#deleg[@]} = 2 ] || deleg=("/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup | sed 's|/$||')/tern-test-deleg-$$")
cat >"$scratch/bomb.yaml" <<'YAML'
id: bomb
namespace: test.sandbox
tasks:
  - id: eat
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - python3 -c 'b = [bytearray(1 << 20) for _ in range(512)]; print("survived")'
YAML
if mkdir "${deleg[@]}" 2>/dev/null && chown -R nobody "${deleg[@]}"; then
        st="$scratch/state-deleg"
        mkdir -p "$st" && chown nobody "$st"
        out=$(cd "$scratch" && ST="$st" FLOW="$scratch/bomb.yaml" TERN="$tern_nobody" bash -c '
                for d in "$@"; do echo $$ >"$d/cgroup.procs" || exit 99; done
                exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$ST" TERN_STATE_DIR="$ST" \
                        "$TERN" run "$FLOW" --sandbox required --sandbox-memory 64MB' deleg "${deleg[@]}" 2>&1 </dev/null)
        rc=$?
        ok "$([ $rc = 1 ] && grep -q "out of memory.*sandbox memory limit: 64 MiB" <<<"$out" && ! grep -q survived <<<"$out" && echo 0 || echo 1)" \
                "as nobody in delegated cgroups, --sandbox required works: a memory bomb is OOM-killed at 64MB (exit $rc)"
        [ $rc = 1 ] || sed 's/^/# /' <<<"$out"
        for d in "${deleg[@]}"; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
else
        ok 0 "# SKIP no cgroup to delegate here"
fi

# tern server standalone takes the same options and says what it does.
st="$scratch/standalone"
mkdir -p "$st"
TERN_STATE_DIR="$st" "$TERN" server standalone --sandbox-network --sandbox-pids 64 >"$scratch/standalone.log" 2>&1 &
sa=$!
for _ in $(seq 1 100); do grep -q "running" "$scratch/standalone.log" && break; sleep 0.1; done
kill -TERM $sa; wait $sa
rc=$?
line=$(grep -m1 "Shell tasks run in the sandbox" "$scratch/standalone.log")
ok "$([ $rc = 0 ] && [[ $line == *"host network"*"64 pids"* ]] && echo 0 || echo 1)" \
        "tern server standalone sandboxes with the given options: ${line:-$(head -3 "$scratch/standalone.log")}"
out=$("$TERN" server standalone --help)
ok "$(grep -q -- "--sandbox MODE *auto (default)" <<<"$out" && grep -q -- "--sandbox-bind-rw" <<<"$out" && echo 0 || echo 1)" \
        "tern server standalone --help lists the sandbox options"
# The daemons' [sandbox] section: 'tern config check' checks its values as tern-worker will.
printf '[sandbox]\nmode = sometimes\n' >"$scratch/bad.conf"
out=$("$TERN" config check --file "$scratch/bad.conf" 2>&1); rc=$?
ok "$([ $rc = 1 ] && grep -q "\[sandbox\] mode = 'sometimes' must be auto, required, best-effort or off" <<<"$out" && echo 0 || echo 1)" \
        "tern config check refuses a bad [sandbox] mode: $out"
printf '[sandbox]\nmade-ahead = 9\n' >"$scratch/bad.conf"
out=$("$TERN" config check --file "$scratch/bad.conf" 2>&1); rc=$?
ok "$([ $rc = 1 ] && grep -q "\[sandbox\] made-ahead = '9' must be 0 (none), 1, 2 or 3" <<<"$out" && echo 0 || echo 1)" \
        "tern config check refuses a bad [sandbox] made-ahead: $out"
printf '[sandbox]\nrequire-image = maybe\n' >"$scratch/bad.conf"
out=$("$TERN" config check --file "$scratch/bad.conf" 2>&1); rc=$?
ok "$([ $rc = 1 ] && grep -q "\[sandbox\] require-image = 'maybe' must be yes or no" <<<"$out" && echo 0 || echo 1)" \
        "tern config check refuses a bad [sandbox] require-image: $out"
printf '[sandbox]\nmode = required\nmemory = 256MB\nbind-ro = /opt /srv\nmade-ahead = 1\nrequire-image = yes\n' >"$scratch/good.conf"
out=$("$TERN" config check --file "$scratch/good.conf" 2>&1); rc=$?
ok "$([ $rc = 0 ] && grep -q "^memory = 256MB" <<<"$out" && grep -q "^require-image = yes" <<<"$out" && echo 0 || echo 1)" \
        "tern config check accepts and shows [sandbox] settings"
echo "1..$n"
exit $((failed > 0))
