#!/usr/bin/env bash
# test-storage-tasks.sh BACKEND: Kestra's internal storage tasks (io.kestra.plugin.core.storage.*) in
# flows run by `tern run`, against
#   local   a directory
#   s3      radosgw, started and stopped by rgw.sh ($TERN_RGW): Split, Concat and Size at least
#   azure   azurite, started and stopped by azurite.sh ($TERN_AZURITE)
# checking what a user sees: the files' contents (checksums, line counts, item order) read back with
# `tern execution files --get`, the tasks' outputs, and the errors of refused URIs and bad properties.
# On local, a 200 MB Concat, Split and Reverse run on a worker process whose peak RSS is bounded.
set -uo pipefail
backend=${1:?usage: test-storage-tasks.sh local|s3|azure}
TERN=${TERN:?}
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

scratch=$(mktemp -d /tmp/tern-sttasks.XXXXXX)
pids=()
server_stop=
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        [ -n "$server_stop" ] && eval "$server_stop" >/dev/null 2>&1
        rm -rf "$scratch"
}
trap cleanup EXIT

case $backend in
local)
        url="file://$scratch/storage"
        ;;
s3)
        out=$("${TERN_RGW:?}" start "$scratch/rgw" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! radosgw did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint access secret dir <<<"$out"
        server_stop="'$TERN_RGW' stop '$dir'"
        export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
        url="s3://tern-test/tasks$$?endpoint=$endpoint&region=us-east-1"
        ;;
azure)
        out=$("${TERN_AZURITE:?}" start "$scratch/azurite" 2>"$scratch/server.err"); rc=$?
        [ $rc = 77 ] && { echo "1..0 # SKIP $(tail -1 "$scratch/server.err")"; exit 0; }
        [ $rc = 0 ] || { echo "Bail out! azurite did not start: $(tail -3 "$scratch/server.err" | tr '\n' ' ')"; exit 1; }
        read -r endpoint account key dir sas <<<"$out"
        server_stop="'$TERN_AZURITE' stop '$dir'"
        export AZURE_STORAGE_KEY=$key
        url="azure://$account/tern-test/tasks$$?endpoint=$endpoint"
        ;;
*)
        echo "Bail out! unknown backend '$backend'"; exit 1
        ;;
esac
db="sqlite://$scratch/tern.db"
export TERN_STATE_DIR=$scratch/state
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>/dev/null; }
# out TASK KEY: an output of the first run of TASK in run.json
out() { json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == '$1'][0].get('outputs', {})$2"; }
# get URI: the file's content, as a user reads it
get() { "$TERN" execution files "$run_id" --db "$db" --storage "$url" --get "$1"; }
run() { # FLOW [args]: tern run, JSON in run.json, messages in run.err
        "$TERN" run "$@" --db "$db" --storage "$url" --sandbox off -o json >"$scratch/run.json" 2>"$scratch/run.err"
}

