#!/usr/bin/env bash
# test-blueprints: bench/blueprints on blueprint-like files written here (not Kestra's): the metadata block
# removed wherever it is, the shipped plugins found, refusals grouped by unknown type and by kind (TAP).
set -u
: "${TERN_SOURCE_ROOT:?}" "${TERN_BUILD_ROOT:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (bench/blueprints is Python)"; exit 0; }

dir=$(mktemp -d /tmp/tern-bench-blueprints.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bp"
tool=$TERN_SOURCE_ROOT/bench/blueprints

# Valid once the metadata block is gone: the block last, with a block scalar that has a blank line
# and a line less indented than the scalar (as some catalogue files have).
cat >"$dir/bp/log-last.yaml" <<'YAML'
id: log-last
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
extend:
  title: A title
  description: |
    First paragraph.

   a line indented less than the scalar
  tags:
    - Core
  ee: false
YAML
# The block first, and a Slack webhook under plugin-slack's name (the shipped notifications plugin).
cat >"$dir/bp/slack-first.yml" <<'YAML'
extend:
  title: Slack first
  tags: [Core]

id: slack-first
namespace: company.team
tasks:
  - id: notify
    type: io.kestra.plugin.slack.notifications.SlackIncomingWebhook
    url: https://hooks.example/x
    messageText: done
YAML
# Refused: two unknown types, one used twice.
cat >"$dir/bp/unknown.yaml" <<'YAML'
id: unknown
namespace: company.team
tasks:
  - id: a
    type: io.example.NoSuchTask
  - id: b
    type: io.example.NoSuchTask
  - id: c
    type: io.example.Other
extend:
  title: x
YAML
# Refused for a property, with the task's id blanked in its kind.
cat >"$dir/bp/property.yaml" <<'YAML'
id: property
namespace: company.team
tasks:
  - id: my_log
    type: io.kestra.plugin.core.log.Log
    message: hi
    colour: blue
YAML

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

"$tool" --builddir "$TERN_BUILD_ROOT" --dir "$dir/bp" --json "$dir/out.json" >"$dir/out.txt" 2>&1
ok $? "bench/blueprints measures the directory ($(head -c 300 "$dir/out.txt" | tr '\n' ' '))"
grep -q "blueprints: 4, validated: 2, share: 50.0% (metadata block removed from 3)" "$dir/out.txt"
ok $? "total, validated, share and blocks removed printed"

python3 - "$dir/out.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
n = 2
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
valid = {f["file"]: f["valid"] for f in m["files"]}
ok(valid.get("log-last.yaml") and valid.get("slack-first.yml"),
   "the block removed first or last, the Slack type found in the shipped plugins (%r)" % m["files"])
ok(m["unknown_types"] == [{"type": "task io.example.NoSuchTask", "flows": 1}, {"type": "task io.example.Other", "flows": 1}],
   "unknown types counted once a flow (%r)" % m["unknown_types"])
ok(m["refused_for_unknown_types_only"] == 1, "one flow refused for unknown types only")
kinds = [k["kind"] for k in m["other_errors"]]
ok(len(kinds) == 1 and "'colour'" in kinds[0] and "my_log" not in kinds[0],
   "other errors grouped by kind: the property kept, the task id blanked (%r)" % kinds)
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$((n + 4))

"$tool" --builddir "$TERN_BUILD_ROOT" --dir "$dir/bp" --no-plugins >"$dir/noplug.txt" 2>&1
grep -q "validated: 1," "$dir/noplug.txt" && grep -q "io.kestra.plugin.slack.notifications.SlackIncomingWebhook" "$dir/noplug.txt"
ok $? "--no-plugins: core types only, the Slack type then unknown"

out=$(env -u TERN_BLUEPRINTS_DIR "$tool" --tap --builddir "$TERN_BUILD_ROOT")
[ $? -eq 0 ] && [[ $out == "1..0 # SKIP no blueprint directory given"* ]]
ok $? "without a directory: a TAP skip plan, exit 0 (${out//#/-})"

echo "1..$n"
exit $failed
