#!/usr/bin/env bash
# test-cli-queue-refused: [queue] type = kafka is refused at start, with what is missing named, by
# every front end that would run a component that cannot run on it yet (tern run without --remote),
# rather than accepted and ignored; tern config check accepts the settings themselves (TAP). The
# executor and the worker run on it (tests/queue/test-kafka-flows.sh), the scheduler
# (tests/queue/test-kafka-scheduler.sh) and the webserver (tests/queue/test-kafka-web.sh): with no
# broker answering, as here, the webserver refuses to start naming them.
set -u
: "${TERN:?}"
n=0; failed=0
check() { # name, expected-exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1 </dev/null); rc=$?
        n=$((n+1))
        if [ "$rc" = "$want" ]; then echo "ok $n - $name"; else echo "not ok $n - $name (exit $rc, want $want)"; echo "$out" | sed 's/^/# /'; failed=$((failed+1)); fi
}
contains() { # name, needle (in $out)
        n=$((n+1))
        case "$out" in *"$2"*) echo "ok $n - $1";; *) echo "not ok $n - $1"; echo "$out" | head -8 | sed 's/^/# /'; failed=$((failed+1));; esac
}

dir=$(mktemp -d /tmp/tern-queue-refused.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state HOME=$dir/home
unset TERN_DB NOTIFY_SOCKET
conf=$dir/tern.conf
printf '[server]\nstate-dir = %s/state\n[queue]\ntype = kafka\nbrokers = 127.0.0.1:1\nkafka.security.protocol = plaintext\n' "$dir" > "$conf"
export TERN_CONFIG=$conf
printf 'id: hello\nnamespace: q\ntasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n' > "$dir/hello.yaml"

check "tern config check accepts the [queue] settings" 0 "$TERN" config check
contains "config check prints the passed-through property in [queue]" "kafka.security.protocol = plaintext"
check "tern run refuses queue type kafka" 1 "$TERN" run "$dir/hello.yaml"
contains "tern run says why" "only the executor, the worker, the scheduler, the indexer and the webserver run on Kafka yet"
contains "tern run says what to use instead" "use [queue] type = database"
contains "tern run names --remote, which works on Kafka" "or --remote with the executor and workers running on Kafka"
[ ! -e "$dir/state/tern.db" ]; rc=$?
n=$((n+1)); if [ $rc = 0 ]; then echo "ok $n - nothing was stored in the database queue meanwhile"; else echo "not ok $n - nothing was stored in the database queue meanwhile"; failed=$((failed+1)); fi
# (After that check: the webserver opens the database before it asks the brokers.)
check "tern server webserver fails to start when no broker answers" 1 "$TERN" server webserver --listen 127.0.0.1:0
contains "the webserver names the brokers that did not answer" "no Kafka broker of '127.0.0.1:1' answered"

printf '[server]\nstate-dir = %s/state\n[queue]\ntype = database\n' "$dir" > "$conf"
check "queue type database (the default) is accepted" 0 "$TERN" run "$dir/hello.yaml"
check "tern server indexer refuses queue type database (78)" 78 "$TERN" server indexer
contains "the indexer says it serves the Kafka queue backend only" "the indexer serves the Kafka queue backend only"

echo "1..$n"
[ $failed = 0 ]