# ---- every task, one flow -----------------------------------------------------------------------
cat >"$scratch/tasks.yaml" <<'EOF'
id: tasks
namespace: t.storage.tasks
tasks:
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [numbers.txt, crlf.txt, items.ion]
    commands:
      - seq 1 1000 > numbers.txt
      - printf 'x\r\ny\rz' > crlf.txt
      - printf '{key:"k1",value:1}\n{key:"k2",value:2}\n{key:"k3",value:"dummy"}\n{key:"k4",value:4}\n{key:"k1",value:5}\n' > items.ion
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "hello from {{ flow.id }}"
    extension: .txt
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files:
      - "{{ outputs.gen.outputFiles['numbers.txt'] }}"
      - "{{ outputs.write.uri }}"
    separator: "\n"
  - id: concat_json
    type: io.kestra.plugin.core.storage.Concat
    files: '["{{ outputs.write.uri }}", "{{ outputs.write.uri }}"]'
    extension: .txt
  - id: split_rows
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
    rows: 100
  - id: split_bytes
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
    bytes: 1KB
  - id: split_partitions
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
    partitions: 8
  - id: split_regex
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
    regexPattern: "^([0-9])"
  - id: reverse
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
  - id: reverse_crlf
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.gen.outputFiles['crlf.txt'] }}"
    separator: ";"
  - id: filter
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{ outputs.gen.outputFiles['items.ion'] }}"
    filterCondition: "{{ value % 2 == 0 }}"
    errorOrNullBehavior: INCLUDE
  - id: filter_exclude
    type: io.kestra.plugin.core.storage.FilterItems
    from: "{{ outputs.gen.outputFiles['items.ion'] }}"
    filterCondition: "{{ key == 'k1' }}"
    filterType: EXCLUDE
  - id: dedup
    type: io.kestra.plugin.core.storage.DeduplicateItems
    from: "{{ outputs.gen.outputFiles['items.ion'] }}"
    expr: "{{ key }}"
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: local_in
        type: io.kestra.plugin.core.storage.LocalFiles
        inputs:
          hello.txt: "Hello"
          numbers.txt: "{{ outputs.gen.outputFiles['numbers.txt'] }}"
      - id: count
        type: io.kestra.plugin.scripts.shell.Commands
        taskRunner:
          type: io.kestra.plugin.core.runner.Process
        commands:
          - mkdir -p sub
          - (cat hello.txt; echo; wc -l < numbers.txt) > sub/count.txt
      - id: local_out
        type: io.kestra.plugin.core.storage.LocalFiles
        outputs: ["sub/*.txt"]
  - id: delete
    type: io.kestra.plugin.core.storage.Delete
    uri: "{{ outputs.concat_json.uri }}"
  - id: delete_again
    type: io.kestra.plugin.core.storage.Delete
    uri: "{{ outputs.concat_json.uri }}"
EOF
run "$scratch/tasks.yaml"
rc=$?
run_id=$(json "$scratch/run.json" 'd["id"]')
ok "$([ $rc = 0 ] && [ "$(json "$scratch/run.json" 'd["state"]["current"]')" = SUCCESS ] && echo 0 || echo 1)" \
        "a flow with every storage task succeeds on $backend"
[ $rc = 0 ] || sed 's/^/# /' "$scratch/run.err" | tail -8
seq 1 1000 >"$scratch/numbers.txt"
numbers_sum=$(sha256sum <"$scratch/numbers.txt" | cut -c1-64)

uri=$(out write "['uri']")
ok "$(case $uri in "kestra:///t/storage/tasks/tasks/executions/$run_id/tasks/write/"*.txt) echo 0;; *) echo 1;; esac)" \
        "Write: a kestra:/// URI of the task run, with its extension ($uri)"
ok "$([ "$(get "$uri")" = "hello from tasks" ] && echo 0 || echo 1)" "Write: the file holds the rendered content"
size=$(out size "['size']")
ok "$([ "$size" = "$(stat -c %s "$scratch/numbers.txt")" ] && echo 0 || echo 1)" "Size: $size bytes"

got=$(get "$(out concat "['uri']")" | sha256sum | cut -c1-64)
want=$( (cat "$scratch/numbers.txt"; echo; printf 'hello from tasks\n') | sha256sum | cut -c1-64)
ok "$([ "$got" = "$want" ] && echo 0 || echo 1)" "Concat: the files in order, the separator after each (sha256 $got)"

uris=$(out split_rows "['uris']")
parts=$(json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == 'split_rows'][0]['outputs']['uris'])")
all=$(for u in $(json "$scratch/run.json" "' '.join([t for t in d['taskRunList'] if t['taskId'] == 'split_rows'][0]['outputs']['uris'])"); do get "$u"; done | sha256sum | cut -c1-64)
first=$(get "$(json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == 'split_rows'][0]['outputs']['uris'][0]")" | wc -l)
ok "$([ "$parts" = 10 ] && [ "$first" = 100 ] && [ "$all" = "$numbers_sum" ] && echo 0 || echo 1)" \
        "Split rows: 10 parts of 100 lines that put together are the file ($parts parts, $first lines in the first)"
