#!/usr/bin/env python3
# elasticsearch.py: the elasticsearch plugin of tern (plugin.yaml): Kestra's Search, Scroll, Put and Get over Elasticsearch's REST API.
import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

# Where a file kept in internal storage is written (the worker's exec-plugin convention, docs/PLUGINS.md).
STORE_DIR = ".tern-store"
SCROLL_KEEP = "60s"
CONNECTION_KEYS = {"hosts", "basicAuth", "headers", "pathPrefix", "trustAllSsl", "strictDeprecationMode",
                   "targetServerVersion"}


def say(what):
    print("::" + json.dumps(what) + "::", flush=True)


def log(level, message):
    say({"logs": [{"level": level, "message": message}]})


def fail(message):
    log("ERROR", message)
    sys.exit(1)


props = json.load(sys.stdin)
kind = os.environ.get("TERN_TASK_TYPE", "").rsplit(".", 1)[-1]


def as_json(value, what):
    """A map as given, or JSON text (a rendered expression) parsed into one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            fail("%s is not JSON: %s" % (what, e))
    if not isinstance(value, dict):
        fail("%s must be a map or a JSON object" % what)
    return value


class Connection:
    def __init__(self, given):
        if not isinstance(given, dict):
            fail("connection must be a map with hosts")
        unknown = sorted(set(given) - CONNECTION_KEYS)
        if unknown:
            fail("connection: unknown key '%s' (known: %s)" % (unknown[0], ", ".join(sorted(CONNECTION_KEYS))))
        hosts = given.get("hosts")
        if isinstance(hosts, str):
            hosts = [hosts]
        if not hosts or not all(isinstance(h, str) and h for h in hosts):
            fail("connection: hosts must list at least one URL (http://HOST:9200)")
        self.hosts = []
        for h in hosts:
            u = urllib.parse.urlsplit(h)
            if u.scheme not in ("http", "https") or not u.hostname:
                fail("connection: host '%s' is not an http or https URL" % h)
            self.hosts.append("%s://%s" % (u.scheme, u.netloc))
        prefix = given.get("pathPrefix") or ""
        self.prefix = ("/" + prefix.strip("/")) if prefix.strip("/") else ""
        version = int(given.get("targetServerVersion") or 8)
        if version not in (8, 9):
            fail("connection: targetServerVersion must be 8 or 9")
        # What Kestra's client sends: the REST API's compatibility mode for that major version.
        media = "application/vnd.elasticsearch+json; compatible-with=%d" % version
        self.headers = {"Accept": media, "Content-Type": media, "User-Agent": "tern-elasticsearch"}
        for h in given.get("headers") or []:
            name, sep, value = str(h).partition(":")
            if not sep or not name.strip():
                fail("connection: header '%s' is not 'Name: Value'" % h)
            self.headers[name.strip()] = value.strip()
        auth = given.get("basicAuth")
        if auth and not any(k.lower() == "authorization" for k in self.headers):
            if not isinstance(auth, dict) or auth.get("username") is None:
                fail("connection: basicAuth needs a username and a password")
            pair = "%s:%s" % (auth["username"], auth.get("password") or "")
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        self.strict = given.get("strictDeprecationMode") in (True, "true")
        self.context = None
        if given.get("trustAllSsl") in (True, "true"):
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE

    def call(self, method, path, body=None, query=None, missing_ok=False):
        """The answer's JSON; a host that cannot be reached is passed over for the next one."""
        url_path = self.prefix + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        last = None
        for host in self.hosts:
            req = urllib.request.Request(host + url_path, data=data, method=method, headers=self.headers)
            try:
                with urllib.request.urlopen(req, timeout=60, context=self.context) as answer:
                    text = answer.read().decode("utf-8", errors="replace")
                    warning = answer.headers.get("Warning")
            except urllib.error.HTTPError as e:
                text = e.read(65536).decode("utf-8", errors="replace")
                if e.code == 404 and missing_ok:
                    return None
                fail("Elasticsearch answered %s %s with HTTP %d: %s" % (method, path, e.code, error_of(text)))
            except (urllib.error.URLError, OSError) as e:
                last = "%s: %s" % (host, getattr(e, "reason", e))
                continue
            if warning:
                if self.strict:
                    fail("Elasticsearch warned on %s %s (strictDeprecationMode): %s" % (method, path, warning))
                log("WARN", "Elasticsearch: %s" % warning)
            try:
                return json.loads(text) if text.strip() else {}
            except ValueError:
                fail("Elasticsearch's answer to %s %s is not JSON: %s" % (method, path, text.strip()[:200]))
        fail("cannot reach Elasticsearch (%s)" % last)


def error_of(text):
    """Elasticsearch's own words ({"error": {"type", "reason"}}), or the answer's start."""
    try:
        e = json.loads(text).get("error")
        if isinstance(e, dict) and e.get("reason"):
            return "%s (%s)" % (e["reason"], e.get("type") or "error")
        if isinstance(e, str):
            return e
    except (ValueError, AttributeError):
        pass
    return text.strip()[:300] or "no explanation"


