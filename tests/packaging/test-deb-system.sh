#!/usr/bin/env bash
# test-deb-system: the .debs on a real systemd, as an administrator uses them (TAP). A container
# booted with systemd-nspawn on an overlay of the host's root whose upper layer is a tmpfs (every
# write, dpkg's included, goes there; nspawn refuses -D / with --volatile=overlay, and
# --volatile=yes leaves no dpkg database) installs them; docs/DEPLOY.md's "small" commands run a flow on the
# embedded database; then tern.conf points at a PostgreSQL cluster on the host's loopback,
# tern.target starts every unit, a flow runs with the installed tern and its lines are in the
# journal under TERN_EXECUTION_ID; an upgrade to a higher version while a flow runs restarts the
# units and the flow succeeds; purge leaves nothing of the packages running or installed.
# The .debs: those test-packages.sh left in the build tree for this revision, else built here.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${TERN_SOURCE_ROOT:?}" "${TERN_BUILD_ROOT:?}"
src=$TERN_SOURCE_ROOT
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
finish() { echo "1..$n"; exit $((failed > 0)); }

[ "$(id -u)" = 0 ] || skip_all "needs root (systemd-nspawn, dpkg)"
command -v systemd-nspawn >/dev/null || skip_all "no systemd-nspawn (package systemd-container)"
[ -x /lib/systemd/systemd ] || skip_all "no systemd"
command -v dpkg-deb >/dev/null || skip_all "no dpkg-deb: not a Debian system"
head=$(git -C "$src" rev-parse HEAD 2>/dev/null) || skip_all "'$src' is not a git checkout"

