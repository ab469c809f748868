#!/usr/bin/env bash
# test-cli-http-tls: http.Request and http.Download over HTTPS to a server with a self-signed
# certificate, through `tern run`: refused by default, accepted with Kestra's
# sslOptions.insecureTrustAllCertificates (TAP).
set -u
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed+1)); fi; }

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the HTTPS server)"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl is needed (the server's certificate)"; exit 0; }
dir=$(mktemp -d /tmp/tern-cli-http-tls.XXXXXX)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=localhost -days 1 \
        >/dev/null 2>&1 || { echo "1..0 # SKIP openssl cannot make a certificate"; exit 0; }
cat >"$dir/server.py" <<'PY'
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"hello": "tls"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1] + "/cert.pem", sys.argv[1] + "/key.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(sys.argv[1] + "/port", "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$dir/server.py" "$dir" &
server=$!
for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
[ -s "$dir/port" ] || { echo "1..0 # SKIP the HTTPS server did not start"; exit 0; }
port=$(cat "$dir/port")

# run NAME: tern run $dir/NAME.yaml, its final execution in $dir/NAME.json.
run() {
        (cd "$dir" && "$TERN" run "$dir/$1.yaml" --sandbox off -q -o json > "$dir/$1.json" 2> "$dir/$1.err")
}
# field NAME PYTHON-EXPRESSION: the expression over e (the execution) and runs (task id -> task run).
field() {
        python3 - "$dir/$1.json" "$2" <<'PY' 2>/dev/null
import json, sys
e = json.load(open(sys.argv[1]))
runs = {t["taskId"]: t for t in e.get("taskRunList") or []}
print(eval(sys.argv[2]))
PY
}

cat >"$dir/strict.yaml" <<YAML
id: strict
namespace: tern.tests
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Request
    uri: https://127.0.0.1:$port/
YAML
run strict
[ "$(field strict 'e["state"]["current"]')" = FAILED ]
ok $? "a self-signed certificate fails the request by default"

cat >"$dir/trusting.yaml" <<YAML
id: trusting
namespace: tern.tests
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Request
    uri: https://127.0.0.1:$port/
    sslOptions:
      insecureTrustAllCertificates: true
  - id: download
    type: io.kestra.plugin.core.http.Download
    uri: https://127.0.0.1:$port/file
    sslOptions:
      insecureTrustAllCertificates: "{{ 'tr' ~ 'ue' }}"
YAML
run trusting
[ "$(field trusting 'e["state"]["current"]')" = SUCCESS ]
ok $? "with sslOptions.insecureTrustAllCertificates the request succeeds ($(head -c 300 "$dir/trusting.err"))"
[ "$(field trusting 'runs["get"]["outputs"]["body"]')" = '{"hello": "tls"}' ]
ok $? "and the body is the server's"
[ "$(field trusting 'runs["download"]["state"]["current"]')" = SUCCESS ]
ok $? "http.Download honours it too (a rendered value)"

cat >"$dir/refused.yaml" <<YAML
id: refused
namespace: tern.tests
tasks:
  - id: get
    type: io.kestra.plugin.core.http.Request
    uri: https://127.0.0.1:$port/
    encryptBody: true
YAML
"$TERN" flow validate "$dir/refused.yaml" > "$dir/refused.out" 2>&1
rc=$?
[ $rc != 0 ] && grep -q "'encryptBody' is not supported by this build" "$dir/refused.out"
ok $? "encryptBody: true is refused by tern flow validate ($(head -c 300 "$dir/refused.out"))"

echo "1..$n"
[ $failed = 0 ]
