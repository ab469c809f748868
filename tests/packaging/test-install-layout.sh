#!/usr/bin/env bash
# test-install-layout: `meson install` of this build lays out what the packages ship: the tern
# command, the four daemons, their units in systemd's unit directory, sysusers.d and tmpfiles.d
# entries, /etc/tern/tern.conf, the manual pages and the guides the units point at (TAP).
set -uo pipefail
: "${TERN_BUILD_ROOT:?}"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
d=$(mktemp -d /tmp/tern-install.XXXXXX)
trap 'rm -rf "$d"' EXIT

out=$(meson install -C "$TERN_BUILD_ROOT" --no-rebuild --destdir "$d" 2>&1)
ok $? "meson install --destdir"
[ $failed = 0 ] || { sed 's/^/# /' <<<"$out"; echo "1..$n"; exit 1; }

# The directories this build was configured with.
eval "$(meson introspect --buildoptions "$TERN_BUILD_ROOT" | python3 -c '
import json, sys
for o in json.load(sys.stdin):
    if o["name"] in ("prefix", "bindir", "libexecdir", "sysconfdir", "mandir", "datadir",
                     "systemdsystemunitdir", "sysusersdir", "tmpfilesdir"):
        print("opt_%s=%r" % (o["name"], o["value"]))
')"
abs() { case $1 in /*) echo "$1";; *) echo "$opt_prefix/$1";; esac; }
# Where systemd looks: the option, else systemd.pc, else PREFIX/lib/...
sysdir() { # option-value, pkg-config variable, fallback
        if [ -n "$1" ]; then echo "$1"
        elif v=$(pkg-config --variable="$2" systemd 2>/dev/null) && [ -n "$v" ]; then echo "$v"
        else echo "$opt_prefix/$3"; fi
}
unitdir=$(sysdir "$opt_systemdsystemunitdir" systemdsystemunitdir lib/systemd/system)
sysusersdir=$(sysdir "$opt_sysusersdir" sysusersdir lib/sysusers.d)
tmpfilesdir=$(sysdir "$opt_tmpfilesdir" tmpfilesdir lib/tmpfiles.d)
bindir=$(abs "$opt_bindir") libexecdir=$(abs "$opt_libexecdir") sysconfdir=$(abs "$opt_sysconfdir")
mandir=$(abs "$opt_mandir") docdir=$(abs "$opt_datadir")/doc/tern

has() { # kind (-x, -f), path, what
        [ "$1" "$d$2" ]; ok $? "$3: $2"
}
has -x "$bindir/tern" "the tern command"
for c in executor worker scheduler webserver indexer; do
        has -x "$libexecdir/tern/tern-$c" "the $c daemon"
done
for u in tern-executor.service tern-executor.socket tern-scheduler.service tern-scheduler.socket \
         tern-worker@.service tern-worker@.socket tern-webserver.service tern-webserver.socket tern.target \
         tern-indexer.service tern-indexer.socket; do
        has -f "$unitdir/$u" "unit in systemd's unit directory"
done
# The units run the installed daemons, not a path of the build.
grep -q "^ExecStart=$libexecdir/tern/tern-worker --instance=%i\$" "$d$unitdir/tern-worker@.service"
ok $? "tern-worker@.service runs $libexecdir/tern/tern-worker"
has -f "$sysusersdir/tern.conf" "sysusers.d entry (the tern user)"
has -f "$tmpfilesdir/tern.conf" "tmpfiles.d entry"
has -f "$sysconfdir/tern/tern.conf" "example configuration"
# The manual pages are built with scdoc (-Dman=auto builds them when it is there).
if command -v scdoc >/dev/null; then
        for m in man1/tern.1 man1/tern-run.1 man1/tern-server.1 man1/tern-execution.1 man1/tern-flow.1 \
                 man1/tern-trigger.1 man1/tern-db.1 man1/tern-config.1 man1/tern-kafka.1 man1/tern-user.1 man1/tern-token.1 man1/tern-namespace.1 man1/tern-plugins.1 \
                 man5/tern.conf.5 man5/tern-flow.5 man8/tern-executor.8 man8/tern-worker.8 \
                 man8/tern-scheduler.8 man8/tern-webserver.8 man8/tern-indexer.8; do
                has -f "$mandir/$m" "manual page"
        done
        grep -q "^\.TH \"tern.conf\" \"5\".*\"tern $(meson introspect --projectinfo "$TERN_BUILD_ROOT" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')\"" "$d$mandir/man5/tern.conf.5"
        ok $? "the manual pages carry meson.build's version"
else
        echo "ok $((n+1)) - manual pages # SKIP no scdoc"; n=$((n+1))
fi
has -f "$docdir/OPERATIONS.md" "guide named by the units' Documentation="
has -f "$docdir/DEPLOY.md" "deployment guide named by the manual pages"
has -f "$docdir/KAFKA.md" "Kafka queue backend guide named by tern-kafka(1) and tern.conf(5)"
echo "1..$n"
exit $((failed > 0))
