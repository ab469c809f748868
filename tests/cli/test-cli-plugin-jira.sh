#!/usr/bin/env bash
# test-cli-plugin-jira: the shipped jira plugin (plugins/jira, an exec plugin) end to end: 'tern run' creates Jira
# issues as Kestra's template writes them (basic authentication, labels with kestra-bot) and from a payload (a bearer
# token), the issue's key downstream, and fails clearly with Jira's own words (TAP). Jira is not reachable here: the
# server is a small one of this test, on loopback, that answers POST /rest/api/2/issue as Jira does.
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the plugin is in Python)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-jira.XXXXXX)
chmod 755 "$dir"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG
cp -r "$TERN_SOURCE_ROOT/plugins/jira" "$dir/"
chmod -R a+rX "$dir/jira"

# The server: every request (path, Authorization, body) one JSON line; project NOPE does not exist.
cat >"$dir/server.py" <<'PY'
import http.server, json, sys
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n")
        if self.path != "/rest/api/2/issue":
            return self.answer(404, {"errorMessages": ["not found"]})
        if body["fields"]["project"]["key"] == "NOPE":
            return self.answer(400, {"errorMessages": [], "errors": {"project": "valid project is required"}})
        n[0] += 1
        self.answer(201, {"id": str(10000 + n[0]), "key": "OPS-%d" % n[0], "self": "http://jira/rest/api/2/issue/%d" % n[0]})
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
__import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
python3 "$dir/server.py" "$dir/received" "$dir/port" &
server=$!
for _ in $(seq 200); do [ -s "$dir/port" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
[ -s "$dir/port" ] || { echo "1..0 # SKIP the test's HTTP server did not start"; exit 0; }
base=http://127.0.0.1:$(cat "$dir/port")

cat >"$dir/jira.yaml" <<YAML
id: jira
namespace: test.plugins
tasks:
  - id: ticket
    type: io.kestra.plugin.jira.issues.Create
    baseUrl: $base/
    username: me@example.com
    password: "{{ secret('JIRA_API_TOKEN') }}"
    projectKey: OPS
    summary: "Flow {{ flow.id }} failed"
    description: "Execution {{ execution.id }}"
    labels:
      - bug
      - workflow
  - id: custom
    type: io.kestra.plugin.jira.issues.Create
    baseUrl: $base
    accessToken: oauth-token
    payload: '{"fields": {"project": {"key": "OPS"}, "summary": "after {{ outputs.ticket.key }}", "issuetype": {"name": "Bug"}}}'
  - id: nope
    type: io.kestra.plugin.jira.issues.Create
    allowFailure: true
    baseUrl: $base
    username: me@example.com
    password: "{{ secret('JIRA_API_TOKEN') }}"
    projectKey: NOPE
    summary: lost
YAML

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
"$TERN" flow validate --plugins-path "$dir/jira" "$dir/jira.yaml" >"$dir/validate.txt" 2>&1
ok $? "the flow validates with the plugin on the path ($(head -c 300 "$dir/validate.txt" | tr "\n" " "))"
(cd "$dir" && SECRET_JIRA_API_TOKEN=$(printf 'tok3n' | base64 -w0) \
        "$TERN" run "$dir/jira.yaml" --plugins-path "$dir/jira" --sandbox-network -q -o json --include-logs \
        >"$dir/run.json" 2>"$dir/run.err")

python3 - "$dir" "$n" <<'PY'
import base64, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
try:
    run = json.load(open(d + "/run.json"))
except (OSError, ValueError):
    run = {}
got = [json.loads(l) for l in open(d + "/received")] if os.path.exists(d + "/received") else []
runs = {t["taskId"]: t for t in run.get("taskRunList", [])}
state = lambda t: runs.get(t, {}).get("state", {}).get("current")
out = lambda t: runs.get(t, {}).get("outputs", {})
logs = lambda t: [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == t]
err = open(d + "/run.err").read()[:300]
eid = run.get("id")

ok(state("ticket") == "SUCCESS" and got and got[0]["path"] == "/rest/api/2/issue" and
   got[0]["auth"] == "Basic " + base64.b64encode(b"me@example.com:tok3n").decode() and
   got[0]["body"] == {"fields": {"project": {"key": "OPS"}, "summary": "Flow jira failed", "description": "Execution %s" % eid,
                                 "issuetype": {"name": "Story"}, "labels": ["kestra-bot", "bug", "workflow"]}},
   "Create: POST /rest/api/2/issue with basic authentication, a Story with summary, description, labels after kestra-bot "
   "(%s %r %r)" % (state("ticket"), got[:1], err))
ok(out("ticket") == {"key": "OPS-1", "id": "10001"}, "the issue's key and id as outputs %r" % out("ticket"))
ok(state("custom") == "SUCCESS" and len(got) > 1 and got[1]["auth"] == "Bearer oauth-token" and
   got[1]["body"] == {"fields": {"project": {"key": "OPS"}, "summary": "after OPS-1", "issuetype": {"name": "Bug"}}},
   "Create from a payload, rendered, with a bearer token %r" % got[1:2])
ok(state("nope") == "FAILED" and ("ERROR", "Jira answered HTTP 400: project: valid project is required") in logs("nope"),
   "Jira's refusal fails the task in Jira's words: %r" % logs("nope"))
ok("tok3n" not in json.dumps(run), "the token is in no log line nor output")
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
exit $(( $? != 0 || failed ))
