#!/usr/bin/env bash
# test-cli-flow-store: tern flow apply|list|show|delete on an embedded store: revisions, exit codes (TAP).
set -u
n=0; failed=0
t() { # name, expected exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1); rc=$?
        n=$((n+1))
        if [ "$rc" = "$want" ]; then echo "ok $n - $name"; else echo "not ok $n - $name (exit $rc, want $want)"; echo "$out" | sed 's/^/# /'; failed=$((failed+1)); fi
}
has() { n=$((n+1)); case "$out" in *"$2"*) echo "ok $n - $1";; *) echo "not ok $n - $1"; echo "# output: $out" | head -5; failed=$((failed+1));; esac; }

dir=$(mktemp -d /tmp/tern-cli-flow.XXXXXX)
trap 'rm -rf "$dir"' EXIT
db="sqlite://$dir/tern.db"
export TERN_STATE_DIR=$dir/state
printf 'id: f\nnamespace: cli.test\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: one\n' > "$dir/f.yaml"

t "apply creates revision 1" 0 "$TERN" flow apply "$dir/f.yaml" --db "$db"
has "apply says created" "created, revision 1"
t "apply of the same source changes nothing" 0 "$TERN" flow apply "$dir/f.yaml" --db "$db"
has "apply says unchanged" "unchanged"
sed -i 's/one/two/' "$dir/f.yaml"
t "apply of a changed source" 0 "$TERN" flow apply "$dir/f.yaml" --db "$db"
has "apply says revision 2" "updated to revision 2"
t "show the latest revision" 0 "$TERN" flow show cli.test f --db "$db"
has "latest source" "message: two"
t "show revision 1" 0 "$TERN" flow show cli.test f --revision 1 --db "$db"
has "first source" "message: one"
t "show a revision that does not exist" 1 "$TERN" flow show cli.test f --revision 7 --db "$db"
t "show with a bad revision is a usage error" 2 "$TERN" flow show cli.test f --revision x --db "$db"
t "list as JSON" 0 "$TERN" flow list -o json --db "$db"
has "list names the flow" '"id": "f"'
printf 'id: bad\nnamespace: cli.test\ntasks: []\n' > "$dir/bad.yaml"
t "apply refuses an invalid flow" 1 "$TERN" flow apply "$dir/f.yaml" "$dir/bad.yaml" --db "$db"
t "apply refuses a type this build cannot run" 1 "$TERN" flow apply "$TERN_SOURCE_ROOT/tests/flows/invalid/not-runnable.yaml" --db "$db"
has "at its type: line, saying why" "not-runnable.yaml:19:15: task type 'io.kestra.plugin.core.flow.Template' is known but this build cannot run it (templates are deprecated by Kestra and not implemented; use io.kestra.plugin.core.flow.Subflow)"
t "and stores nothing" 1 "$TERN" flow show tern.tests not-runnable --db "$db"
t "delete" 0 "$TERN" flow delete cli.test f --db "$db"
t "delete again says there is no such flow" 1 "$TERN" flow delete cli.test f --db "$db"
has "and names it" "no flow 'f' in namespace 'cli.test'"
echo "1..$n"
[ $failed = 0 ]
