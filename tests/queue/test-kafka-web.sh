#!/usr/bin/env bash
# test-kafka-web: the webserver on the Kafka queue backend ([queue] type = kafka): through its REST
# API (curl), a flow saved to the database is executed by the executor on Kafka, with inputs and a
# FILE input (stored first, as on the database queue), ?wait=true answered once the indexer wrote
# the end; a running execution killed (alone, by ids, with and without the cascade to its
# subflow), a paused one resumed, a failed one restarted, each an event on execution-events; what
# cannot act on Kafka yet (replay, labels, ...) refused with a 501 naming the route and why. A
# webserver whose brokers do not answer does not start (naming them), and one whose brokers go
# down answers its writes 503 (naming them in its log). The mock cluster (kafka-mock), an executor, a worker,
# the indexer and the webserver run as processes (TAP).
set -u
. "$(dirname "$0")/kafka-test-lib.sh"
command -v curl > /dev/null || { echo "1..0 # SKIP no curl"; exit 0; }

dir=$(mktemp -d /tmp/tern-kafka-web.XXXXXX)
pids=()
trap 'kafka_cleanup; rm -rf "$dir"' EXIT

kafka_specs kw.
# The mock takes its commands (a broker down or up) on fd 9 here.
kafka_mock_start -c 9 "${all[@]}"
kafka_conf kw.
# One internal storage for the webserver (FILE inputs) and the worker.
cat >> "$dir/tern.conf" <<EOF
[storage]
url = file://$dir/storage
EOF
unset TERN_WEBSERVER_LISTEN
"$TERN" user add alice --db "$db" <<< "sentinel-password-k" > /dev/null 2>&1 || { echo "Bail out! cannot add a user"; exit 1; }
token=$("$TERN" token create alice --db "$db" 2>/dev/null)
[ -n "$token" ] || { echo "Bail out! cannot create a token"; exit 1; }

kafka_daemons 4
kafka_daemon web webserver --listen 127.0.0.1:0
web_pid=$daemon_pid
port=
for _ in $(seq 1 300); do
        port=$(sed -n 's/.*Webserver listening on .*(port \([0-9]*\)).*/\1/p' "$dir/web.log" | head -1)
        [ -n "$port" ] && break
        kill -0 "$web_pid" 2>/dev/null || break
        sleep 0.1
done
ok "$([ -n "$port" ] && echo 0 || echo 1)" "tern server webserver starts with [queue] type = kafka (port ${port:-none})"
[ -n "$port" ] || { dump_logs; echo "Bail out! the webserver did not start"; exit 1; }
api="http://127.0.0.1:$port/api/v1"

# call METHOD PATH [curl args...]: the body to $dir/body, the status printed.
call() {
        local m=$1 p=$2; shift 2
        curl -s -o "$dir/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $token" "$@" "$api$p"
}
# jq-less: a Python expression of the last body (as d).
body() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$dir/body" 2>/dev/null; }
state() {
        curl -s -H "Authorization: Bearer $token" "$api/executions/$1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["state"]["current"])' 2>/dev/null
}
# wait_state and wait_file (kafka-test-lib.sh) read this state.
save_flow() { call POST /flows -H 'Content-Type: application/x-yaml' --data-binary "@$1"; }

cat > "$dir/hello.yaml" <<EOF
id: hello
namespace: kw.test
inputs:
  - id: who
    type: STRING
  - id: doc
    type: FILE
    required: false
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }}"
EOF
cat > "$dir/filed.yaml" <<EOF
id: filed
namespace: kw.test
inputs:
  - id: doc
    type: FILE
tasks:
  - id: uri
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.doc }}"
EOF
cat > "$dir/nap.yaml" <<EOF
id: nap
namespace: kw.test
tasks:
  - id: sleep
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['touch $dir/napping-{{ execution.id }}', 'sleep 30']
EOF
cat > "$dir/parent.yaml" <<EOF
id: parent
namespace: kw.test
tasks:
  - id: child
    type: io.kestra.plugin.core.flow.Subflow
    namespace: kw.test
    flowId: nap
    wait: true
