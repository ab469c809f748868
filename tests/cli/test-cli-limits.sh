#!/usr/bin/env bash
# test-cli-limits: the cap on tasks per flow ('tern flow validate', 'tern run') and how it is set (TAP).
set -u
n=0; failed=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { n=$((n+1)); echo "ok $n - $1"; }
fail() { n=$((n+1)); echo "not ok $n - $1"; echo "$out" | head -20 | sed 's/^/# /'; failed=$((failed+1)); }
check() { # name, expected-exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1); rc=$?
        if [ "$rc" = "$want" ]; then pass "$name"; else out="exit $rc, want $want: $out"; fail "$name"; fi
}
contains() { case "$out" in *"$2"*) pass "$1";; *) fail "$1";; esac; }

# A flow of N sequential Log tasks.
flow() { # file, count
        { echo "id: big"; echo "namespace: t.limits"; echo "tasks:"
          for ((i = 0; i < $2; i++)); do printf '  - id: t%d\n    type: io.kestra.plugin.core.log.Log\n    message: x\n' "$i"; done
        } > "$1"
}
flow "$tmp/at.yaml" 10000
flow "$tmp/over.yaml" 10001
check "10,000 tasks validate (the default limit)" 0 "$TERN" flow validate "$tmp/at.yaml"
check "10,001 tasks are refused" 1 "$TERN" flow validate "$tmp/over.yaml"
contains "the error is at the first task past the limit, with the count and the limit" \
        "$tmp/over.yaml:30004:9: the flow has 10001 tasks (counting those inside flowable tasks, errors, finally and afterExecution); the limit is 10000"
contains "the error says where the limit is set" "[flow] max-tasks"

cat > "$tmp/nested.yaml" <<'YAML'
id: nested
namespace: t.limits
tasks:
  - id: seq
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: a
        type: io.kestra.plugin.core.log.Log
        message: a
errors:
  - id: e
    type: io.kestra.plugin.core.log.Log
    message: e
finally:
  - id: f
    type: io.kestra.plugin.core.log.Log
    message: f
afterExecution:
  - id: g
    type: io.kestra.plugin.core.log.Log
    message: g
YAML
check "nested, errors, finally and afterExecution tasks count (5 > 4)" 1 env TERN_FLOW_MAX_TASKS=4 "$TERN" flow validate "$tmp/nested.yaml"
contains "the count includes every kind" "the flow has 5 tasks"
check "5 tasks pass a limit of 5" 0 env TERN_FLOW_MAX_TASKS=5 "$TERN" flow validate "$tmp/nested.yaml"
check "a limit that is not a number is a usage error" 2 env TERN_FLOW_MAX_TASKS=lots "$TERN" flow validate "$tmp/nested.yaml"
contains "the usage error names the variable" "TERN_FLOW_MAX_TASKS='lots'"

mkdir -p "$tmp/state"
check "tern run refuses a flow over the limit" 1 env TERN_FLOW_MAX_TASKS=4 TERN_STATE_DIR="$tmp/state" "$TERN" run "$tmp/nested.yaml"
contains "tern run says why" "the limit is 4"

echo "1..$n"
[ "$failed" = 0 ]