split_join() { for u in $(json "$scratch/run.json" "' '.join([t for t in d['taskRunList'] if t['taskId'] == '$1'][0]['outputs']['uris'])"); do get "$u"; done; }
# 1KB: a part takes lines until it holds 1024 bytes or more
want_parts=$(python3 -c 'import sys
parts, cur = 0, None
for i in range(1, 1001):
    if cur is None or cur >= 1024: parts += 1; cur = 0
    cur += len(str(i)) + 1
print(parts)')
parts=$(json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == 'split_bytes'][0]['outputs']['uris'])")
ok "$([ "$parts" = "$want_parts" ] && [ "$(split_join split_bytes | sha256sum | cut -c1-64)" = "$numbers_sum" ] && echo 0 || echo 1)" \
        "Split bytes: $parts parts of about 1 KiB (Kestra's rule gives $want_parts), the whole file in order"
parts=$(json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == 'split_partitions'][0]['outputs']['uris'])")
first=$(get "$(json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == 'split_partitions'][0]['outputs']['uris'][0]")" | head -3 | tr '\n' ,)
ok "$([ "$parts" = 8 ] && [ "$first" = "1,9,17," ] && [ "$(split_join split_partitions | sort -n | sha256sum | cut -c1-64)" = "$numbers_sum" ] && echo 0 || echo 1)" \
        "Split partitions: 8 parts dealt in turn ($first...), no line lost"
parts=$(json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == 'split_regex'][0]['outputs']['uris'])")
first=$(get "$(json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == 'split_regex'][0]['outputs']['uris'][0]")" | tr '\n' , | cut -c1-20)
ok "$([ "$parts" = 9 ] && [ "$first" = "1,10,11,12,13,14,15," ] && echo 0 || echo 1)" \
        "Split regexPattern: a part per first digit, in order of appearance ($parts parts; the first: $first...)"

got=$(get "$(out reverse "['uri']")" | sha256sum | cut -c1-64)
ok "$([ "$got" = "$(tac "$scratch/numbers.txt" | sha256sum | cut -c1-64)" ] && echo 0 || echo 1)" "Reverse: the last line first"
got=$(get "$(out reverse_crlf "['uri']")")
ok "$([ "$got" = "z;y;x;" ] && echo 0 || echo 1)" "Reverse: \\r\\n and \\r end lines too, the separator after each ($got)"

got=$(get "$(out filter "['uri']")" | tr '\n' '|')
ok "$([ "$got" = '{key:"k2",value:2}|{key:"k3",value:"dummy"}|{key:"k4",value:4}|' ] &&
        [ "$(out filter "['processedItemsTotal']")" = 5 ] && [ "$(out filter "['droppedItemsTotal']")" = 2 ] && echo 0 || echo 1)" \
        "FilterItems: the items whose condition holds, those it cannot evaluate included (errorOrNullBehavior INCLUDE): $got"
got=$(get "$(out filter_exclude "['uri']")" | cut -c1-9 | tr '\n' ' ')
ok "$([ "$got" = '{key:"k2" {key:"k3" {key:"k4" ' ] && echo 0 || echo 1)" "FilterItems EXCLUDE drops the matching items: $got"
got=$(get "$(out dedup "['uri']")" | tr '\n' '|')
ok "$([ "$got" = '{key:"k2",value:2}|{key:"k3",value:"dummy"}|{key:"k4",value:4}|{key:"k1",value:5}|' ] &&
        [ "$(out dedup "['numKeys']")" = 4 ] && [ "$(out dedup "['droppedItemsTotal']")" = 1 ] &&
        [ "$(out dedup "['processedItemsTotal']")" = 5 ] && echo 0 || echo 1)" \
        "DeduplicateItems: the last item of each key, in file order: $got"

uri=$(out local_out "['uris']['sub/count.txt']")
got=$(get "$uri" | tr '\n' ' ')
ok "$([ "$got" = "Hello 1000 " ] && echo 0 || echo 1)" \
        "LocalFiles in a WorkingDirectory: inputs (text and a fetched kestra:/// file) in, outputs by glob out ($got)"
