#!/usr/bin/env python3
# zendesk.py: the zendesk plugin of tern (plugin.yaml): Kestra's zendesk.tickets.Create over Zendesk's REST API.
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)


def tags_of(given):
    if isinstance(given, str):  # a rendered expression's JSON, or one tag
        try:
            given = json.loads(given) if given.strip().startswith("[") else [given]
        except ValueError:
            fail("tags is not a JSON list: %s" % given[:100])
    return [str(t) for t in given or []]


def main():
    base = str(props.get("domain") or "").rstrip("/")
    if not base:
        fail("domain is required")
    if "://" not in base:  # mycompany.zendesk.com, as Kestra takes it
        base = "https://" + base
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        fail("domain must be a host or an http or https URL")
    headers = {"Content-Type": "application/json; charset=UTF-8", "User-Agent": "tern-zendesk"}
    if props.get("token"):
        pair = "%s/token:%s" % (props.get("username") or "", props["token"])
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif props.get("oauthToken"):
        headers["Authorization"] = "Bearer " + props["oauthToken"]
    else:
        fail("username and token, or oauthToken, are required")
    ticket = {}
    if props.get("subject") is not None:
        ticket["subject"] = props["subject"]
    if props.get("description") is not None:
        ticket["comment"] = {"body": props["description"]}  # a new ticket's description is its first comment
    if props.get("priority"):
        ticket["priority"] = props["priority"].lower()
    if props.get("ticketType"):
        ticket["type"] = props["ticketType"].lower()
    if props.get("assigneeId") is not None:
        ticket["assignee_id"] = int(props["assigneeId"])
    tags = tags_of(props.get("tags"))
    if tags:
        ticket["tags"] = tags
    req = urllib.request.Request(base + "/api/v2/tickets.json", data=json.dumps({"ticket": ticket}).encode(),
                                 method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            text = answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        fail("Zendesk answered HTTP %d: %s" % (e.code, error_of(e.read(65536).decode("utf-8", errors="replace"))))
    except (urllib.error.URLError, OSError) as e:
        fail("cannot reach %s: %s" % (urllib.parse.urlsplit(base).hostname, getattr(e, "reason", e)))
    try:
        created = json.loads(text)["ticket"]
        tid = created["id"]
    except (ValueError, KeyError, TypeError):
        fail("Zendesk's answer is not a ticket: %s" % text.strip()[:200])
    say({"outputs": {"id": tid, "url": created.get("url") or "%s/api/v2/tickets/%s.json" % (base, tid)}})
    log("INFO", "ticket %s created" % tid)


def error_of(text):
    """Zendesk's own words ({"error", "description", "details": {field: [{description}]}}), or the answer's start."""
    try:
        e = json.loads(text)
        words = [str(e[k]) for k in ("error", "description") if isinstance(e.get(k), str)]
        for field, issues in sorted((e.get("details") or {}).items()):
            words += ["%s: %s" % (field, i.get("description")) for i in issues if isinstance(i, dict)]
        if words:
            return "; ".join(words)
    except (ValueError, AttributeError):
        pass
    return text.strip()[:300] or "no explanation"


main()