EOF
cat > "$dir/gate.yaml" <<EOF
id: gate
namespace: kw.test
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: after
EOF
cat > "$dir/flaky.yaml" <<EOF
id: flaky
namespace: kw.test
tasks:
  - id: check
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo {{ taskrun.id }} >> $dir/checks', 'test -e $dir/fixed']
EOF
saved=0
for f in hello filed nap parent gate flaky; do [ "$(save_flow "$dir/$f.yaml")" = 200 ] || saved=1; done
ok $saved "flows are saved through the API (to the database, which the executor on Kafka reads)"

# create: an event on Kafka, the execution shown at once, its end written by the indexer
code=$(call POST /executions/kw.test/hello -H 'Content-Type: application/json' -d '{"who": "kafka"}')
hello=$(body 'd["id"]')
ok "$([ "$code" = 200 ] && [ -n "$hello" ] && echo 0 || echo 1)" "POST /executions/kw.test/hello answers 200 with the new id (got $code: $(head -c 200 "$dir/body"))"
code=$(call GET "/executions/$hello")
ok "$([ "$code" = 200 ] && echo 0 || echo 1)" "the new execution reads back at once (GET answers $code)"
wait_state "$hello" SUCCESS
ok $? "the executor on Kafka runs it to SUCCESS (got $(state "$hello"))"
call GET "/executions/$hello" > /dev/null
ok "$([ "$(body '[t["outputs"]["value"] for t in d["taskRunList"]][0]')" = "hello kafka" ] && echo 0 || echo 1)" \
        "with its inputs (output '$(body '[t["outputs"]["value"] for t in d["taskRunList"]][0]')')"

# ?wait=true: answered with the end, as the indexer wrote it
code=$(call POST "/executions/kw.test/hello?wait=true" -H 'Content-Type: application/json' -d '{"who": "waiter"}')
ok "$([ "$code" = 200 ] && [ "$(body 'd["state"]["current"]')" = SUCCESS ] && echo 0 || echo 1)" \
        "?wait=true answers once the execution ended (got $code, $(body 'd["state"]["current"]'))"

# invalid inputs are refused before anything is sent
code=$(call POST /executions/kw.test/hello -H 'Content-Type: application/json' -d '{}')
ok "$([ "$code" = 422 ] && grep -q who "$dir/body" && echo 0 || echo 1)" "a missing input is refused (422) naming it: $(head -c 160 "$dir/body")"

