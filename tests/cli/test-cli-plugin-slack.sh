#!/usr/bin/env bash
# test-cli-plugin-slack: the shipped slack plugin (plugins/slack, an exec plugin) end to end: 'tern run' creates a
# channel, sets its topic, invites users given as an expression, posts a message and a threaded reply from a payload,
# adds a reaction (waiting out a rate limit), each output used downstream, and fails clearly when Slack refuses a
# call (TAP). Slack is not reachable here: the server is a small one of this test, on loopback, that answers the Web
# API's shapes for these methods.
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test slack slack

# The server: every call (method, Authorization, body) one JSON line. A token other than xoxb-good is refused
# (invalid_auth); channel "C-none" does not exist; the first reactions.add is rate limited.
cat >"$dir/server.py" <<'PY'
import json, sys
from plugin_http import Handler, serve
seen = {}
class H(Handler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        method, auth = self.path.rsplit("/", 1)[-1], self.headers.get("Authorization", "")
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"path": self.path, "method": method, "auth": auth, "body": body}) + "\n")
        seen[method] = seen.get(method, 0) + 1
        if auth != "Bearer xoxb-good":
            return self.answer(200, {"ok": False, "error": "invalid_auth"})
        if body.get("channel") == "C-none":
            return self.answer(200, {"ok": False, "error": "channel_not_found"})
        topic = {"value": "", "creator": "", "last_set": 0}
        if method == "conversations.create":
            return self.answer(200, {"ok": True, "channel": {"id": "C0NEW", "name": body["name"], "is_channel": True,
                                     "is_private": body.get("is_private"), "created": 1700000000, "topic": topic,
                                     "purpose": topic}})
        if method == "conversations.setTopic":
            return self.answer(200, {"ok": True, "channel": {"id": body["channel"], "topic": {"value": body["topic"],
                                     "creator": "U0BOT", "last_set": 1700000001}}})
        if method == "conversations.invite":
            return self.answer(200, {"ok": True, "channel": {"id": body["channel"], "name": "proj-x", "is_channel": True}})
        if method == "chat.postMessage":
            return self.answer(200, {"ok": True, "channel": body["channel"], "ts": "1700000002.%06d" % seen[method],
                                     "message": {"text": body.get("text")}})
        if method == "reactions.add":
            if seen[method] == 1:
                return self.answer(429, {"ok": False, "error": "ratelimited"}, [("Retry-After", "0")])
            return self.answer(200, {"ok": True})
        self.answer(200, {"ok": False, "error": "unknown_method"})
serve(H)
PY
plugin_server
base=$url/api

cat >"$dir/slack.yaml" <<YAML
id: slack
namespace: test.plugins
inputs:
  - id: user_ids
    type: ARRAY
    itemType: STRING
    defaults: [U1, U2]
tasks:
  - id: create_channel
    type: io.kestra.plugin.slack.app.conversations.Create
    name: proj-x
    isPrivate: true
  - id: set_topic
    type: io.kestra.plugin.slack.app.conversations.SetTopic
    channel: "{{ outputs.create_channel.id }}"
    topic: The launch
  - id: invite
    type: io.kestra.plugin.slack.app.conversations.Invite
    channel: "{{ outputs.create_channel.id }}"
    users: "{{ inputs.user_ids }}"
  - id: welcome
    type: io.kestra.plugin.slack.app.chats.Post
    channel: "{{ outputs.create_channel.id }}"
    messageText: "Welcome to #{{ outputs.create_channel.name }}: {{ outputs.set_topic.value }}"
  - id: reply
    type: io.kestra.plugin.slack.app.chats.Post
    channel: C-ignored
    timestamp: "{{ outputs.welcome.timestamp }}"
    iconEmoji: ":robot_face:"
    payload: |
      {"channel": "{{ outputs.create_channel.id }}", "text": "rules", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*rules*"}}]}
  - id: react
    type: io.kestra.plugin.slack.app.reactions.Add
    channel: "{{ outputs.create_channel.id }}"
    name: white_check_mark
    timestamp: "{{ outputs.welcome.timestamp }}"
  - id: lost
    type: io.kestra.plugin.slack.app.chats.Post
    allowFailure: true
    channel: C-none
    messageText: hello?
  - id: refused
    type: io.kestra.plugin.slack.app.chats.Post
    allowFailure: true
    token: xoxb-wrong
    channel: C0NEW
    messageText: hello?
pluginDefaults:
  - type: io.kestra.plugin.slack.app
    values:
      token: "{{ secret('SLACK_TOKEN') }}"
      baseUrl: $base
YAML

plugin_validates "$dir/slack.yaml"
printf 'id: bad\nnamespace: test.plugins\ntasks:\n  - id: p\n    type: io.kestra.plugin.slack.app.reactions.Add\n    channel: C1\n' \
        >"$dir/bad.yaml"
"$TERN" flow validate --plugins-path "$plugin" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
[ $? -ne 0 ] && grep -q "token" "$dir/bad.txt" && grep -q "timestamp" "$dir/bad.txt"
ok $? "validation refuses a reactions.Add without token, name and timestamp ($(head -c 300 "$dir/bad.txt" | tr "\n" " "))"
SECRET_SLACK_TOKEN=$(printf 'xoxb-good' | base64 -w0) plugin_run "$dir/slack.yaml" --sandbox-network


plugin_check <<'PY'
import json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)
calls = lambda m: [g for g in got if g["method"] == m]