scratch=$(mktemp -d /tmp/tern-debsys.XXXXXX)
chmod 755 "$scratch"
cluster=; nspawn_pid=; url=; db=
cleanup() {
        if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
                kill "$nspawn_pid" 2>/dev/null # nspawn asks the container's systemd to power off
                for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$nspawn_pid" 2>/dev/null
                for _ in $(seq 1 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        fi
        mountpoint -q "$scratch/root" && umount "$scratch/root"
        mountpoint -q "$scratch/rw" && umount "$scratch/rw"
        if [ -n "$db" ] && [ -z "$cluster" ]; then # a shared cluster: leave it as it was
                psql "$url" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
        fi
        [ -n "$cluster" ] && "$here/../store/pg-cluster.sh" stop "$cluster" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT

# ---- the packages: this revision's, and the same at a higher version for the upgrade ----
cache=$TERN_BUILD_ROOT/packaging-debs
if [ "$(cat "$cache/REVISION" 2>/dev/null)" != "$head" ] || ! ls "$cache"/tern-common_*.deb >/dev/null 2>&1; then
        rm -rf "$cache"; mkdir -p "$cache"
        if ! DEB_BUILD_OPTIONS="parallel=$(nproc)" nice -n 10 "$src/packaging/build-deb" "$cache" >"$scratch/build.log" 2>&1; then
                sed 's/^/# /' "$scratch/build.log" | tail -30
                echo "Bail out! packaging/build-deb failed"; exit 1
        fi
        echo "$head" >"$cache/REVISION"
fi
mkdir -p "$scratch/debs/v1" "$scratch/debs/v2"
for f in "$cache"/tern*.deb; do [[ $f == *-dbgsym_* ]] || cp "$f" "$scratch/debs/v1/"; done
v1=$(dpkg-deb -f "$(ls "$scratch"/debs/v1/tern-common_*.deb)" Version)
v2="${v1%-*}-$((${v1##*-} + 1))" # 0.1.0-1 -> 0.1.0-2: what a rebuild with a new changelog entry makes
# The rebuild: the same files under the higher version (every "= v1" dependency follows it).
for f in "$scratch"/debs/v1/*.deb; do
        x=$scratch/repack; rm -rf "$x"
        dpkg-deb -R "$f" "$x"
        sed -i "s/$v1/$v2/g" "$x/DEBIAN/control"
        dpkg-deb -Zxz -b "$x" "$scratch/debs/v2/" >/dev/null || { echo "Bail out! cannot repack $f"; exit 1; }
done
rm -rf "$scratch/repack"
ok 0 "the .debs at $v1 ($(ls "$scratch"/debs/v1 | wc -l) packages) and the same rebuilt at $v2"

# ---- PostgreSQL on the host's loopback (the container shares the host's network) ----
url=${TERN_TEST_PG_URL:-}
if [ -z "$url" ]; then
        out=$("$here/../store/pg-cluster.sh" start); rc=$?
        [ $rc = 77 ] && skip_all "no PostgreSQL server binaries"
        [ $rc = 0 ] || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
        url=$(sed -n 1p <<<"$out"); cluster=$(sed -n 2p <<<"$out")
fi
db=debsys_$$_$RANDOM
psql "$url" -qc "CREATE DATABASE $db" >/dev/null || { echo "Bail out! cannot create a database"; exit 1; }
port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$url")
user=$(sed -n 's/.*user=\([^&]*\).*/\1/p' <<<"$url")
pg="postgresql://$user@127.0.0.1:$port/$db"
psql_q() { psql "$pg" -qtAc "$1"; }

# ---- boot: the host's root under an overlay whose writes go to a tmpfs ----
# The lower layer is the root file system alone (no mounts below it): the host's files are only
# read. The upper layer on a tmpfs of its own, so that overlayfs sees no overlap with the lower.
mkdir "$scratch/rw" "$scratch/root" "$scratch/share"
mount -t tmpfs -o mode=0755 tmpfs "$scratch/rw" && mkdir "$scratch/rw/upper" "$scratch/rw/work" &&
        mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/rw/upper,workdir=$scratch/rw/work" "$scratch/root" ||
        skip_all "cannot mount an overlay of / (overlayfs)"
python3 -c 'import uuid; print(uuid.uuid4().hex)' >"$scratch/machine-id"
systemd-nspawn -D "$scratch/root" -b --register=no --keep-unit --console=passive \
        --machine="tern-deb-$$" \
        --bind-ro=/dev/null:/etc/systemd/system/systemd-firstboot.service \
        --bind-ro=/dev/null:/etc/systemd/system/postgresql.service \
        --bind-ro="$scratch/machine-id":/etc/machine-id \
        --bind-ro="$scratch/debs":/srv/tern-debs \
        --bind="$scratch/share":/srv/tern-test \
        >"$scratch/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
pid1=
for _ in $(seq 1 200); do
        pid1=$(pgrep -P "$nspawn_pid" -x systemd | head -1)
        [ -n "$pid1" ] && break
        sleep 0.1
done
[ -n "$pid1" ] || { sed 's/^/# /' "$scratch/nspawn.log"; echo "Bail out! the container's systemd did not start"; exit 1; }
C() { nsenter -t "$pid1" -a "$@"; }
for _ in $(seq 1 300); do
        state=$(timeout 90 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1)
        [[ $state == *"Failed to connect"* ]] || break
        sleep 0.1
done
ok "$([[ $state == running || $state == degraded ]] && echo 0 || echo 1)" "systemd booted in the container ($state)"
C sh -c 'touch /usr/.tern-probe'
ok "$([ -e "$scratch/rw/upper/usr/.tern-probe" ] && [ ! -e /usr/.tern-probe ] && echo 0 || echo 1)" \
        "the container writes to the overlay's tmpfs, never to the host's files"

wait_for() { # seconds, command...: poll until it succeeds
        local t=$1; shift
        local end=$((SECONDS + t))
        while ! "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}
prop() { C systemctl show -P "$2" "$1"; }
units=(tern-executor.service tern-scheduler.service tern-worker@1.service tern-worker@2.service tern-webserver.service)
all_active() { for u in "$@"; do [ "$(prop "$u" ActiveState)" = active ] || return 1; done; }
all_inactive() { for u in "$@"; do [ "$(prop "$u" ActiveState)" = inactive ] || return 1; done; }

# ---- install ----
# This machine's image has Docker's policy-rc.d (exit 101: no service may be started or stopped
# by a package); a Debian system has none, and with it the upgrade and purge would not be tested.
C rm -f /usr/sbin/policy-rc.d
msg=$(C sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i /srv/tern-debs/v1/*.deb' 2>&1)
ok $? "dpkg -i installs the .debs"
[ $failed = 0 ] || { sed 's/^/# /' <<<"$msg"; finish; }
ok "$(grep -q "tern db migrate" <<<"$msg" && echo 0 || echo 1)" "the installation says what to do before starting the services"
enabled=$(C systemctl is-enabled tern.target tern-executor.service tern-scheduler.service tern-webserver.socket 2>&1 | sort -u | tr '\n' ' ')
ok "$([ "$enabled" = "disabled " ] && all_inactive tern-executor.service tern-scheduler.service tern-webserver.service && echo 0 || echo 1)" \
        "nothing is enabled or started by the installation (is-enabled: $enabled)"
ok "$([ "$(C tern --version)" = "tern ${v1%-*} (git ${head:0:12})" ] && echo 0 || echo 1)" "the installed tern: $(C tern --version)"
C man -w tern-flow.5 >/dev/null 2>&1 && C man -w tern-execution.1 >/dev/null 2>&1
ok $? "the manual pages are installed (man -w tern-flow.5, tern-execution.1)"

# The container shares the host's network: its webserver socket listens on a free port, not on
# 8080, which something on the host may hold (the drop-in is removed before the purge).
http_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
C sh -c "mkdir -p /etc/systemd/system/tern-webserver.socket.d &&
        printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:$http_port\n' >/etc/systemd/system/tern-webserver.socket.d/port.conf &&
        systemctl daemon-reload"

# ---- docs/DEPLOY.md, "small": the commands, as given there, on the embedded database ----
cat >"$scratch/share/hello.yaml" <<'YAML'
id: hello
namespace: company.team
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello from tern"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo shell says hi"]
YAML
small=$(sed -n '/<!-- small:begin -->/,/<!-- small:end -->/p' "$src/docs/DEPLOY.md" | sed -n '/^```sh/,/^```/p' | grep -v '^```' | sed 's/ *#.*//' | grep -v '^$')
ok "$([ -n "$small" ] && [ "$(wc -l <<<"$small")" -lt 5 ] && echo 0 || echo 1)" \
        "docs/DEPLOY.md's small deployment is under five commands ($(wc -l <<<"$small"))"
out=$(C sh -euc "cd /srv/tern-test; $small" 2>&1)
rc=$?
ok $rc "the small deployment's commands run a flow to SUCCESS on the embedded database"
[ $rc = 0 ] || { sed 's/^/# /' <<<"$out"; C journalctl -q -u 'tern*' --no-pager -n 30 | sed 's/^/# /'; }
ok "$(all_active tern-executor.service tern-scheduler.service tern-worker@1.service && echo 0 || echo 1)" \
        "after them the executor, the scheduler and a worker run"
C systemctl stop tern.target tern-webserver.socket
C systemctl disable --quiet tern.target tern-worker@1.service tern-webserver.socket
wait_for 60 all_inactive "${units[@]}"
ok $? "the small deployment stops"

# ---- medium: tern.conf points at PostgreSQL, tern.target starts every unit ----
C sed -i "0,/^#url = postgresql:/s|^#url = postgresql:.*|url = $pg|" /etc/tern/tern.conf
conf=$(C tern config check 2>&1)
ok "$(grep -q "127.0.0.1:$port" <<<"$conf" && echo 0 || echo 1)" "tern config check: [database] url is the PostgreSQL cluster"
C tern db migrate --db "$pg" >/dev/null
ok $? "tern db migrate creates the schema"
C systemctl enable --quiet tern-worker@1.service tern-worker@2.service tern-webserver.socket tern.target
C systemctl start tern-webserver.socket tern.target
C systemctl start tern-webserver.service
wait_for 90 all_active "${units[@]}"
rc=$?
ok $rc "systemctl start tern.target: every unit active ($(for u in "${units[@]}"; do printf '%s=%s ' "$u" "$(prop "$u" ActiveState)"; done))"
[ $rc = 0 ] || C systemctl status --no-pager "${units[@]}" 2>&1 | sed 's/^/# /' | head -60
T() { C env TERN_DB="$pg" tern "$@"; }
cat >"$scratch/share/long.yaml" <<'YAML'
id: long
namespace: company.team
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 8", "echo long done"]
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after the upgrade"
YAML
T flow apply /srv/tern-test/hello.yaml /srv/tern-test/long.yaml >/dev/null
ok $? "the installed tern applies flows to the installed daemons' database"
id=$(T execution start company.team hello)
T execution wait "$id" --timeout PT60S >/dev/null
ok $? "a flow runs to SUCCESS on the installed daemons ($id)"
comps=$(C journalctl TERN_EXECUTION_ID="$id" -o export --no-pager | sed -n 's/^TERN_COMPONENT=//p' | sort -u | tr '\n' ' ')
ok "$([[ $comps == *executor* && $comps == *worker* ]] && echo 0 || echo 1)" \
        "journalctl TERN_EXECUTION_ID=$id has the execution's lines from: $comps"
health=$(C curl -s "http://127.0.0.1:$http_port/health")
ok "$([[ $health == *UP* ]] && echo 0 || echo 1)" "the webserver answers on its socket, 127.0.0.1:$http_port (/health: $health)"

# ---- upgrade while a flow runs ----
pids_before=$(for u in "${units[@]}"; do prop "$u" MainPID; done | tr '\n' ' ')
id=$(T execution start company.team long)
claimed() { [ -n "$(psql_q "SELECT worker_id FROM jobs WHERE execution_id = '$id' AND worker_id IS NOT NULL")" ]; }
wait_for 30 claimed
ok $? "the long flow's task is running on a worker ($id)"
msg=$(C sh -c 'DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold /srv/tern-debs/v2/*.deb' 2>&1)
rc=$?
ok $rc "dpkg -i upgrades to $v2 while the flow runs"
[ $rc = 0 ] || sed 's/^/# /' <<<"$msg" | tail -20
vers=$(C dpkg-query -W -f '${Version} ' tern tern-common tern-executor tern-worker tern-scheduler tern-webserver)
ok "$([ "$vers" = "$(printf "$v2 %.0s" 1 2 3 4 5 6)" ] && echo 0 || echo 1)" "every package is at $v2 ($vers)"
T execution wait "$id" --timeout PT90S >/dev/null
ok $? "the flow that ran during the upgrade succeeds ($id)"
wait_for 60 all_active "${units[@]}"
pids_after=$(for u in "${units[@]}"; do prop "$u" MainPID; done | tr '\n' ' ')
restarted=1
paste <(tr ' ' '\n' <<<"$pids_before") <(tr ' ' '\n' <<<"$pids_after") | awk 'NF == 2 && ($1 == $2 || $2 == 0) { bad = 1 } END { exit bad }' && restarted=0
ok "$([ $restarted = 0 ] && all_active "${units[@]}" && echo 0 || echo 1)" \
        "the upgrade restarted every running unit (main PIDs $pids_before-> $pids_after)"
id=$(T execution start company.team hello)
T execution wait "$id" --timeout PT60S >/dev/null
ok $? "a flow runs to SUCCESS after the upgrade ($id)"

# ---- purge ----
C rm -r /etc/systemd/system/tern-webserver.socket.d # the test's own, not the package's
msg=$(C dpkg --purge tern tern-webserver tern-scheduler tern-worker tern-executor tern-indexer tern-common 2>&1)
rc=$?
ok $rc "dpkg --purge removes every package"
[ $rc = 0 ] || sed 's/^/# /' <<<"$msg" | tail -20
left=$(C dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' 'tern*' 2>/dev/null | grep -v ' un *$' | tr '\n' ';')
ok "$([ -z "$left" ] && echo 0 || echo 1)" "dpkg knows no tern package any more (${left:-none})"
running=$(C pgrep -u tern -l 2>/dev/null | tr '\n' ';')
loaded=$(C systemctl list-units --all --plain --no-legend 'tern*' 2>/dev/null | awk '$3 != "inactive" || $2 != "not-found" { print $1 }' | tr '\n' ' ')
ok "$([ -z "$running" ] && [ -z "$loaded" ] && echo 0 || echo 1)" \
        "no tern process runs, no tern unit is loaded (processes: ${running:-none}; units: ${loaded:-none})"
files=$(C sh -c 'ls -d /usr/bin/tern /usr/libexec/tern /lib/systemd/system/tern* /usr/lib/systemd/system/tern* /etc/tern /run/tern /usr/share/man/man1/tern* /usr/share/man/man5/tern* /usr/share/man/man8/tern* /usr/lib/sysusers.d/tern.conf /usr/lib/tmpfiles.d/tern.conf /etc/systemd/system/*/tern* 2>/dev/null' | tr '\n' ' ')
ok "$([ -z "$files" ] && echo 0 || echo 1)" "no file of the packages is left, /etc/tern included (${files:-none})"
kept=$(C sh -c 'getent passwd tern >/dev/null && echo user; [ -d /var/lib/tern ] && echo state' | tr '\n' ' ')
ok "$([[ $kept == *user* && $kept == *state* ]] && echo 0 || echo 1)" \
        "left as README.Debian says: the tern user (Debian removes no system user) and /var/lib/tern (${kept:-neither})"
ok "$(psql_q "SELECT count(*) > 0 FROM executions" | grep -q t && echo 0 || echo 1)" "the database is left alone (its executions are still there)"

[ $failed = 0 ] || C journalctl -q -u 'tern*' --no-pager -n 60 2>/dev/null | sed 's/^/# /'
finish