# a FILE input: uploaded to internal storage, then the execution sent to Kafka
printf 'uploaded through the API\n' > "$dir/doc.txt"
code=$(call POST /executions/kw.test/filed -F "doc=@$dir/doc.txt")
filed=$(body 'd["id"]')
wait_state "$filed" SUCCESS
call GET "/executions/$filed" > /dev/null
uri=$(body '[t["outputs"]["value"] for t in d["taskRunList"]][0]')
stored=$(grep -rl "uploaded through the API" "$dir/storage" 2>/dev/null | grep "$filed" | head -1)
ok "$([ "$code" = 200 ] && [ "$(state "$filed")" = SUCCESS ] && [ "${uri#kestra://}" != "$uri" ] && [ -n "$stored" ] && echo 0 || echo 1)" \
        "a FILE input is stored under the execution first, and the task sees its URI (got $code, $(state "$filed"), '$uri', ${stored:-no stored file})"

# kill
call POST /executions/kw.test/nap > /dev/null
nap=$(body 'd["id"]')
wait_file "$dir/napping-$nap"
code=$(call DELETE "/executions/$nap/kill")
ok "$([ "$code" = 202 ] && echo 0 || echo 1)" "DELETE /executions/{id}/kill of a running execution answers 202 (got $code)"
wait_state "$nap" KILLED
ok $? "it ends KILLED (got $(state "$nap"))"

# bulk kill by ids
call POST /executions/kw.test/nap > /dev/null; a=$(body 'd["id"]')
call POST /executions/kw.test/nap > /dev/null; b=$(body 'd["id"]')
wait_file "$dir/napping-$a"; wait_file "$dir/napping-$b"
code=$(call DELETE /executions/kill/by-ids -H 'Content-Type: application/json' -d "[\"$a\", \"$b\"]")
ok "$([ "$code" = 200 ] && [ "$(body 'd["count"]')" = 2 ] && echo 0 || echo 1)" "kill by ids answers {count: 2} (got $code: $(head -c 100 "$dir/body"))"
wait_state "$a" KILLED && wait_state "$b" KILLED
ok $? "both end KILLED (got $(state "$a"), $(state "$b"))"

# kill cascades to the subflow it waits for, unless ?isOnKillCascade=false
# child_of PARENT: the id of its subflow execution once its task runs (60 s at most).
child_of() {
        local until=$((SECONDS + 60)) c=
        while [ $SECONDS -lt $until ]; do
                c=$(curl -s -H "Authorization: Bearer $token" "$api/executions/search?namespace=kw.test&flowId=nap&size=100" |
                        python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)["results"] if e.get("parentId") == sys.argv[1]))' "$1" 2>/dev/null)
                [ -n "$c" ] && [ -e "$dir/napping-$c" ] && { echo "$c"; return 0; }
                sleep 0.3
        done
        return 1
}
call POST /executions/kw.test/parent > /dev/null; p1=$(body 'd["id"]')
c1=$(child_of "$p1")
code=$(call DELETE "/executions/$p1/kill")
wait_state "$p1" KILLED && wait_state "$c1" KILLED
ok $? "a kill cascades to the running subflow execution (got $code; parent $(state "$p1"), child ${c1:-none} $(state "$c1"))"
call POST /executions/kw.test/parent > /dev/null; p2=$(body 'd["id"]')
c2=$(child_of "$p2")
code=$(call DELETE "/executions/$p2/kill?isOnKillCascade=false")
sleep 3 # longer than the cascade took above
ok "$([ "$code" = 202 ] && [ -n "$c2" ] && [ "$(state "$c2")" = RUNNING ] && echo 0 || echo 1)" \
        "with ?isOnKillCascade=false the subflow execution goes on (got $code; child ${c2:-none} $(state "$c2"))"
call DELETE "/executions/$c2/kill" > /dev/null
wait_state "$c2" KILLED && wait_state "$p2" KILLED
ok $? "killed on its own, it ends KILLED and so does its parent (got $(state "$c2"), $(state "$p2"))"

# resume
call POST /executions/kw.test/gate > /dev/null
gate=$(body 'd["id"]')
wait_state "$gate" PAUSED
ok $? "an execution reaches its Pause task (got $(state "$gate"))"
code=$(call POST "/executions/$gate/resume")
ok "$([ "$code" = 202 ] && echo 0 || echo 1)" "POST /executions/{id}/resume answers 202 (got $code)"
wait_state "$gate" SUCCESS
ok $? "the resumed execution goes on to SUCCESS (got $(state "$gate"))"

# restart: ended, so no executor holds it; the event carries the document
call POST /executions/kw.test/flaky > /dev/null
flaky=$(body 'd["id"]')
wait_state "$flaky" FAILED
ok $? "a failing execution ends FAILED (got $(state "$flaky"))"
touch "$dir/fixed"
code=$(call POST "/executions/$flaky/restart")
ok "$([ "$code" = 202 ] && echo 0 || echo 1)" "POST /executions/{id}/restart answers 202 (got $code)"
wait_state "$flaky" SUCCESS
ok "$([ $? = 0 ] && [ "$(wc -l < "$dir/checks")" = 2 ] && echo 0 || echo 1)" "the failed task runs again and the execution ends SUCCESS (got $(state "$flaky"))"

