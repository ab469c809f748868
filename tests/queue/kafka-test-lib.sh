# kafka-test-lib.sh: what the Kafka tests share, sourced: the topic list (from tern itself), the mock cluster, tern.conf's [queue], the daemons.
# The sourcing script sets $TERN and $KAFKA_MOCK (the meson env), $dir (its own mktemp -d
# directory) and an array pids=() it kills at its end; every process started here is added to it.

# Before anything else: a tern built without librdkafka has no mock cluster to test on.
if [ -z "${KAFKA_MOCK:-}" ]; then
        echo "1..0 # SKIP tern is built without the Kafka queue backend (librdkafka)"
        exit 0
fi
: "${TERN:?}"

# tern's own list: a topic added to the product reaches every test without editing them.
mapfile -t kafka_topics < <("$TERN" kafka topics)
[ "${#kafka_topics[@]}" -gt 0 ] || { echo "Bail out! 'tern kafka topics' listed nothing"; exit 1; }

# kafka_specs PREFIX: sets all=(PREFIXtopic:4:3 ...), every topic as kafka_conf's [queue] wants it.
kafka_specs() {
        all=()
        local t
        for t in "${kafka_topics[@]}"; do all+=("$1$t:4:3"); done
}

# kafka_mock_start [-c FD] TOPIC:PARTITIONS:REPLICATION...: a 3-broker mock cluster, its log in
# $dir/mock.log; sets $brokers and $mock_pid. With -c, it takes its commands (a broker down or up,
# a leader moved, a record to produce) on fd FD, a fifo kept open here.
kafka_mock_start() {
        local fd=
        if [ "$1" = -c ]; then fd=$2; shift 2; fi
        : > "$dir/boot"
        if [ -n "$fd" ]; then
                rm -f "$dir/mock.ctl"
                mkfifo "$dir/mock.ctl"
                "$KAFKA_MOCK" 3 "$@" < "$dir/mock.ctl" > "$dir/boot" 2> "$dir/mock.log" &
                mock_pid=$!
                # The mock's open of the fifo waits for this writer.
                eval "exec $fd> \"\$dir/mock.ctl\""
        else
                "$KAFKA_MOCK" 3 "$@" > "$dir/boot" 2> "$dir/mock.log" &
                mock_pid=$!
        fi
        pids+=("$mock_pid")
        for _ in $(seq 1 200); do
                [ -s "$dir/boot" ] && break
                kill -0 "$mock_pid" 2>/dev/null || break
                sleep 0.05
        done
        brokers=$(head -1 "$dir/boot")
        [ -n "$brokers" ] || { echo "Bail out! the mock cluster did not start: $(cat "$dir/mock.log")"; exit 1; }
}

# kafka_mock_stop: the cluster kafka_mock_start started, gone (a test that starts another).
kafka_mock_stop() {
        [ -n "${mock_pid:-}" ] || return 0
        kill -9 "$mock_pid" 2>/dev/null
        wait "$mock_pid" 2>/dev/null
        mock_pid=
}

# kafka_conf PREFIX: $dir/tern.conf with the database $db (SQLite in $dir) and [queue] on the mock
# with topic-prefix PREFIX, as $TERN_CONFIG; the database migrated. Its last section is [queue]:
# a test appends its own kafka.* properties, then any other section.
kafka_conf() {
        db="sqlite://$dir/tern.db"
        cat > "$dir/tern.conf" <<EOF
[database]
url = $db
[queue]
type = kafka
brokers = $brokers
topic-prefix = $1
partitions = 4
replication-factor = 3
kafka.log_level = 3
EOF
        # The commands find [queue] here, as an operator's command finds /etc/tern/tern.conf.
        export TERN_CONFIG=$dir/tern.conf
        unset NOTIFY_SOCKET TERN_DB
        "$TERN" db migrate --db "$db" > /dev/null || { echo "Bail out! cannot migrate"; exit 1; }
}

# kafka_daemon NAME SERVER-ARGUMENTS...: 'tern server ...' with its state in $dir/NAME and its log
# in $dir/NAME.log (appended: a daemon restarted keeps one log); sets $daemon_pid.
kafka_daemon() {
        local name=$1
        shift
        mkdir -p "$dir/$name"
        TERN_STATE_DIR=$dir/$name "$TERN" server "$@" >> "$dir/$name.log" 2>&1 &
        daemon_pid=$!
        pids+=("$daemon_pid")
}

# kafka_daemons WORKER-SLOTS: an executor (ex), a worker with that many slots (wk) and the indexer
# (ix), which writes what the executor steps into the database the commands read.
kafka_daemons() {
        kafka_daemon ex executor
        kafka_daemon wk worker --workers "$1" --sandbox off
        kafka_daemon ix indexer
}

# field ID PYTHON-EXPRESSION-OF-d: from the execution as the database $db shows it.
field() {
        "$TERN" execution show "$1" -o json --db "$db" 2>/dev/null |
                python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" 2>/dev/null
}
# state ID: its current state there (a test that reads it elsewhere, the API, defines its own).
state() { field "$1" 'd["state"]["current"]'; }
# wait_state ID STATE [SECONDS]: until state shows it (60 s by default).
wait_state() {
        local until=$((SECONDS + ${3:-60}))
        while [ $SECONDS -lt $until ]; do
                [ "$(state "$1")" = "$2" ] && return 0
                sleep 0.3
        done
        return 1
}
# wait_file PATH: until it exists (60 s at most).
wait_file() { local until=$((SECONDS + 60)); while [ $SECONDS -lt $until ]; do [ -e "$1" ] && return 0; sleep 0.2; done; return 1; }

# The TAP line, the end that kills what was started, and the logs shown after a failure.
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }
kafka_cleanup() {
        exec 9>&- 7>&- 2>/dev/null
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
dump_logs() { for f in "$dir"/*.log; do echo "# --- $f"; tail -30 "$f" | sed 's/^/# /'; done; }
