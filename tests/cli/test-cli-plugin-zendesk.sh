#!/usr/bin/env bash
# test-cli-plugin-zendesk: the shipped zendesk plugin (plugins/zendesk, an exec plugin) end to end: 'tern run' creates
# Zendesk tickets with an OAuth token and with an API token (EMAIL/token), the ticket's id and url downstream, and
# fails clearly with Zendesk's own words (TAP). Zendesk is not reachable here: the server is a small one of this
# test, on loopback, that answers POST /api/v2/tickets.json as Zendesk does.
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed (the plugin is in Python)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-zendesk.XXXXXX)
chmod 755 "$dir"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG
cp -r "$TERN_SOURCE_ROOT/plugins/zendesk" "$dir/"
chmod -R a+rX "$dir/zendesk"

# The server: every request (path, Authorization, body) one JSON line; a ticket without a subject is refused.
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
        if "subject" not in body.get("ticket", {}):
            return self.answer(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                     "details": {"subject": [{"description": "Subject: cannot be blank"}]}})
        n[0] += 1
        self.answer(201, {"ticket": {"id": 40 + n[0], "url": "https://example.zendesk.com/api/v2/tickets/%d.json" % (40 + n[0])}})
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

cat >"$dir/zendesk.yaml" <<YAML
id: zendesk
namespace: test.plugins
tasks:
  - id: ticket
    type: io.kestra.plugin.zendesk.tickets.Create
    domain: $base/
    oauthToken: "{{ secret('ZENDESK_OAUTH_TOKEN') }}"
    subject: Workflow failed
    description: "{{ flow.id }} has failed"
    priority: NORMAL
    ticketType: INCIDENT
    assigneeId: 7
    tags: [bug, workflow]
  - id: follow_up
    type: io.kestra.plugin.zendesk.tickets.Create
    domain: $base
    username: agent@example.com
    token: api-tok3n
    subject: "after ticket {{ outputs.ticket.id }}"
  - id: blank
    type: io.kestra.plugin.zendesk.tickets.Create
    allowFailure: true
    domain: $base
    oauthToken: x
    description: no subject
YAML

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
"$TERN" flow validate --plugins-path "$dir/zendesk" "$dir/zendesk.yaml" >"$dir/validate.txt" 2>&1
ok $? "the flow validates with the plugin on the path ($(head -c 300 "$dir/validate.txt" | tr "\n" " "))"
(cd "$dir" && SECRET_ZENDESK_OAUTH_TOKEN=$(printf 'oauth-s3cret' | base64 -w0) \
        "$TERN" run "$dir/zendesk.yaml" --plugins-path "$dir/zendesk" --sandbox-network -q -o json --include-logs \
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

ok(state("ticket") == "SUCCESS" and got and got[0]["path"] == "/api/v2/tickets.json" and got[0]["auth"] == "Bearer oauth-s3cret" and
   got[0]["body"] == {"ticket": {"subject": "Workflow failed", "comment": {"body": "zendesk has failed"}, "priority": "normal",
                                 "type": "incident", "assignee_id": 7, "tags": ["bug", "workflow"]}},
   "Create: POST /api/v2/tickets.json with the OAuth token, the description rendered as the first comment, priority "
   "and type in Zendesk's spelling (%s %r %r)" % (state("ticket"), got[:1], err))
ok(out("ticket") == {"id": 41, "url": "https://example.zendesk.com/api/v2/tickets/41.json"}, "outputs id and url %r" % out("ticket"))
ok(state("follow_up") == "SUCCESS" and len(got) > 1 and
   got[1]["auth"] == "Basic " + base64.b64encode(b"agent@example.com/token:api-tok3n").decode() and
   got[1]["body"] == {"ticket": {"subject": "after ticket 41"}},
   "an API token as EMAIL/token basic authentication; the earlier ticket's id downstream %r" % got[1:2])
ok(state("blank") == "FAILED" and
   ("ERROR", "Zendesk answered HTTP 422: RecordInvalid; Record validation errors; subject: Subject: cannot be blank") in logs("blank"),
   "Zendesk's refusal fails the task in its words: %r" % logs("blank"))
ok("oauth-s3cret" not in json.dumps(run), "the secret token is in no log line nor output")
print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
exit $(( $? != 0 || failed ))
