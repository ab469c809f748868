# plugin-test-lib.sh: what the tests of a shipped exec plugin share, sourced: its copy, the test's loopback HTTP server, the run, TAP.
# The sourcing script has $TERN and $TERN_SOURCE_ROOT (the meson env) and calls plugin_test first.
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}"

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

# plugin_test NAME PLUGIN: $dir (/tmp/tern-cli-NAME.*, gone at exit, the server with it) holding a
# copy of plugins/PLUGIN in $plugin, readable by the sandbox's user; tern's state there too.
plugin_test() {
        command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the plugin is in Python)"; exit 0; }
        dir=$(mktemp -d "/tmp/tern-cli-$1.XXXXXX")
        chmod 755 "$dir"
        server=
        trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
        export TERN_STATE_DIR=$dir/state
        unset TERN_PLUGINS_PATH TERN_CONFIG
        plugin=$dir/$2
        cp -r "$TERN_SOURCE_ROOT/plugins/$2" "$dir/"
        chmod -R a+rX "$plugin"
}

# plugin_server: the test's $dir/server.py, which logs what it receives to $dir/received and writes
# the port it listens on to $dir/port; sets $server (its pid) and $url (http://127.0.0.1:PORT).
plugin_server() {
        PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$plugin_lib_dir python3 "$dir/server.py" "$dir/received" "$dir/port" &
        server=$!
        for _ in $(seq 200); do [ -s "$dir/port" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
        [ -s "$dir/port" ] || { echo "1..0 # SKIP the test's HTTP server did not start"; exit 0; }
        url=http://127.0.0.1:$(cat "$dir/port")
}

# plugin_validates FLOW: a TAP line, that 'tern flow validate' accepts it with the plugin on the path.
plugin_validates() {
        "$TERN" flow validate --plugins-path "$plugin" "$1" >"$dir/validate.txt" 2>&1
        ok $? "the flow validates with the plugin on the path ($(head -c 300 "$dir/validate.txt" | tr "\n" " "))"
}

# plugin_run FLOW TERN-RUN-ARGUMENTS...: 'tern run' of it in $dir with the plugin, the execution (with its
# logs) in $dir/run.json, errors in $dir/run.err. Secrets come as SECRET_* before the call.
plugin_run() {
        local flow=$1
        shift
        (cd "$dir" && "$TERN" run "$flow" --plugins-path "$plugin" -q -o json --include-logs "$@" \
                >"$dir/run.json" 2>"$dir/run.err")
}

# plugin_show: the execution of run.json as 'tern execution show' gives it, in $dir/show.json.
plugin_show() {
        "$TERN" execution show "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("id", ""))' "$dir/run.json" 2>/dev/null)" \
                -o json >"$dir/show.json" 2>>"$dir/run.err"
}

# plugin_check <<'PY' ...: the test's checks in Python on standard input, after 'from plugin_tap import *'
# (the helpers are imported from the source tree: no __pycache__ is written there)
# (ok, run, got, state, out, logs, err, done: tests/cli/plugin_tap.py), numbered on from the shell's
# TAP lines; the test ends with their outcome and the shell's.
plugin_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin_check() {
        PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$plugin_lib_dir python3 - "$dir" "$n"
        exit $(( $? != 0 || failed ))
}