def quoted(name):
    return urllib.parse.quote(str(name), safe="")


def search_path():
    indexes = props.get("indexes") or []
    if isinstance(indexes, str):
        indexes = [indexes]
    return ("/" + ",".join(quoted(i) for i in indexes) if indexes else "") + "/_search"


def search_query(extra=None):
    query = dict(extra or {})
    if props.get("routing"):
        query["routing"] = props["routing"]
    return query


def sources(answer):
    hits = ((answer or {}).get("hits") or {}).get("hits") or []
    return [h.get("_source") for h in hits if isinstance(h, dict)]


def total_of(answer):
    total = ((answer or {}).get("hits") or {}).get("total")
    return total.get("value") if isinstance(total, dict) else total


def store(rows, name):
    """rows as an Ion file (one struct a line: JSON text is Ion text) kept in internal storage."""
    os.makedirs(STORE_DIR, exist_ok=True)
    path = os.path.join(STORE_DIR, name)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def metrics(requests, records, took_ms):
    say({"metrics": [{"name": "requests.count", "type": "counter", "value": requests, "tags": {}},
                     {"name": "records", "type": "counter", "value": records, "tags": {}},
                     {"name": "requests.duration", "type": "timer", "value": took_ms / 1000.0, "tags": {}}]})


def search(conn):
    answer = conn.call("POST", search_path(), as_json(props.get("request") or {}, "request"), search_query())
    rows = sources(answer)
    fetch = props.get("fetchType") or "FETCH"
    out = {"total": total_of(answer)}
    if fetch == "FETCH":
        out.update(rows=rows, size=len(rows))
    elif fetch == "FETCH_ONE":
        out.update(row=rows[0] if rows else None, size=1 if rows else 0)
    elif fetch == "STORE":
        out.update(uri=store(rows, "search.ion"), size=len(rows))
    metrics(1, len(rows), answer.get("took") or 0)
    say({"outputs": out})
    log("INFO", "%d document(s) of %s found" % (len(rows), out["total"]))


def scroll(conn):
    answer = conn.call("POST", search_path(), as_json(props.get("request") or {}, "request"),
                       search_query({"scroll": SCROLL_KEEP}))
    scroll_id, rows, requests, took = answer.get("_scroll_id"), [], 1, answer.get("took") or 0
    try:
        page = sources(answer)
        while page:
            rows += page
            if not scroll_id:
                break
            answer = conn.call("POST", "/_search/scroll", {"scroll": SCROLL_KEEP, "scroll_id": scroll_id})
            requests += 1
            took += answer.get("took") or 0
            scroll_id = answer.get("_scroll_id") or scroll_id
            page = sources(answer)
    finally:
        if scroll_id:
            try:
                conn.call("DELETE", "/_search/scroll", {"scroll_id": scroll_id}, missing_ok=True)
            except SystemExit:  # the documents are read: a scroll left open expires by itself
                log("WARN", "the scroll could not be cleared; it expires after %s" % SCROLL_KEEP)
    metrics(requests, len(rows), took)
    say({"outputs": {"size": len(rows), "uri": store(rows, "scroll.ion")}})
    log("INFO", "%d document(s) read in %d request(s)" % (len(rows), requests))


def put(conn):
    index, key = props["index"], props.get("key")
    if props.get("value") is None:
        fail("value is required: the document, a map or JSON text")
    document = as_json(props["value"], "value")
    query = search_query()
    refresh = {"IMMEDIATE": "true", "WAIT_UNTIL": "wait_for"}.get(props.get("refreshPolicy") or "NONE")
    if refresh:
        query["refresh"] = refresh
    if props.get("opType"):
        query["op_type"] = str(props["opType"]).lower()
    if key is not None and key != "":
        answer = conn.call("PUT", "/%s/_doc/%s" % (quoted(index), quoted(key)), document, query)
    else:
        answer = conn.call("POST", "/%s/_doc" % quoted(index), document, query)
    say({"outputs": {"id": answer.get("_id"), "result": str(answer.get("result") or "").upper(),
                     "version": answer.get("_version")}})
    log("INFO", "document '%s' %s in index '%s'" % (answer.get("_id"), answer.get("result"), index))


def get(conn):
    index, key = props["index"], props["key"]
    query = search_query()
    if props.get("docVersion") is not None:
        query["version"] = props["docVersion"]
    answer = conn.call("GET", "/%s/_doc/%s" % (quoted(index), quoted(key)), None, query, missing_ok=True)
    if answer is None or not answer.get("found", True):
        fail("no document '%s' in index '%s'" % (key, index))
    say({"outputs": {"row": answer.get("_source")}})


def main():
    run = {"Search": search, "Scroll": scroll, "Put": put, "Get": get}.get(kind)
    if not run:
        fail("this plugin does not run task type '%s'" % os.environ.get("TERN_TASK_TYPE"))
    run(Connection(props.get("connection")))


main()