c = calls("conversations.create")[:1]
ok(state("create_channel") == "SUCCESS" and c and c[0]["path"] == "/api/conversations.create" and
   c[0]["auth"] == "Bearer xoxb-good" and c[0]["body"] == {"name": "proj-x", "is_private": True},
   "Create: POST conversations.create with the bot token, name and is_private (%s %r %r)" % (state("create_channel"), c, err))
o = out("create_channel")
ok(o.get("id") == "C0NEW" and o.get("name") == "proj-x" and o.get("isPrivate") is True and o.get("isChannel") is True and
   o.get("created") == 1700000000 and o.get("topic") == {"value": "", "creator": "", "lastSet": 0},
   "Create: the channel as Kestra's outputs name it (id, name, isPrivate, isChannel, created, topic) %r" % o)
ok(state("set_topic") == "SUCCESS" and out("set_topic") == {"value": "The launch", "creator": "U0BOT", "lastSet": 1700000001} and
   calls("conversations.setTopic")[0]["body"] == {"channel": "C0NEW", "topic": "The launch"},
   "SetTopic: the channel from Create's output, the topic as outputs value, creator, lastSet %r" % out("set_topic"))
i = calls("conversations.invite")[:1]
ok(state("invite") == "SUCCESS" and i and i[0]["body"] == {"channel": "C0NEW", "users": "U1,U2"} and out("invite").get("id") == "C0NEW",
   "Invite: users given as an expression, sent comma-separated %r" % i)
p = calls("chat.postMessage")
ok(state("welcome") == "SUCCESS" and p and p[0]["body"] == {"channel": "C0NEW", "text": "Welcome to #proj-x: The launch"} and
   out("welcome") == {"timestamp": "1700000002.000001"},
   "Post: messageText as the text, the message's ts as timestamp %r %r" % (p[:1], out("welcome")))
ok(state("reply") == "SUCCESS" and len(p) > 1 and p[1]["body"] == {
       "channel": "C0NEW", "text": "rules", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*rules*"}}],
       "thread_ts": "1700000002.000001", "icon_emoji": ":robot_face:"},
   "Post of a payload: its channel over the property's, blocks kept, timestamp as thread_ts, iconEmoji %r" % p[1:2])
r = calls("reactions.add")
ok(state("react") == "SUCCESS" and len(r) == 2 and r[1]["body"] == {"channel": "C0NEW", "name": "white_check_mark",
   "timestamp": "1700000002.000001"} and any(lv == "WARN" and "HTTP 429" in m for lv, m in logs("react")),
   "reactions.Add: sent again after a rate limit, saying so %r %r" % (r, logs("react")))
ok(state("lost") == "FAILED" and ("ERROR", "Slack refused chat.postMessage: channel_not_found") in logs("lost"),
   "a refused call fails the task with Slack's error: %r" % logs("lost"))
ok(state("refused") == "FAILED" and ("ERROR", "Slack refused chat.postMessage: invalid_auth") in logs("refused") and
   "xoxb-good" not in json.dumps(run),
   "a refused token fails the task saying so; the token is in no log line nor output: %r" % logs("refused"))
ok(run.get("state", {}).get("current") == "WARNING", "the flow ends WARNING: the failures were allowed (%s)" % run.get("state"))
done()
PY
