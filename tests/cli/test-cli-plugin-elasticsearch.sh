#!/usr/bin/env bash
# test-cli-plugin-elasticsearch: the shipped elasticsearch plugin (plugins/elasticsearch, an exec plugin) end to end:
# 'tern run' puts documents (under a key, under a generated one, a CREATE refused for a taken key), gets one, searches
# (rows, the first row, an Ion file of internal storage read by a later task), scrolls page after page into an Ion
# file and clears the scroll, with basic authentication, and fails clearly on a missing document (TAP). No Elasticsearch
# here: the server is a small one of this test, on loopback, that answers the REST API's shapes for these calls.
set -u
. "$(dirname "$0")/plugin-test-lib.sh"
plugin_test elasticsearch elasticsearch

# The server: every request (method, path, query, Authorization, Accept, body) one JSON line. Index "people"
# starts with three documents; a search is a term query on a field or match_all; a scroll pages by "size".
cat >"$dir/server.py" <<'PY'
import json, sys, urllib.parse
from plugin_http import Handler, serve
docs = {"people": {"s1": {"name": "ann", "n": 1}, "s2": {"name": "bob", "n": 2}, "s3": {"name": "cid", "n": 3}}}
versions, scrolls, generated = {}, {}, [0]
class H(Handler):
    def handle_any(self, method):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n)) if n else None
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"method": method, "path": u.path, "query": q, "auth": self.headers.get("Authorization"),
                                "accept": self.headers.get("Accept"), "body": body}) + "\n")
        parts = [p for p in u.path.split("/") if p]
        if parts[-1:] == ["_search"] and len(parts) <= 2:
            found = [(k, d) for index in (parts[0].split(",") if len(parts) == 2 else docs) for k, d in sorted(docs.get(index, {}).items())]
            term = (body or {}).get("query", {}).get("term")
            if term:
                (field, cond), = term.items()
                found = [(k, d) for k, d in found if d.get(field) == (cond.get("value") if isinstance(cond, dict) else cond)]
            size = (body or {}).get("size", 10)
            page = found[:size]
            out = {"took": 4, "timed_out": False, "hits": {"total": {"value": len(found), "relation": "eq"},
                                                           "hits": [{"_index": "people", "_id": k, "_source": d} for k, d in page]}}
            if "scroll" in q:
                scrolls["sc-1"] = (found, size, size)
                out["_scroll_id"] = "sc-1"
            return self.answer(200, out)
        if parts == ["_search", "scroll"] and method == "POST":
            found, size, at = scrolls[body["scroll_id"]]
            scrolls[body["scroll_id"]] = (found, size, at + size)
            return self.answer(200, {"_scroll_id": body["scroll_id"], "took": 2, "hits": {"total": {"value": len(found)},
                                     "hits": [{"_id": k, "_source": d} for k, d in found[at:at + size]]}})
        if parts == ["_search", "scroll"] and method == "DELETE":
            scrolls.pop(body["scroll_id"], None)
            return self.answer(200, {"succeeded": True, "num_freed": 1})
        if len(parts) >= 2 and parts[1] == "_doc":
            index = docs.setdefault(parts[0], {})
            if method == "GET":
                if parts[2] not in index:
                    return self.answer(404, {"_index": parts[0], "_id": parts[2], "found": False})
                return self.answer(200, {"_index": parts[0], "_id": parts[2], "found": True, "_source": index[parts[2]]})
            key = parts[2] if len(parts) == 3 else None
            if key is None:
                generated[0] += 1
                key = "gen-%d" % generated[0]
            if key in index and q.get("op_type") == "create":
                return self.answer(409, {"error": {"type": "version_conflict_engine_exception",
                                                   "reason": "[%s]: version conflict, document already exists" % key}, "status": 409})
            existed = key in index
            index[key] = body
            versions[key] = versions.get(key, 0) + 1
            return self.answer(200 if existed else 201, {"_index": parts[0], "_id": key, "_version": versions[key],
                                                         "result": "updated" if existed else "created"})
        self.answer(400, {"error": {"type": "illegal_argument_exception", "reason": "no handler for %s %s" % (method, u.path)}})
    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("PUT")
    def do_DELETE(self): self.handle_any("DELETE")