ok "$([ "$(out delete "['deleted']")" = True ] && [ "$(out delete_again "['deleted']")" = False ] && echo 0 || echo 1)" \
        "Delete: deleted, then nothing left to delete (deleted: $(out delete "['deleted']"), $(out delete_again "['deleted']"))"
err=$(get "$(out delete "['uri']")" 2>&1 >/dev/null)
ok "$([ -n "$err" ] && echo 0 || echo 1)" "the deleted file is gone: $err"
tasks_id=$run_id
tasks_file=$(out gen "['outputFiles']['numbers.txt']")

# ---- PurgeCurrentExecutionFiles -----------------------------------------------------------------
cat >"$scratch/purge.yaml" <<'EOF'
id: purge
namespace: t.storage.tasks
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "x"
  - id: purge
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ fileExists(outputs.write.uri) }}"
EOF
run "$scratch/purge.yaml"
rc=$?
run_id=$(json "$scratch/run.json" 'd["id"]')
ok "$([ $rc = 0 ] && [ "$(out purge "['uris']")" = "['$(out write "['uri']")']" ] && [ "$(out after "['value']")" = false ] && echo 0 || echo 1)" \
        "PurgeCurrentExecutionFiles: deletes the execution's files, says which ($(out purge "['uris']"); exists after: $(out after "['value']"))"

# ---- Kestra's own test cases ---------------------------------------------------------------------
# The cases of Kestra's unit tests (core/src/test/java/io/kestra/plugin/core/storage/SplitTest,
# ConcatTest, ReverseTest, DeduplicateItemsTest) with their inputs and the numbers they assert,
# as a flow: its files written by a task instead of put into storage by the test.
cat >"$scratch/kestra.yaml" <<'EOF'
id: kestra_cases
namespace: t.storage.tasks
tasks:
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [get.yml, big.yml, three.yml, kv.ion]
    commands:
      # SplitTest's content(count): the numbers from 0 left-padded to 20 characters, a line each
      - seq 0 999 | xargs printf '%20s\n' > get.yml
      - seq 0 12287 | xargs printf '%20s\n' > big.yml
      - printf '1\n2\n3\n' > three.yml
      - printf '%s\n' '{key:"k1",value:"v1"}' '{key:"k2",value:"v1"}' '{key:"k3",value:"v1"}' '{key:"k1",value:"v2"}' '{key:"k2",value:"v2"}' '{key:"k2",value:null}' '{key:"k3",value:"v2"}' '{key:"k1",value:"v3"}' > kv.ion
  - id: partition
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['get.yml'] }}"
    partitions: 8
  - id: rows
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['get.yml'] }}"
    rows: 10
  - id: bytes
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['big.yml'] }}"
    bytes: 1KB
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files: ["{{ outputs.gen.outputFiles['get.yml'] }}", "{{ outputs.gen.outputFiles['get.yml'] }}"]
    separator: "\n"
    extension: .yml
  - id: reverse
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.gen.outputFiles['three.yml'] }}"
  - id: dedup
    type: io.kestra.plugin.core.storage.DeduplicateItems
    from: "{{ outputs.gen.outputFiles['kv.ion'] }}"
    expr: " {{ key }} "
EOF
run "$scratch/kestra.yaml"
rc=$?
run_id=$(json "$scratch/run.json" 'd["id"]')
ok "$([ $rc = 0 ] && [ "$(json "$scratch/run.json" 'd["state"]["current"]')" = SUCCESS ] && echo 0 || echo 1)" \
        "Kestra's storage task test cases run on $backend"
[ $rc = 0 ] || sed 's/^/# /' "$scratch/run.err" | tail -8
seq 0 999 | xargs printf '%20s\n' >"$scratch/get.yml"
seq 0 12287 | xargs printf '%20s\n' >"$scratch/big.yml"
nuris() { json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == '$1'][0]['outputs']['uris'])"; }
first_uri() { json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == '$1'][0]['outputs']['uris'][0]"; }
got=$(split_join partition | grep -c '')
ok "$([ "$(nuris partition)" = 8 ] && [[ $(first_uri partition) == *.yml ]] && [ "$got" = 1000 ] && echo 0 || echo 1)" \
        "SplitTest.partition: 8 files ending .yml, 1000 lines in all ($(nuris partition) files, $got lines)"
