#!/usr/bin/env bash
# test-kafka-init: 'tern kafka init' against librdkafka's mock cluster (tests/queue/kafka-mock.c): topics
# present and right are accepted (twice: it is idempotent), a wrong partition count
# is reported, a missing topic the broker cannot create is reported with the broker's reason,
# unreachable brokers and a property librdkafka refuses are clear errors (TAP).
set -u
. "$(dirname "$0")/kafka-test-lib.sh"
check() { # name, expected-exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1); rc=$?
        n=$((n+1))
        if [ "$rc" = "$want" ]; then echo "ok $n - $name"; else echo "not ok $n - $name (exit $rc, want $want)"; echo "$out" | sed 's/^/# /'; failed=$((failed+1)); fi
}
contains() { # name, needle (in $out)
        n=$((n+1))
        case "$out" in *"$2"*) echo "ok $n - $1";; *) echo "not ok $n - $1"; echo "$out" | head -12 | sed 's/^/# /'; failed=$((failed+1));; esac
}
lacks() { # name, needle (not in $out)
        n=$((n+1))
        case "$out" in *"$2"*) echo "not ok $n - $1"; echo "$out" | head -12 | sed 's/^/# /'; failed=$((failed+1));; *) echo "ok $n - $1";; esac
}

dir=$(mktemp -d /tmp/tern-kafka-init.XXXXXX)
pids=()
trap 'kafka_cleanup; rm -rf "$dir"' EXIT
conf="$dir/tern.conf"
printf '[server]\nstate-dir = %s/state\n[queue]\ntopic-prefix = t1.\npartitions = 4\nreplication-factor = 3\n' "$dir" > "$conf"
export TERN_CONFIG="$conf"
kafka_specs t1.

kafka_mock_start "${all[@]}"
check "init accepts a cluster whose topics are all as they should be" 0 "$TERN" kafka init --brokers "$brokers" --timeout 5s
for t in "${kafka_topics[@]}"; do contains "it names t1.$t as present" "t1.$t present"; done
# The topics 'tern kafka topics' lists (which every Kafka test makes) are all init makes.
ok "$([ "$(grep -c " present" <<< "$out")" = "${#kafka_topics[@]}" ] && echo 0 || echo 1)" \
        "init checks as many topics as 'tern kafka topics' lists (${#kafka_topics[@]})"
# The mock has no DescribeConfigs: the check of cleanup.policy says it could not be made.
contains "it says when cleanup.policy could not be checked" "cleanup.policy not checked"
check "init again changes nothing and succeeds (idempotent)" 0 "$TERN" kafka init --brokers "$brokers" --timeout 5s
contains "the second run finds the same topics present" "t1.execution-state present"

# Wrong settings are reported, never changed.
# (The mock gives every partition a replica on each broker, whatever the replication factor asked:
# a wrong replication factor cannot be shown here.)
wrong=("${all[@]}"); wrong[0]="t1.execution-events:2:3"
kafka_mock_stop
kafka_mock_start "${wrong[@]}"
check "a topic with other settings fails init" 1 "$TERN" kafka init --brokers "$brokers" --timeout 5s
contains "a wrong partition count is named with both numbers" \
        "t1.execution-events WRONG: has 2 partitions, [queue] partitions = 4"
contains "the other topics are still listed as present" "t1.logs present"

# A missing topic: the mock cannot create topics (no CreateTopics), which stands for a broker that
# refuses (ACLs, auto-creation policies): the reason is librdkafka's, with the brokers named.
kafka_mock_stop
kafka_mock_start "${all[@]:1}"
check "a topic that cannot be created fails init" 1 "$TERN" kafka init --brokers "$brokers" --timeout 5s
contains "the missing topic is FAILED with the brokers named" "t1.execution-events FAILED: cannot create it on '$brokers': "
contains "the present ones are present" "t1.trigger-events present"
kafka_mock_stop

check "unreachable brokers fail init" 1 "$TERN" kafka init --brokers 127.0.0.1:1 --timeout 2s
contains "the error names the brokers" "cannot read the topics of the Kafka brokers '127.0.0.1:1'"

printf '[server]\nstate-dir = %s/state\n[queue]\nbrokers = 127.0.0.1:1\nkafka.no.such.property = 1\n' "$dir" > "$conf"
check "a property librdkafka does not know fails init" 1 "$TERN" kafka init
contains "the property is named as tern.conf spells it" "[queue] kafka.no.such.property: librdkafka refuses it"
check "tern config check refuses it too" 1 "$TERN" config check
contains "config check names the property" "[queue] kafka.no.such.property: librdkafka refuses it"
printf '[server]\nstate-dir = %s/state\n[queue]\nkafka.security.protocol = carrier-pigeon\n' "$dir" > "$conf"
check "tern config check refuses a value librdkafka refuses" 1 "$TERN" config check
contains "the value's property is named" "[queue] kafka.security.protocol: librdkafka refuses it"
printf '[server]\nstate-dir = %s/state\n[queue]\nkafka.sasl.password = hunter2\n' "$dir" > "$conf"
check "init without brokers is an error" 1 "$TERN" kafka init
contains "it says where brokers are set" "set [queue] brokers in tern.conf or pass --brokers"
check "a bad --timeout is a usage error" 2 "$TERN" kafka init --timeout soon
check "kafka init --help exits 0" 0 "$TERN" kafka init --help
contains "--help names --brokers" "--brokers"
lacks "nothing printed a secret" "hunter2"

echo "1..$n"
[ $failed = 0 ]