serve(H)
PY
plugin_server
host=$url

cat >"$dir/es.yaml" <<YAML
id: es
namespace: test.plugins
tasks:
  - id: put
    type: io.kestra.plugin.elasticsearch.Put
    index: people
    key: p1
    value:
      name: john
      city: Paris
    refreshPolicy: IMMEDIATE
  - id: put_json
    type: io.kestra.plugin.elasticsearch.Put
    index: people
    value: '{"name": "jane", "n": 5}'
  - id: put_taken
    type: io.kestra.plugin.elasticsearch.Put
    allowFailure: true
    index: people
    key: p1
    opType: CREATE
    value: {name: again}
  - id: get
    type: io.kestra.plugin.elasticsearch.Get
    index: people
    key: p1
  - id: search
    type: io.kestra.plugin.elasticsearch.Search
    indexes: [people]
    request:
      query:
        term:
          name:
            value: "{{ outputs.get.row.name }}"
  - id: search_one
    type: io.kestra.plugin.elasticsearch.Search
    indexes: [people]
    fetchType: FETCH_ONE
    request: '{"query": {"match_all": {}}, "size": 2}'
  - id: search_store
    type: io.kestra.plugin.elasticsearch.Search
    indexes: [people]
    fetchType: STORE
    request: {query: {term: {name: bob}}}
  - id: scroll
    type: io.kestra.plugin.elasticsearch.Scroll
    indexes: [people]
    request:
      size: 2
      query:
        match_all: {}
  - id: files
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      stored.ion: "{{ outputs.search_store.uri }}"
      scrolled.ion: "{{ outputs.scroll.uri }}"
    commands:
      - 'echo "stored: \$(cat stored.ion)"'
      - 'echo "scrolled: \$(wc -l < scrolled.ion) \$(tr -d "\\n" < scrolled.ion)"'
  - id: missing
    type: io.kestra.plugin.elasticsearch.Get
    allowFailure: true
    index: people
    key: nope
pluginDefaults:
  - type: io.kestra.plugin.elasticsearch
    values:
      connection:
        hosts: ["http://127.0.0.1:1", "$host"]
        basicAuth:
          username: elastic
          password: "{{ secret('ES_PASSWORD') }}"
YAML

plugin_validates "$dir/es.yaml"
printf 'id: bad\nnamespace: test.plugins\ntasks:\n  - id: s\n    type: io.kestra.plugin.elasticsearch.Search\n    fetchType: ALL\n' \
        >"$dir/bad.yaml"
"$TERN" flow validate --plugins-path "$plugin" "$dir/bad.yaml" >"$dir/bad.txt" 2>&1
[ $? -ne 0 ] && grep -q "connection" "$dir/bad.txt" && grep -q "request" "$dir/bad.txt" && grep -q "fetchType" "$dir/bad.txt"
ok $? "validation refuses a Search without connection and request, with an unknown fetchType ($(head -c 300 "$dir/bad.txt" | tr "\n" " "))"
SECRET_ES_PASSWORD=$(printf 's3cret' | base64 -w0) plugin_run "$dir/es.yaml" --sandbox-network
plugin_show

plugin_check <<'PY'
import base64, json, os, sys
from plugin_tap import *  # noqa: F401,F403 (ok, run, got, state, out, logs, err, done)
show = load("show.json")

ok(state("put") == "SUCCESS" and out("put") == {"id": "p1", "result": "CREATED", "version": 1},
   "Put: a document under its key, outputs id, result, version (%s %r %r)" % (state("put"), out("put"), err))