ok "$([ "$(nuris rows)" = 100 ] && cmp -s <(split_join rows) "$scratch/get.yml" && echo 0 || echo 1)" \
        "SplitTest.rows: 100 files that put together are the content ($(nuris rows))"
# (Each part takes lines of 21 bytes until it holds 1 KiB: 49 lines, the last part the 38 left; the
# first and the last read back, not all 251, each a tern process.)
last_uri=$(json "$scratch/run.json" "[t for t in d['taskRunList'] if t['taskId'] == 'bytes'][0]['outputs']['uris'][-1]")
ok "$([ "$(nuris bytes)" = 251 ] && cmp -s <(get "$(first_uri bytes)") <(head -49 "$scratch/big.yml") &&
        cmp -s <(get "$last_uri") <(tail -38 "$scratch/big.yml") && echo 0 || echo 1)" \
        "SplitTest.bytes: 1KB of 12288 lines gives 251 files, the first 49 lines, ..., the last 38 ($(nuris bytes))"
uri=$(out concat "['uri']")
ok "$([[ $uri == *.yml ]] && cmp -s <(get "$uri") <(cat "$scratch/get.yml"; echo; cat "$scratch/get.yml"; echo) && echo 0 || echo 1)" \
        "ConcatTest: the file, \\n, the file, \\n, in a .yml file ($uri)"
uri=$(out reverse "['uri']")
ok "$([[ $uri == *.yml ]] && [ "$(get "$uri" | od -An -c | tr -d ' \n')" = '3\n2\n1\n' ] && echo 0 || echo 1)" \
        "ReverseTest: 3\\n2\\n1\\n in a .yml file ($uri)"
got=$(get "$(out dedup "['uri']")" | tr '\n' '|')
ok "$([ "$got" = '{key:"k2",value:null}|{key:"k3",value:"v2"}|{key:"k1",value:"v3"}|' ] &&
        [ "$(out dedup "['numKeys']")" = 3 ] && [ "$(out dedup "['droppedItemsTotal']")" = 5 ] &&
        [ "$(out dedup "['processedItemsTotal']")" = 8 ] && echo 0 || echo 1)" \
        "DeduplicateItemsTest: 3 keys, 5 dropped of 8, the last of each in file order: $got"

# ---- refused ------------------------------------------------------------------------------------
# refused FLOW-YAML EXPECTED-TEXT WHAT [run args]
refused() {
        local yaml=$1 want=$2 what=$3; shift 3
        printf '%s\n' "$yaml" >"$scratch/bad.yaml"
        # the task's log, as tern run shows it
        "$TERN" run "$scratch/bad.yaml" --db "$db" --storage "$url" --sandbox off "$@" >"$scratch/run.out" 2>&1
        local rc=$? why
        why=$(grep -o "$want.*" "$scratch/run.out" | head -1)
        ok "$([ $rc != 0 ] && grep -q FAILED "$scratch/run.out" && [ -n "$why" ] && echo 0 || echo 1)" "$what: $why"
        [ -n "$why" ] || sed 's/^/# /' "$scratch/run.out" | tail -4
}
hdr='id: bad
namespace: t.storage.tasks
inputs:
  - id: u
    type: STRING
    required: false
