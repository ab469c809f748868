#!/usr/bin/env python3
# slack.py: the slack plugin of tern (plugin.yaml): Kestra's Slack app tasks (chats.Post, conversations.Create, SetTopic, Invite, reactions.Add) over Slack's Web API.
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ATTEMPTS = 3
RETRY_AFTER_MAX = 60.0
# Keys of a payload sent to chat.postMessage as they are (Kestra's Post reads the same ones).
POST_KEYS = ("channel", "thread_ts", "icon_emoji", "icon_url", "username", "text", "blocks", "attachments",
             "reply_broadcast", "unfurl_links", "unfurl_media", "mrkdwn", "metadata")


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)
kind = ".".join(os.environ.get("TERN_TASK_TYPE", "").rsplit(".", 2)[-2:])
token = props.get("token") or ""


def call(method, body):
    """Slack's answer to a Web API method: {"ok": true, ...}; a refusal ("ok": false) fails the task
    with Slack's error code, a rate limit (HTTP 429) is waited out (Retry-After) and tried again."""
    base = (props.get("baseUrl") or "https://slack.com/api").rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        fail("baseUrl must be an http or https URL")
    data = json.dumps(body).encode()
    for attempt in range(1, ATTEMPTS + 1):
        req = urllib.request.Request(base + "/" + method, data=data, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Authorization": "Bearer " + token,
            "User-Agent": "tern-slack"})
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                text = answer.read().decode("utf-8", errors="replace")
            break
        except urllib.error.HTTPError as e:
            if e.code != 429 or attempt == ATTEMPTS:
                fail("Slack answered %s with HTTP %d: %s" % (method, e.code, e.read(300).decode("utf-8", errors="replace")))
            try:
                wait = min(float(e.headers.get("Retry-After", "")), RETRY_AFTER_MAX)
            except ValueError:
                wait = 1.0
            log("WARN", "Slack rate-limited %s (HTTP 429): retrying in %gs (attempt %d of %d)" % (method, wait, attempt + 1, ATTEMPTS))
            time.sleep(max(wait, 0))
        except (urllib.error.URLError, OSError) as e:
            fail("cannot reach Slack for %s: %s" % (method, getattr(e, "reason", e)))
    try:
        result = json.loads(text)
    except ValueError:
        fail("Slack's answer to %s is not JSON: %s" % (method, text.strip()[:200]))
    if not isinstance(result, dict) or not result.get("ok"):
        error = result.get("error") if isinstance(result, dict) else None
        fail("Slack refused %s: %s" % (method, error or text.strip()[:200]))
    if result.get("warning"):
        log("WARN", "Slack: %s" % result["warning"])
    return result


def topic_of(t):
    if not isinstance(t, dict):
        return None
    return {"value": t.get("value"), "creator": t.get("creator"), "lastSet": t.get("last_set")}


def conversation_of(c):
    """A conversation as Kestra's ConversationOutput names its fields."""
    c = c if isinstance(c, dict) else {}
    return {"id": c.get("id"), "name": c.get("name"), "isPrivate": c.get("is_private"),
            "isChannel": c.get("is_channel"), "isGroup": c.get("is_group"), "isInstantMessage": c.get("is_im"),
            "isMultiPersonInstantMessage": c.get("is_mpim"), "created": c.get("created"),
            "isArchived": c.get("is_archived"), "isGeneral": c.get("is_general"),
            "topic": topic_of(c.get("topic")), "purpose": topic_of(c.get("purpose"))}


def post():
    if props.get("payload"):
        try:
            message = json.loads(props["payload"]) if isinstance(props["payload"], str) else props["payload"]
        except ValueError as e:
            fail("payload is not JSON: %s" % e)
        if not isinstance(message, dict):
            fail("payload must be a JSON object (Slack's message)")
    elif props.get("messageText") is not None:
        message = {"text": props["messageText"]}
    else:
        fail("payload or messageText is required")
    body = {k: message[k] for k in POST_KEYS if k in message}
    # A payload's own channel, thread, icon and name win over the properties, as in Kestra.
    for ours, theirs in (("channel", "channel"), ("timestamp", "thread_ts"), ("iconEmoji", "icon_emoji"),
                         ("iconUrl", "icon_url"), ("username", "username")):
        if theirs not in body and props.get(ours):
            body[theirs] = props[ours]
    if not body.get("channel"):
        fail("channel is required (or a channel in the payload)")
    result = call("chat.postMessage", body)
    say({"outputs": {"timestamp": result.get("ts")}})
    log("INFO", "message posted to %s (ts %s)" % (result.get("channel") or body["channel"], result.get("ts")))


def users_of(given):
    """users as a list: a list, JSON text of one (a rendered expression), or comma-separated IDs."""
    if isinstance(given, str):
        text = given.strip()
        if text.startswith("["):
            try:
                given = json.loads(text)
            except ValueError:
                fail("users is not a JSON list: %s" % text[:100])
        else:
            given = [u.strip() for u in text.split(",") if u.strip()]
    if not isinstance(given, list) or not given or not all(isinstance(u, str) and u for u in given):
        fail("users must list at least one user ID")
    return given


def main():
    if not token:
        fail("token is empty")
    if kind == "chats.Post":
        return post()
    if kind == "conversations.Create":
        body = {"name": props["name"], "is_private": props.get("isPrivate") in (True, "true")}
        if props.get("teamId"):
            body["team_id"] = props["teamId"]
        channel = call("conversations.create", body).get("channel")
        say({"outputs": conversation_of(channel)})
        return log("INFO", "channel '%s' created (%s)" % (props["name"], (channel or {}).get("id")))
    if kind == "conversations.SetTopic":
        result = call("conversations.setTopic", {"channel": props["channel"], "topic": props["topic"]})
        return say({"outputs": topic_of((result.get("channel") or {}).get("topic")) or {}})
    if kind == "conversations.Invite":
        users = users_of(props.get("users"))
        result = call("conversations.invite", {"channel": props["channel"], "users": ",".join(users)})
        say({"outputs": conversation_of(result.get("channel"))})
        return log("INFO", "%d user(s) invited to %s" % (len(users), props["channel"]))
    if kind == "reactions.Add":
        call("reactions.add", {"channel": props["channel"], "name": props["name"], "timestamp": props["timestamp"]})
        return log("INFO", "reaction :%s: added" % props["name"])
    fail("this plugin does not run task type '%s'" % os.environ.get("TERN_TASK_TYPE"))


main()