p = [g for g in got if g["method"] == "PUT"][:1]
auth = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
ok(p and p[0]["path"] == "/people/_doc/p1" and p[0]["query"] == {"refresh": "true"} and
   p[0]["body"] == {"name": "john", "city": "Paris"} and p[0]["auth"] == auth and
   p[0]["accept"] == "application/vnd.elasticsearch+json; compatible-with=8",
   "Put: PUT /INDEX/_doc/KEY with the document, refresh for IMMEDIATE, basic auth, the compatibility header "
   "(the unreachable first host passed over) %r" % p)
ok(state("put_json") == "SUCCESS" and out("put_json").get("id") == "gen-1" and
   any(g["method"] == "POST" and g["path"] == "/people/_doc" and g["body"] == {"name": "jane", "n": 5} for g in got),
   "Put without a key: POST /INDEX/_doc of JSON text, the generated id as output %r" % out("put_json"))
ok(state("put_taken") == "FAILED" and any(lv == "ERROR" and "HTTP 409" in m and
   "[p1]: version conflict, document already exists (version_conflict_engine_exception)" in m for lv, m in logs("put_taken")),
   "Put with opType CREATE of a taken key fails with Elasticsearch's reason: %r" % logs("put_taken"))
ok(state("get") == "SUCCESS" and out("get") == {"row": {"name": "john", "city": "Paris"}},
   "Get: the document's _source as row %r" % out("get"))
s = [g for g in got if g["path"] == "/people/_search"]
ok(state("search") == "SUCCESS" and out("search") == {"total": 1, "rows": [{"name": "john", "city": "Paris"}], "size": 1} and
   s and s[0]["body"] == {"query": {"term": {"name": {"value": "john"}}}},
   "Search (FETCH): the request rendered and POSTed to /INDEX/_search, rows, size, total %r" % out("search"))
ms = {(m["taskId"], m["name"]): m["value"] for m in show.get("metrics", [])}
ok(ms.get(("search", "records")) == 1 and ms.get(("search", "requests.count")) == 1,
   "Search: the records and requests.count metrics %r" % {k: v for k, v in ms.items() if k[0] == "search"})
ok(state("search_one") == "SUCCESS" and out("search_one") == {"total": 5, "row": {"name": "jane", "n": 5}, "size": 1},
   "Search FETCH_ONE of JSON text: the first document as row %r" % out("search_one"))
u = out("search_store").get("uri") or ""
ok(state("search_store") == "SUCCESS" and u.startswith("kestra:///") and u.endswith(".ion") and out("search_store").get("size") == 1 and
   "outputFiles" not in out("search_store"),
   "Search STORE: the documents kept in internal storage, their kestra:/// URI as uri %r" % out("search_store"))
sc = out("scroll")
pages = [g for g in got if g["path"] == "/_search/scroll"]
ok(state("scroll") == "SUCCESS" and sc.get("size") == 5 and (sc.get("uri") or "").startswith("kestra:///") and
   [g["method"] for g in pages] == ["POST", "POST", "POST", "DELETE"] and
   any(g["query"] == {"scroll": "60s"} for g in s),
   "Scroll: a search with scroll=60s, the next pages until an empty one, the scroll cleared; size and uri %r %r" %
   (sc, [(g["method"], g["body"]) for g in pages]))
text = [m for _, m in logs("files")]
ok(state("files") == "SUCCESS" and 'stored: {"name": "bob", "n": 2}' in text and
   any(m.startswith('scrolled: 5 {"name": "jane", "n": 5}{"name": "john", "city": "Paris"}{"name": "ann", "n": 1}') for m in text),
   "the stored files are Ion, one document a line, read by a later task through their URIs: %r" % text)
ok(state("missing") == "FAILED" and ("ERROR", "no document 'nope' in index 'people'") in logs("missing"),
   "Get of a missing document fails saying which: %r" % logs("missing"))
ok("s3cret" not in json.dumps(run), "the password is in no log line nor output")
ok(run.get("state", {}).get("current") == "WARNING", "the flow ends WARNING: the failures were allowed (%s)" % run.get("state"))
done()
PY
