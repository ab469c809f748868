#!/usr/bin/env bash
# run-browser-tests.sh TEST.mjs: run a browser test of the web UI (TAP on stdout), installing what it
# needs when missing: Debian's chromium, libjs-codemirror and libjs-chart.js (apt-get, as root), and playwright-core
# from npm into $TERN_UI_NODE_DIR under the build directory. Skips only when they cannot be had.
set -uo pipefail
skip() { echo "1..0 # SKIP $*"; exit 0; }
chromium=${TERN_UI_CHROMIUM:-/usr/bin/chromium}

apt_install() {
        [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends "$@" >&2 ||
                { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "$@" >&2; }
}

[ -x "$chromium" ] || apt_install chromium || true
[ -x "$chromium" ] || skip "no chromium at $chromium, and it cannot be installed (apt-get install chromium)"
# The editor does without CodeMirror (a textarea), and the test checks whichever it gets.
[ -e /usr/share/javascript/codemirror/lib/codemirror.js ] || apt_install libjs-codemirror || true
# The dashboard does without Chart.js (a table), and the test checks whichever it gets.
[ -e /usr/share/javascript/chart.js/chart.min.js ] || apt_install libjs-chart.js || true
command -v npm >/dev/null || apt_install npm || true
command -v node >/dev/null && command -v npm >/dev/null || skip "no node and npm, and they cannot be installed"

version=1.65.1
if [ ! -f "$TERN_UI_NODE_DIR/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$version\"" "$TERN_UI_NODE_DIR/node_modules/playwright-core/package.json"; then
        mkdir -p "$TERN_UI_NODE_DIR"
        npm install --prefix "$TERN_UI_NODE_DIR" --no-save --no-audit --no-fund --silent "playwright-core@$version" >&2 ||
                skip "npm cannot install playwright-core@$version"
fi
exec node "$1"
