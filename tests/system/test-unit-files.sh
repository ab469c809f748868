#!/usr/bin/env bash
# test-unit-files: systemd-analyze verify for every unit, and the offline security exposure
# scores (at most 2.0 for the executor and scheduler; 3.0 for the worker, whose task sandbox
# needs namespaces and mounts: docs/OPERATIONS.md).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${TERN_BUILD_ROOT:?}"
command -v systemd-analyze >/dev/null || { echo "1..0 # SKIP no systemd-analyze"; exit 0; }
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
d=$(mktemp -d /tmp/tern-units.XXXXXX)
trap 'rm -rf "$d"' EXIT
for f in "$src"/units/*.service.in; do
        b=$(basename "$f" .in); c=${b#tern-}; c=${c%.service}; c=${c%@}
        sed "s|@libexecdir@/tern/tern-$c|$TERN_BUILD_ROOT/daemons/$c/tern-$c|" "$f" >"$d/$b"
done
cp "$src"/units/*.socket "$src"/units/tern.target "$d/"
# Templates are verified through an instance.
cp "$d/tern-worker@.service" "$d/tern-worker@1.service"
cp "$d/tern-worker@.socket" "$d/tern-worker@1.socket"
cd "$d"
for u in tern-executor.service tern-scheduler.service tern-worker@1.service tern-executor.socket \
         tern-scheduler.socket tern-worker@1.socket tern.target tern-indexer.service tern-indexer.socket; do
        out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "./$u" 2>&1 | grep -v "tern\.target.*not found\|Unit tern.*not found")
        ok "$([ -z "$out" ] && echo 0 || echo 1)" "systemd-analyze verify $u"
        [ -z "$out" ] || sed 's/^/# /' <<<"$out"
done
for u in tern-executor.service:2.0 tern-scheduler.service:2.0 tern-worker@1.service:3.0 tern-indexer.service:2.0; do
        unit=${u%:*} max=${u#*:}
        score=$(systemd-analyze security --offline=yes "./$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
        ok "$(python3 -c "import sys; sys.exit(0 if '$score' and float('$score') <= $max else 1)"; echo $?)" \
                "systemd-analyze security --offline=yes $unit: $score (at most $max)"
done
echo "1..$n"
exit $((failed > 0))
