#!/usr/bin/env bash
# test-cli-basics: --version, --help, unknown options and commands behave as documented (TAP).
set -u
n=0; failed=0
check() { # name, expected-exit, command...
        local name=$1 want=$2; shift 2
        out=$("$@" 2>&1); rc=$?
        n=$((n+1))
        if [ "$rc" = "$want" ]; then echo "ok $n - $name"; else echo "not ok $n - $name (exit $rc, want $want)"; echo "$out" | sed 's/^/# /'; failed=$((failed+1)); fi
}
contains() { # name, needle (in $out)
        n=$((n+1))
        case "$out" in *"$2"*) echo "ok $n - $1";; *) echo "not ok $n - $1"; echo "# output: $out" | head -5; failed=$((failed+1));; esac
}

check "--version exits 0" 0 "$TERN" --version
contains "--version prints the version" "tern 0."
check "--help exits 0" 0 "$TERN" --help
contains "--help says what tern is" "workflow orchestrator"
check "no arguments is a usage error" 2 "$TERN"
check "unknown option exits 2" 2 "$TERN" --frobnicate
contains "unknown option is named" "unknown option '--frobnicate'"
[ "$(echo "$out" | wc -l)" = 1 ]; n=$((n+1)); if [ $? = 0 ]; then echo "ok $n - unknown option error is one line"; else echo "not ok $n - unknown option error is one line"; failed=$((failed+1)); fi
check "unknown command exits 2" 2 "$TERN" frobnicate
contains "unknown command is named" "unknown command 'frobnicate'"
echo "1..$n"
[ $failed = 0 ]
