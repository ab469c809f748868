#!/usr/bin/env python3
# notify.py: the notifications plugin of tern (plugin.yaml): POST a JSON payload to an incoming webhook.
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


def log(level, message):
    print("::" + json.dumps({"logs": [{"level": level, "message": message}]}) + "::", flush=True)


def seconds(duration, default):
    """An ISO-8601 duration of seconds or minutes (PT30S, PT1M), as Kestra's options give them."""
    m = re.fullmatch(r"PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", duration or "")
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0) if m and duration != "PT" else default


props = json.load(sys.stdin)
url = props["url"]
where = urllib.parse.urlsplit(url)
if where.scheme not in ("http", "https") or not where.hostname:
    log("ERROR", "url must be an http or https URL")
    sys.exit(1)
body = props.get("payload")
if body is None:
    text = props.get("messageText")
    if text is None:
        log("ERROR", "give 'payload' (the JSON message) or 'messageText'")
        sys.exit(1)
    key = "content" if os.environ.get("TERN_TASK_TYPE", "").endswith("DiscordIncomingWebhook") else "text"
    body = json.dumps({key: text})
options = props.get("options") or {}
timeout = seconds(options.get("readTimeout"), 30) + seconds(options.get("connectTimeout"), 0)
request = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "tern-notifications"})
# The URL holds the webhook's secret: only its host is logged.
try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
        log("INFO", "Sent to %s: HTTP %d" % (where.hostname, response.status))
except urllib.error.HTTPError as e:
    log("ERROR", "%s answered HTTP %d: %s" % (where.hostname, e.code, e.read(500).decode(errors="replace")))
    sys.exit(1)
except (urllib.error.URLError, OSError) as e:
    log("ERROR", "cannot reach %s: %s" % (where.hostname, getattr(e, "reason", e)))
    sys.exit(1)