tasks:'
refused "$hdr
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: \"{{ inputs.u }}\"" "doesn't belong to the current execution" "another execution's file is refused" -i "u=$tasks_file"
refused "$hdr
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files: [\"{{ inputs.u }}\"]" "doesn't belong to the current execution" "Concat of another execution's file is refused" -i "u=$tasks_file"
refused "$hdr
  - id: del
    type: io.kestra.plugin.core.storage.Delete
    uri: \"{{ inputs.u }}\"" "doesn't belong to the current execution" "Delete of another execution's file is refused" -i "u=$tasks_file"
refused "$hdr
  - id: rev
    type: io.kestra.plugin.core.storage.Reverse
    from: \"kestra:///t/storage/tasks/bad/executions/{{ execution.id }}/../../tasks/executions/$tasks_id/x\"" \
        "not a valid file URI" "a URI with traversal is refused"
refused "$hdr
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: \"kestra:///t/storage/tasks/bad/executions/{{ execution.id }}/tasks/x/y/missing.txt\"" \
        "no file 'kestra:" "a missing file fails the task, naming it"
refused "$hdr
  - id: del
    type: io.kestra.plugin.core.storage.Delete
    uri: \"kestra:///t/storage/tasks/bad/executions/{{ execution.id }}/tasks/x/y/missing.txt\"
    errorOnMissing: true" "Unable to find file" "Delete with errorOnMissing fails on a missing file"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: abc
  - id: split
    type: io.kestra.plugin.core.storage.Split
    from: \"{{ outputs.w.uri }}\"" "one of the properties 'bytes'" "Split without bytes, partitions, rows or regexPattern is refused"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: abc
  - id: split
    type: io.kestra.plugin.core.storage.Split
    from: \"{{ outputs.w.uri }}\"
    bytes: 10 parsecs" "property 'bytes'" "Split with a bad size is refused"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: abc
  - id: rev
    type: io.kestra.plugin.core.storage.Reverse
    from: \"{{ outputs.w.uri }}\"
    charset: UTF-16" "property 'charset'" "Reverse with a charset it cannot split lines in is refused"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: '{value:1}'
    extension: /../x" "property 'extension'" "an extension that is a path is refused"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: '{value:\"dummy\"}'
  - id: filter
    type: io.kestra.plugin.core.storage.FilterItems
    from: \"{{ outputs.w.uri }}\"
    filterCondition: \"{{ value % 2 == 0 }}\"" "item 1" "FilterItems fails on an item it cannot evaluate (errorOrNullBehavior FAIL)"
refused "$hdr
  - id: w
    type: io.kestra.plugin.core.storage.Write
    content: '{value:1'
  - id: dedup
    type: io.kestra.plugin.core.storage.DeduplicateItems
    from: \"{{ outputs.w.uri }}\"
    expr: \"{{ value }}\"" "is not valid Ion" "an item that is not Ion fails the task, saying which"
# Many items and an expression for each: the task's timeout stops it, as it does any task.
start=$(date +%s)
refused "$hdr
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [items.ion]
    commands:
      - seq 1 3000000 | sed 's/.*/{value:&}/' > items.ion
  - id: filter
    type: io.kestra.plugin.core.storage.FilterItems
    timeout: PT1S
    from: \"{{ outputs.gen.outputFiles['items.ion'] }}\"
    filterCondition: \"{{ value % 2 == 0 }}\"" "Timeout after PT1S" "FilterItems stops at its timeout"
took=$(($(date +%s) - start))
ok "$([ $took -lt 60 ] && echo 0 || echo 1)" "and well before it would have read 3 million items ($took s)"

# ---- built-in tasks run in the worker's thread: its kill and their timeout still end them ----------
# Sleep, and Split of a file of 3 million rows into parts of 10 (300,000 files: minutes of work).
start=$(date +%s)
refused "$hdr
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    timeout: PT1S
    duration: PT1H" "Timeout after PT1S" "Sleep PT1H with timeout PT1S fails at its timeout"
took=$(($(date +%s) - start))
ok "$([ $took -lt 30 ] && echo 0 || echo 1)" "in seconds ($took s)"
if [ "$backend" = local ]; then
        rows_gen='  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [rows.txt]
    commands:
      - seq 1 3000000 > rows.txt'
        start=$(date +%s)
        refused "$hdr
$rows_gen
  - id: split
    type: io.kestra.plugin.core.storage.Split
    timeout: PT1S
    from: \"{{ outputs.gen.outputFiles['rows.txt'] }}\"
    rows: 10" "Timeout after PT1S: '.*' was split only in part" "Split stops at its timeout"
        took=$(($(date +%s) - start))
        ok "$([ $took -lt 60 ] && echo 0 || echo 1)" "well before its 300,000 parts ($took s)"
        # killed mid-way: Exit KILLED in a parallel branch kills its running sibling
        cat >"$scratch/killsplit.yaml" <<EOF
id: killsplit
namespace: t.storage.tasks
tasks:
$rows_gen
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: split
        type: io.kestra.plugin.core.storage.Split
        from: "{{ outputs.gen.outputFiles['rows.txt'] }}"
        rows: 10
      - id: later
        type: io.kestra.plugin.core.flow.Sequential
        tasks:
          - id: wait
            type: io.kestra.plugin.core.flow.Sleep
            duration: PT2S
          - id: exit
            type: io.kestra.plugin.core.execution.Exit
            state: KILLED
EOF
        start=$(date +%s)
        run "$scratch/killsplit.yaml"
        took=$(($(date +%s) - start))
        st=$(json "$scratch/run.json" "(d['state']['current'], [t['state']['current'] for t in d['taskRunList'] if t['taskId'] == 'split'])")
        ok "$([ "$st" = "('KILLED', ['KILLED'])" ] && [ $took -lt 60 ] && echo 0 || echo 1)" \
                "Split killed mid-way ends KILLED promptly ($st, $took s)"
fi

# ---- 200 MB through a worker process: bounded memory ---------------------------------------------
if [ "$backend" = local ]; then
        cat >"$scratch/big.yaml" <<'EOF'
id: big
namespace: t.storage.tasks
tasks:
  - id: gen
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [big.txt]
    commands:
      - seq -w 1 20000000 > big.txt
  - id: concat
    type: io.kestra.plugin.core.storage.Concat
    files: ["{{ outputs.gen.outputFiles['big.txt'] }}", "{{ outputs.gen.outputFiles['big.txt'] }}"]
  - id: split
    type: io.kestra.plugin.core.storage.Split
    from: "{{ outputs.gen.outputFiles['big.txt'] }}"
    bytes: 64MB
  - id: reverse
    type: io.kestra.plugin.core.storage.Reverse
    from: "{{ outputs.gen.outputFiles['big.txt'] }}"
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ outputs.reverse.uri }}"
EOF
        server_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64")
        mkdir -p "$scratch/ex" "$scratch/wk"
        TERN_STATE_DIR=$scratch/ex "${server_env[@]}" "$TERN" server executor --db "$db" --storage "$url" >"$scratch/ex.log" 2>&1 &
        pids+=($!)
        TERN_STATE_DIR=$scratch/wk "${server_env[@]}" "$TERN" server worker --workers 1 --sandbox off --db "$db" --storage "$url" \
                >"$scratch/wk.log" 2>&1 &
        pids+=($!)
        wk_pid=$!
        "$TERN" run "$scratch/big.yaml" --remote --db "$db" --storage "$url" -o json --timeout PT8M >"$scratch/run.json" 2>"$scratch/run.err"
        rc=$?
        run_id=$(json "$scratch/run.json" 'd["id"]')
        big_size=$((20000000 * 9))
        ok "$([ $rc = 0 ] && [ "$(out size "['size']")" = $big_size ] &&
                [ "$(json "$scratch/run.json" "len([t for t in d['taskRunList'] if t['taskId'] == 'split'][0]['outputs']['uris'])")" = 3 ] &&
                echo 0 || echo 1)" "180 MB: Concat, Split in 3 parts and Reverse on a worker process ($(out size "['size']") bytes reversed)"
        [ $rc = 0 ] || { sed 's/^/# /' "$scratch/run.err" | tail -5; tail -3 "$scratch/wk.log" | sed 's/^/# worker: /'; }
        got=$(get "$(out reverse "['uri']")" | head -2 | tr '\n' ' ')
        ok "$([ "$got" = "20000000 19999999 " ] && echo 0 || echo 1)" "the reversed file starts with the last lines ($got)"
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$wk_pid/status" 2>/dev/null)
        ok "$([ -n "$hwm" ] && [ "$hwm" -lt 65536 ] && echo 0 || echo 1)" \
                "the worker streamed them in bounded memory: peak RSS ${hwm:-?} kB (< 64 MB)"
fi

echo "1..$n"
[ $failed = 0 ]