# refused, saying why
code=$(call POST "/executions/$flaky/resume")
ok "$([ "$code" = 409 ] && grep -q "only paused" "$dir/body" && echo 0 || echo 1)" "resuming an execution that is not paused: 409 (got $code: $(head -c 120 "$dir/body"))"
code=$(call POST "/executions/$flaky/replay")
ok "$([ "$code" = 501 ] && grep -q 'replay is not available with \[queue\] type = kafka: replays are not sent to Kafka yet' "$dir/body" && echo 0 || echo 1)" \
        "replay: 501 naming the route and why (got $code: $(head -c 200 "$dir/body"))"
code=$(call POST "/executions/$flaky/labels" -H 'Content-Type: application/json' -d '[{"key": "a", "value": "b"}]')
ok "$([ "$code" = 501 ] && grep -q '/labels is not available with \[queue\] type = kafka' "$dir/body" && echo 0 || echo 1)" \
        "labels: 501 naming the route (got $code: $(head -c 200 "$dir/body"))"
code=$(call POST "/executions/$flaky/change-status?status=SUCCESS")
ok "$([ "$code" = 501 ] && grep -q 'change-status is not available' "$dir/body" && echo 0 || echo 1)" \
        "change-status: 501 (got $code: $(head -c 200 "$dir/body"))"
code=$(call DELETE /executions/no-such-execution/kill)
ok "$([ "$code" = 404 ] && echo 0 || echo 1)" "killing an unknown execution: 404 (got $code)"

# brokers down: the write is refused 503 (the log names them), and works again once they are back
for b in 1 2 3; do echo "down $b" >&9; done
sleep 1
code=$(call POST /executions/kw.test/hello -H 'Content-Type: application/json' -d '{"who": "nobody"}' --max-time 60)
ok "$([ "$code" = 503 ] && grep -q 'did not acknowledge' "$dir/body" && ! grep -qF "$brokers" "$dir/body" &&
        grep -q "not acknowledged by Kafka: .*$brokers" "$dir/web.log" && echo 0 || echo 1)" \
        "with every broker down a create answers 503 (the brokers named in the log, not to the client) (got $code: $(head -c 200 "$dir/body"))"
for b in 1 2 3; do echo "up $b" >&9; done
code=000; until=$((SECONDS + 60))
while [ $SECONDS -lt $until ]; do
        code=$(call POST /executions/kw.test/hello -H 'Content-Type: application/json' -d '{"who": "again"}' --max-time 60)
        [ "$code" = 200 ] && break
        sleep 1
done
again=$(body 'd["id"]')
wait_state "$again" SUCCESS
ok "$([ "$code" = 200 ] && [ "$(state "$again")" = SUCCESS ] && echo 0 || echo 1)" "once the brokers are back, creates work again (got $code, $(state "$again"))"

# a stop flushes and exits cleanly
kill -TERM "$web_pid"; wait "$web_pid"; rc=$?
ok "$([ $rc = 0 ] && echo 0 || echo 1)" "the webserver stops cleanly on SIGTERM (exit $rc)"

# a webserver whose brokers do not answer does not start, naming them
mkdir -p "$dir/web2"
sed 's/^brokers = .*/brokers = 127.0.0.1:1/' "$dir/tern.conf" > "$dir/down.conf"
TERN_CONFIG=$dir/down.conf TERN_STATE_DIR=$dir/web2 timeout 60 "$TERN" server webserver --listen 127.0.0.1:0 > "$dir/web2.log" 2>&1; rc=$?
ok "$([ $rc != 0 ] && [ $rc != 124 ] && grep -q "no Kafka broker of '127.0.0.1:1' answered" "$dir/web2.log" && ! grep -q "Webserver listening" "$dir/web2.log" && echo 0 || echo 1)" \
        "with no broker answering, the webserver refuses to start naming them (exit $rc: $(grep -m1 -o "no Kafka broker.*" "$dir/web2.log" | head -c 160))"

[ "$failed" = 0 ] || dump_logs
echo "1..$n"
[ "$failed" = 0 ]
