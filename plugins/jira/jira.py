#!/usr/bin/env python3
# jira.py: the jira plugin of tern (plugin.yaml): Kestra's jira.issues.Create over Jira's REST API.
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

ISSUE_ROUTE = "/rest/api/2/issue"


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)


def labels_of(given):
    if isinstance(given, str):  # a rendered expression's JSON, or one label
        try:
            given = json.loads(given) if given.strip().startswith("[") else [given]
        except ValueError:
            fail("labels is not a JSON list: %s" % given[:100])
    return [str(label) for label in given or []]


def payload():
    """The issue as Kestra's template writes it, or the payload given (sent as it is)."""
    given = props.get("payload")
    if isinstance(given, str) and given.strip():
        try:
            return json.loads(given)
        except ValueError as e:
            fail("payload is not JSON: %s" % e)
    if not props.get("projectKey"):
        fail("projectKey is required (or a payload)")
    fields = {"project": {"key": props["projectKey"]}, "summary": props.get("summary") or "",
              "description": props.get("description") or "",
              "issuetype": {"id": str(props["issueTypeId"])} if props.get("issueTypeId") else {"name": "Story"},
              "labels": ["kestra-bot"] + labels_of(props.get("labels"))}
    return {"fields": fields}


def main():
    base = str(props.get("baseUrl") or "").rstrip("/")
    if not base:
        fail("baseUrl is required")
    if "://" not in base:  # a bare host (your-domain.atlassian.net): Jira Cloud is HTTPS only
        base = "https://" + base
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        fail("baseUrl must be an http or https URL")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "tern-jira"}
    if props.get("username") and props.get("password") is not None:
        pair = "%s:%s" % (props["username"], props["password"])
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif props.get("accessToken"):
        headers["Authorization"] = "Bearer " + props["accessToken"]
    else:
        fail("username and password, or accessToken, are required")
    req = urllib.request.Request(base + ISSUE_ROUTE, data=json.dumps(payload()).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            text = answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        fail("Jira answered HTTP %d: %s" % (e.code, error_of(e.read(65536).decode("utf-8", errors="replace"))))
    except (urllib.error.URLError, OSError) as e:
        fail("cannot reach %s: %s" % (urllib.parse.urlsplit(base).hostname, getattr(e, "reason", e)))
    try:
        issue = json.loads(text)
    except ValueError:
        issue = {}
    say({"outputs": {"key": issue.get("key"), "id": issue.get("id")}})
    log("INFO", "issue %s created" % (issue.get("key") or "(no key in the answer)"))


def error_of(text):
    """Jira's own words ({"errorMessages": [...], "errors": {field: why}}), or the answer's start."""
    try:
        e = json.loads(text)
        words = list(e.get("errorMessages") or []) + ["%s: %s" % kv for kv in sorted((e.get("errors") or {}).items())]
        if words:
            return "; ".join(words)
    except (ValueError, AttributeError):
        pass
    return text.strip()[:300] or "no explanation"


main()
