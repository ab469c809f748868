#!/usr/bin/env bash
# test-cli-flow: 'tern flow validate' output format and exit codes (TAP).
set -u
n=0; failed=0
fixtures="$TERN_SOURCE_ROOT/tests/flows"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { n=$((n+1)); echo "ok $n - $1"; }
fail() { n=$((n+1)); echo "not ok $n - $1"; echo "$out" | head -20 | sed 's/^/# /'; failed=$((failed+1)); }
check() { # name, expected-exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1); rc=$?
        if [ "$rc" = "$want" ]; then pass "$name"; else out="exit $rc, want $want: $out"; fail "$name"; fi
}
contains() { case "$out" in *"$2"*) pass "$1";; *) fail "$1";; esac; }
lacks() { case "$out" in *"$2"*) fail "$1";; *) pass "$1";; esac; }

check "valid flow exits 0" 0 "$TERN" flow validate "$fixtures/valid/model.yaml"
[ "$out" = "$fixtures/valid/model.yaml: OK" ] && pass "valid flow prints FILE: OK" || fail "valid flow prints FILE: OK"

check "invalid flow exits 1" 1 "$TERN" flow validate "$fixtures/invalid/unknown-type.yaml"
contains "error is file:line:col: message" "$fixtures/invalid/unknown-type.yaml:5:11: unknown task type 'io.kestra.plugin.core.log.Logg'; did you mean 'io.kestra.plugin.core.log.Log'?"
contains "every error of the file is printed" "unknown-type.yaml:7:11: unknown task type 'Retrun'"

# A type the registry knows but this build cannot run is refused before anything runs, at its type: line.
check "a known type this build cannot run exits 1" 1 "$TERN" flow validate "$fixtures/invalid/not-runnable.yaml"
contains "it is refused at file:line:col, saying why" "$fixtures/invalid/not-runnable.yaml:8:11: task type 'io.kestra.plugin.core.flow.Template' is known but this build cannot run it (templates are deprecated by Kestra and not implemented; use io.kestra.plugin.core.flow.Subflow)"
contains "nested ones too" "not-runnable.yaml:15:15: task type 'io.kestra.core.tasks.flows.Template' is known but this build cannot run it"
check "tern run refuses it too" 1 env TERN_STATE_DIR="$tmp/state" "$TERN" run "$fixtures/invalid/not-runnable.yaml" --sandbox off
contains "tern run names the type line" "not-runnable.yaml:8:11: task type 'io.kestra.plugin.core.flow.Template' is known but this build cannot run it"
[ ! -e "$tmp/state" ] || [ -z "$(ls -A "$tmp/state" 2>/dev/null)" ] && pass "tern run created no execution" || { out=$(ls -la "$tmp/state"); fail "tern run created no execution"; }

check "one invalid among valid exits 1" 1 "$TERN" flow validate "$fixtures/valid/model.yaml" "$fixtures/invalid/duplicate-ids.yaml"
contains "the valid one is OK" "model.yaml: OK"
contains "the invalid one has its errors" "duplicate-ids.yaml:12:17: duplicate task id 'same'"
[ "$(echo "$out" | grep -c 'duplicate task id')" = 3 ] && pass "all three duplicates reported" || fail "all three duplicates reported"

check "missing file exits 1" 1 "$TERN" flow validate "$tmp/nope.yaml"
contains "missing file is named with the reason" "$tmp/nope.yaml: cannot read: No such file or directory"

check "no file is a usage error" 2 "$TERN" flow validate
contains "usage error says what is missing" "no flow file given"
check "unknown option is a usage error" 2 "$TERN" flow validate --frobnicate x.yaml
contains "unknown option named" "unknown option '--frobnicate'"
check "bad output format is a usage error" 2 "$TERN" flow validate -o xml x.yaml
check "--help exits 0" 0 "$TERN" flow validate --help
contains "--help explains the output" "FILE:LINE:COLUMN: message"
check "tern flow --help lists validate" 0 "$TERN" flow --help
contains "validate listed" "validate"
check "tern help flow validate" 0 "$TERN" help flow validate
contains "help via 'tern help'" "Usage: tern flow validate"

check "--quiet hides OK lines" 0 "$TERN" flow validate -q "$fixtures/valid/model.yaml"
[ -z "$out" ] && pass "--quiet prints nothing for valid files" || fail "--quiet prints nothing for valid files"

check "json output exits 1 on an invalid file" 1 "$TERN" flow validate --output json "$fixtures/valid/model.yaml" "$fixtures/invalid/bad-duration.yaml"
if command -v python3 >/dev/null; then
        echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert len(r) == 2 and r[0]["valid"] is True and r[0]["errors"] == []
assert r[1]["valid"] is False and len(r[1]["errors"]) == 3
e = r[1]["errors"][0]
assert e["line"] == 6 and e["column"] == 15 and "invalid duration" in e["message"], e
' && pass "json output is a list of {file, valid, errors}" || fail "json output is a list of {file, valid, errors}"
fi

# A huge file is refused at once, and a YAML bomb without expanding it.
truncate -s 100M "$tmp/huge.yaml"
check "100 MB file exits 1" 1 timeout 5 "$TERN" flow validate "$tmp/huge.yaml"
contains "100 MB file refused" "huge.yaml:1:1: file too large"
{
        echo 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'
        for i in $(seq 1 12); do p=$((i-1)); echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"; done
} > "$tmp/bomb.yaml"
check "YAML bomb exits 1" 1 timeout 5 "$TERN" flow validate "$tmp/bomb.yaml"
contains "YAML bomb refused" "YAML bomb"

mkdir "$tmp/dir" "$tmp/empty"
cp "$fixtures/valid/model.yaml" "$tmp/dir/b.yml"
cp "$fixtures/invalid/bad-id.yaml" "$tmp/dir/a.yaml"
echo "not a flow" > "$tmp/dir/notes.txt"
check "a directory stands for its flow files" 1 "$TERN" flow validate "$tmp/dir"
[ "$(echo "$out" | head -1 | cut -d: -f1)" = "$tmp/dir/a.yaml" ] && pass "directory files in name order" || fail "directory files in name order"
contains "yml files included" "$tmp/dir/b.yml: OK"
lacks "other files skipped" "notes.txt"
check "a directory without flows exits 1" 1 "$TERN" flow validate "$tmp/empty"
contains "empty directory reported" "$tmp/empty: no flow files"

if [ -d "${KESTRA_COMPAT:-}/flows" ]; then
        check "every Kestra corpus flow validates" 0 "$TERN" flow validate "$KESTRA_COMPAT"/flows
        [ "$(echo "$out" | grep -c ': OK$')" -ge 104 ] && pass "104 OK lines" || fail "104 OK lines"
fi

echo "1..$n"
[ $failed = 0 ]
