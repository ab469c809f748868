#!/usr/bin/env bash
# test-cli-plugin-notifications: the shipped notifications plugin (plugins/notifications, an exec plugin) end to
# end: 'tern run' POSTs Slack's and Discord's incoming-webhook messages to a local HTTP server, from the sandbox
# with the host's network, and fails a task whose webhook answers an error, saying so without the URL's secret (TAP).
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test notify notifications

# A webhook receiver on loopback: each POST's path and body one JSON line; /hooks/broken answers 500.
cat >"$dir/server.py" <<'PY'
import json, sys
from plugin_http import Handler, serve
class H(Handler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "type": self.headers.get("Content-Type"), "body": body}) + "\n")
        broken = self.path.endswith("/broken")
        self.send_response(500 if broken else 200)
        self.end_headers()
        self.wfile.write(b"invalid_payload" if broken else b"ok")
serve(H)
PY
plugin_server
port=$(cat "$dir/port")

cat >"$dir/notify.yaml" <<YAML
id: notify
namespace: test.plugins
tasks:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{{ secret('SLACK') }}"
    payload: |
      {"text": "Flow {{ flow.id }} of {{ flow.namespace }} ran"}
  - id: text
    type: io.kestra.plugin.slack.notifications.SlackIncomingWebhook
    url: http://127.0.0.1:$port/hooks/text
    messageText: plain words
  - id: discord
    type: io.kestra.plugin.notifications.discord.DiscordIncomingWebhook
    url: http://127.0.0.1:$port/hooks/discord
    messageText: for discord
  - id: broken
    type: io.kestra.plugin.notifications.teams.TeamsIncomingWebhook
    url: http://127.0.0.1:$port/hooks/T0KEN/broken
    payload: "{}"
YAML

plugin_validates "$dir/notify.yaml"
SECRET_SLACK=$(printf 'http://127.0.0.1:%s/services/T0/B0/XSECRETX' "$port" | base64 -w0) plugin_run "$dir/notify.yaml" --sandbox-network


python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
n = 1
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
try:
    run = json.load(open(d + "/run.json"))
except ValueError:
    run = {}
got = [json.loads(l) for l in open(d + "/received")] if __import__("os").path.exists(d + "/received") else []
by = {g["path"]: g for g in got}
states = {t["taskId"]: t["state"]["current"] for t in run.get("taskRunList", [])}
logs = lambda t: [(l["level"], l["message"]) for l in run.get("logs", []) if l.get("taskId") == t]
ok(by.get("/services/T0/B0/XSECRETX", {}).get("body") == '{"text": "Flow notify of test.plugins ran"}\n' and
   by["/services/T0/B0/XSECRETX"]["type"] == "application/json",
   "Slack: the rendered payload POSTed as JSON to the secret URL (%r)" % got)
ok(states.get("slack") == "SUCCESS" and ("INFO", "Sent to 127.0.0.1: HTTP 200") in logs("slack"),
   "Slack: SUCCESS, the host in the log (%s %r)" % (states.get("slack"), logs("slack")))
ok(json.loads(by.get("/hooks/text", {}).get("body", "{}")) == {"text": "plain words"}, "Slack messageText: {\"text\": ...} (under plugin-slack's name, io.kestra.plugin.slack.notifications)")
ok(json.loads(by.get("/hooks/discord", {}).get("body", "{}")) == {"content": "for discord"},
   "Discord messageText: {\"content\": ...} (the plugin knows which of its types runs)")
ok(states.get("broken") == "FAILED" and
   ("ERROR", "127.0.0.1 answered HTTP 500: invalid_payload") in logs("broken") and
   "T0KEN" not in json.dumps(run.get("logs")) and "XSECRETX" not in json.dumps(run.get("logs")),
   "an error answer fails the task, saying it, without the URL's secret (%r)" % logs("broken"))
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$((n + 5))
echo "1..$n"
exit $failed
