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
contains "--version prints meson.build's version" "tern $TERN_VERSION"
# Built from a git checkout: the revision follows, "tern 0.1.0 (git 1a2b3c4d5e6f)" (-dirty when
# tracked files differ from HEAD).
if rev=$(git -C "$TERN_SOURCE_ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
        contains "--version names the git revision" "tern $TERN_VERSION (git $rev"
        # A tarball made by git archive (what packaging/build-deb builds from) knows its revision.
        d=$(mktemp -d /tmp/tern-rev.XXXXXX)
        git -C "$TERN_SOURCE_ROOT" archive HEAD scripts | tar -x -C "$d"
        out=$("$d/scripts/git-revision" "$d"); rm -rf "$d"
        full=$(git -C "$TERN_SOURCE_ROOT" rev-parse HEAD)
        contains "a git archive tarball carries its revision" "${full:0:12}"
fi
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
