#!/usr/bin/env bash
# run-compat.sh sqlite|postgres|memory [steps]: run the Kestra compatibility corpus through
# `tern run` on a fresh store of that backend (memory: the in-memory engine driver, no database)
# and fail when fewer flows pass than the floor below; with "steps", run the multi-step scenarios
# (resume, kill, restart) against a standalone server instead. Results are in the test log.
set -euo pipefail
backend=${1:?backend}
mode=${2:-flows}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${KESTRA_COMPAT:-$here/../../../shared/kestra-compat}
[ -f "$corpus/expectations.jsonl" ] || { echo "1..0 # SKIP no Kestra corpus at $corpus"; exit 0; }
# How many runs pass today on each backend (the engine alone lacks the store's services); a change
# that breaks one of them fails this test.
if [ "$backend" = memory ]; then floor=90; else floor=96; fi
min_pass=${TERN_COMPAT_MIN_PASS:-$floor}

scratch=$(mktemp -d /tmp/tern-compat.XXXXXX)
cluster=
cleanup() {
        [ -n "$cluster" ] && "$here/../store/pg-cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
        rm -rf "$scratch"
}
trap cleanup EXIT
export TERN_STATE_DIR=$scratch/state

case "$backend" in
memory)
        exec python3 "$here/kestra-compat.py" --corpus "$corpus" --runner "$RUN_MEMORY" --min-pass "$min_pass"
        ;;
sqlite)
        if [ "$mode" = steps ]; then
                exec python3 "$here/kestra-steps.py" --corpus "$corpus" --tern "$TERN" --db "sqlite://$scratch/tern.db"
        fi
        exec python3 "$here/kestra-compat.py" --corpus "$corpus" --runner "$TERN run" --min-pass "$min_pass" \
                --db "sqlite://$scratch/tern.db"
        ;;
postgres)
        url=${TERN_TEST_PG_URL:-}
        if [ -z "$url" ]; then
                out=$("$here/../store/pg-cluster.sh" start) || exit $?
                url=$(sed -n 1p <<<"$out")
                cluster=$(sed -n 2p <<<"$out")
        fi
        # A database of our own in the (possibly shared) cluster.
        db=compat_$$_$RANDOM
        psql "$url" -q -c "CREATE DATABASE $db" >/dev/null
        url=${url/\/postgres\?//$db?}
        "$TERN" db migrate --db "$url" >/dev/null
        if [ "$mode" = steps ]; then
                python3 "$here/kestra-steps.py" --corpus "$corpus" --tern "$TERN" --db "$url"
        else
                python3 "$here/kestra-compat.py" --corpus "$corpus" --runner "$TERN run" --min-pass "$min_pass" \
                        --db "$url"
        fi
        ;;
*)
        echo "run-compat.sh: unknown backend '$backend'" >&2
        exit 2
        ;;
esac
