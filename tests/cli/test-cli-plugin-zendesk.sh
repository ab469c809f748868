#!/usr/bin/env bash
# test-cli-plugin-zendesk: the shipped zendesk plugin (plugins/zendesk, an exec plugin) end to end: 'tern run' creates
# Zendesk tickets with an OAuth token and with an API token (EMAIL/token), the ticket's id and url downstream, and
# fails clearly with Zendesk's own words (TAP). Zendesk is not reachable here: the server is a small one of this
# test, on loopback, that answers POST /api/v2/tickets.json as Zendesk does.
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test zendesk zendesk

# The server: every request (path, Authorization, body) one JSON line; a ticket without a subject is refused.
cat >"$dir/server.py" <<'PY'
import json, sys
from plugin_http import Handler, serve
n = [0]
class H(Handler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n")
        if "subject" not in body.get("ticket", {}):
            return self.answer(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                     "details": {"subject": [{"description": "Subject: cannot be blank"}]}})
        n[0] += 1
        self.answer(201, {"ticket": {"id": 40 + n[0], "url": "https://example.zendesk.com/api/v2/tickets/%d.json" % (40 + n[0])}})
serve(H)
PY
plugin_server
base=$url

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

plugin_validates "$dir/zendesk.yaml"
SECRET_ZENDESK_OAUTH_TOKEN=$(printf 'oauth-s3cret' | base64 -w0) plugin_run "$dir/zendesk.yaml" --sandbox-network


plugin_check <<'PY'
import base64, json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)

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
done()
PY
