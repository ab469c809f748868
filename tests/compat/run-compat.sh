#!/usr/bin/env bash
# run-compat.sh sqlite|postgres|mysql|memory|kafka [steps]: run the Kestra compatibility corpus
# through `tern run` on a fresh store of that backend (memory: the in-memory engine driver, no
# database; kafka: an executor and workers on [queue] type = kafka over librdkafka's mock cluster,
# `tern run --remote` submitting to them and reading the ends from the SQLite file they index
# into), one TAP line per flow, and fail when a flow of the expected list (expected-pass.txt,
# expected-pass-memory.txt for the engine alone, expected-pass-kafka.txt for Kafka) fails; with
# "steps", run the multi-step scenarios (resume, kill, restart) against a standalone server instead.
set -euo pipefail
backend=${1:?backend}
mode=${2:-flows}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${KESTRA_COMPAT:-$here/../../../shared/kestra-compat}
[ -f "$corpus/expectations.jsonl" ] || { echo "1..0 # SKIP no Kestra corpus at $corpus"; exit 0; }
# The runs that pass today on each backend (the engine alone lacks the store's services): a change
# that breaks one of them fails this test.
case "$backend" in
memory|kafka) expect=$here/expected-pass-$backend.txt ;;
*) expect=$here/expected-pass.txt ;;
esac
compat() { python3 "$here/kestra-compat.py" --corpus "$corpus" --tap --expect "$expect" "$@"; }

scratch=$(mktemp -d /tmp/tern-compat.XXXXXX)
cluster=
mariadb=
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
        [ -n "$cluster" ] && "$here/../store/pg-cluster.sh" stop "$cluster" >/dev/null 2>&1 || true
        [ -n "$mariadb" ] && "$here/../store/mariadb-cluster.sh" stop "$mariadb" >/dev/null 2>&1 || true
        rm -rf "$scratch"
}
trap cleanup EXIT
export TERN_STATE_DIR=$scratch/state

case "$backend" in
memory)
        compat --runner "$RUN_MEMORY"
        ;;
sqlite)
        # Not exec'ed: the scratch directory goes when the run ends (the EXIT trap).
        if [ "$mode" = steps ]; then
                python3 "$here/kestra-steps.py" --corpus "$corpus" --tern "$TERN" --db "sqlite://$scratch/tern.db"
        else
                compat --runner "$TERN run" --db "sqlite://$scratch/tern.db"
        fi
        ;;
postgres)
        url=${TERN_TEST_PG_URL:-}
        if [ -z "$url" ]; then
                rc=0
                out=$("$here/../store/pg-cluster.sh" start) || rc=$?
                [ $rc = 77 ] && { echo "1..0 # SKIP no PostgreSQL server binaries"; exit 0; }
                [ $rc = 0 ] || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
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
                compat --runner "$TERN run" --db "$url"
        fi
        ;;
mysql)
        url=${TERN_TEST_MYSQL_URL:-}
        if [ -z "$url" ]; then
                rc=0
                out=$("$here/../store/mariadb-cluster.sh" start) || rc=$?
                [ $rc = 77 ] && { echo "1..0 # SKIP no MariaDB server binaries"; exit 0; }
                [ $rc = 0 ] || { echo "Bail out! cannot start MariaDB"; exit 1; }
                url=$(sed -n 1p <<<"$out")
                mariadb=$(sed -n 2p <<<"$out")
        fi
        url=$("$here/../store/mariadb-cluster.sh" createdb "$url")
        "$TERN" db migrate --db "$url" >/dev/null
        if [ "$mode" = steps ]; then
                python3 "$here/kestra-steps.py" --corpus "$corpus" --tern "$TERN" --db "$url"
        else
                compat --runner "$TERN run" --db "$url"
        fi
        ;;
kafka)
        dir=$scratch
        # It says SKIP and exits when tern is built without librdkafka.
        . "$here/../queue/kafka-test-lib.sh"
        kafka_specs kc.
        kafka_mock_start "${all[@]}"
        kafka_conf kc.
        # One storage for the daemons and the runner (which uploads FILE inputs).
        cat >> "$scratch/tern.conf" <<CONF
[storage]
url = file://$scratch/storage
CONF
        # The daemons run every flow: they get, once, the environment some flows need (the runner
        # passes it to each `tern run --remote`, which runs nothing itself).
        daemon() { # name tern-arguments...
                local name=$1
                shift
                (
                        while IFS= read -r -d '' kv; do export "$kv"; done < <(python3 "$here/kestra-compat.py" --print-flow-env)
                        TERN_STATE_DIR=$scratch/$name exec "$TERN" "$@" > "$scratch/$name.log" 2>&1
                ) &
                pids+=($!)
        }
        daemon ex server executor
        daemon wk1 server worker --workers 4
        daemon wk2 server worker --workers 4
        daemon ix server indexer
        rc=0
        if [ "$mode" = steps ]; then
                python3 "$here/kestra-steps.py" --corpus "$corpus" --tern "$TERN" --db "$db" --servers-running \
                        --todo "$here/steps-todo-kafka.txt" || rc=$?
        else
                compat --runner "$TERN run --remote" --db "$db" --timeout 30 || rc=$?
        fi
        if [ $rc != 0 ]; then
                for f in "$scratch"/ex.log "$scratch"/wk*.log "$scratch"/ix.log; do echo "# --- $f"; tail -40 "$f" | sed 's/^/# /'; done
        fi
        exit $rc
        ;;
*)
        echo "run-compat.sh: unknown backend '$backend'" >&2
        exit 2
        ;;
esac
