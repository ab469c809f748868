#!/usr/bin/env bash
# test-cli-plugin-jira: the shipped jira plugin (plugins/jira, an exec plugin) end to end: 'tern run' creates Jira
# issues as Kestra's template writes them (basic authentication, labels with kestra-bot) and from a payload (a bearer
# token), the issue's key downstream, and fails clearly with Jira's own words (TAP). Jira is not reachable here: the
# server is a small one of this test, on loopback, that answers POST /rest/api/2/issue as Jira does.
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test jira jira

# The server: every request (path, Authorization, body) one JSON line; project NOPE does not exist.
cat >"$dir/server.py" <<'PY'
import json, sys
from plugin_http import Handler, serve
n = [0]
class H(Handler):
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
serve(H)
PY
plugin_server
base=$url

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

plugin_validates "$dir/jira.yaml"
SECRET_JIRA_API_TOKEN=$(printf 'tok3n' | base64 -w0) plugin_run "$dir/jira.yaml" --sandbox-network


plugin_check <<'PY'
import base64, json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)
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
done()
PY
