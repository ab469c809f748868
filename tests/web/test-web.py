#!/usr/bin/env python3
# test-web.py: the webserver at the HTTP level: a real "tern server standalone --listen" on a free
# loopback port over a throwaway store (SQLite, or PostgreSQL with --pg), every endpoint, the
# authentication bypass attempts and the request limits. TAP output.
import base64, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

from harness import TERN, here, ok
import harness

SECRET = "sentinel-SECRET-93c1e"
# The example exec plugin (examples/plugins/greet) on the servers' plugin path: the plugin API lists it.
h = harness.Setup("tern-web-", "web", {"SECRET_SENTINEL": base64.b64encode(SECRET.encode()).decode(),
                                       "TERN_PLUGINS_PATH": os.path.join(here, "..", "..", "examples", "plugins", "greet")})
scratch, env, procs, cleanup, db = h.scratch, h.env, h.procs, h.cleanup, h.db

try:
    PASSWORD = "sentinel-PASSWORD-7f3a"
    r = subprocess.run([TERN, "user", "add", "alice", "--db", db], input=PASSWORD + "\n", text=True, env=env,
                       capture_output=True)
    ok(r.returncode == 0, "tern user add reads the password from standard input")
    r = subprocess.run([TERN, "user", "add", "bad/name", "--db", db], input="x\n", text=True, env=env,
                       capture_output=True)
    ok(r.returncode == 2, "tern user add refuses an invalid name")
    r = subprocess.run([TERN, "token", "create", "alice", "--db", db], text=True, env=env, capture_output=True)
    TOKEN = r.stdout.strip()
    ok(r.returncode == 0 and TOKEN.startswith("tern_") and len(TOKEN) == 69, "tern token create prints a token")
    r = subprocess.run([TERN, "token", "create", "nobody", "--db", db], text=True, env=env, capture_output=True)
    ok(r.returncode == 1 and "no user" in r.stderr, "no token for an unknown user")

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(scratch + "/server.log", "w")
    # The sandbox has tests of its own; here shell tasks run as plain processes.
    procs.append(subprocess.Popen([TERN, "server", "standalone", "--listen", f"127.0.0.1:{port}", "--workers", "2",
                                   "--sandbox", "off", "--db", db], env=env, stdout=log, stderr=subprocess.STDOUT))

    BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    BEARER = "Bearer " + TOKEN

    def req(method, path, body=None, auth=BEARER, headers=None, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            c.putheader("Content-Length", str(len(data)))
        c.endheaders()
        if data is not None:
            try:
                c.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
        resp = c.getresponse()
        text = resp.read().decode()
        c.close()
        js = None
        if resp.getheader("Content-Type", "").startswith("application/json"):
            js = json.loads(text)
        return resp.status, (text if raw else js), resp

    deadline = time.monotonic() + 60
    up = False
    while time.monotonic() < deadline and procs[0].poll() is None:
        try:
            st, js, _ = req("GET", "/health", auth=None)
            if st == 200:
                up = True
                break
        except OSError:
            pass
        time.sleep(0.05)
    if not ok(up, "the server answers /health"):
        raise SystemExit

    if "--load" in sys.argv:
        FLOW = ("id: load\nnamespace: t.load\ntasks:\n  - id: r\n    type: io.kestra.plugin.core.debug.Return\n"
                "    format: x\n")
        ok(req("POST", "/api/v1/flows", FLOW)[0] == 200, "a flow to load")
        st, js, _ = req("POST", "/api/v1/executions/t.load/load?wait=true", {})
        base = f"http://127.0.0.1:{port}"
        for what, args in [("GET /api/v1/executions/{id}", [f"{base}/api/v1/executions/{js['id']}", "2000", "4"]),
                           ("POST /api/v1/executions/{ns}/{flow}", [f"{base}/api/v1/executions/t.load/load", "400", "4",
                                                                    "{}"])]:
            r = subprocess.run([os.environ["TERN_WEB_LOAD"], args[0], "Authorization: " + BEARER] + args[1:],
                               capture_output=True, text=True)
            ok(r.returncode == 0, f"{what}: {r.stdout.strip()}")
        raise SystemExit

    # ---- routing and authentication ----
    st, js, _ = req("GET", "/health", auth=None)
    ok(st == 200 and js == {"status": "UP"}, "/health is open and says UP")
    st, js, resp = req("GET", "/api/v1/flows/search", auth=None)
    ok(st == 401 and "authentication" in js["message"] and resp.getheader("WWW-Authenticate"),
       "the API needs authentication (401, JSON, WWW-Authenticate)")
    ok(req("GET", "/metrics", auth=None)[0] == 401, "/metrics needs authentication")
    ok(req("GET", "/api/v1/flows/search", auth=BASIC)[0] == 200, "HTTP Basic with the right password")
    ok(req("GET", "/api/v1/flows/search")[0] == 200, "bearer token")
    wrong = "Basic " + base64.b64encode(b"alice:wrong").decode()
    ok(req("GET", "/api/v1/flows/search", auth=wrong)[0] == 401, "a wrong password is refused")
    ok(req("GET", "/api/v1/flows/search", auth="Basic " + base64.b64encode(b"mallory:x").decode())[0] == 401,
       "an unknown user is refused")
    ok(req("GET", "/api/v1/flows/search", auth="Bearer tern_" + "0" * 64)[0] == 401, "an unknown token is refused")
    ok(req("GET", "/api/v1/flows/search", auth="Basic !!!")[0] == 401, "malformed Basic credentials are refused")
    for path in ["/api/v1/flows/../health", "/api/v1/flows/%2e%2e/health", "/api/v1/flows/./search",
                 "/api%2Fv1/flows/search", "/api/v1/flows%2fsearch", "//api/v1/flows/search", "/api//v1/flows/search",
                 "/health/", "/health//", "/health/.", "/health%00", "/health/..%2fapi/v1/flows/search",
                 "/api/v1/flows/search%5c..", "/health%"]:
        st, js, _ = req("GET", path, auth=None)
        ok(st == 400 and js and "canonical" in js["message"], f"{path} is refused as not canonical (400)")
    for path in ["/HEALTH", "/Health", "/api/v1/health", "/health.json", "/healthz", "/health?x=/health", "/x/health",
                 "/api/v1/flows/search/health"]:
        st, js, _ = req("GET", path, auth=None)
        ok(st == 401 if "?" not in path else st == 200, f"{path} gives no unauthenticated access to anything but /health")
    st, js, _ = req("GET", "/api/v1/nothing")
    ok(st == 404 and js["message"] == "no such endpoint", "an unknown endpoint is 404 in JSON")
    st, js, _ = req("PATCH", "/api/v1/flows/search")
    ok(st == 405, "a known path with another method is 405")
    st, js, _ = req("POST", "/health", auth=None)
    ok(st == 401, "POST /health is not the open route")
    # Kestra 1.x's tenant prefix: /api/v1/main/... is /api/v1/...; no other tenant.
    st, js, _ = req("GET", "/api/v1/main/flows/search")
    ok(st == 200 and "results" in js, "GET /api/v1/main/flows/search is the flows search (Kestra 1.x's tenant prefix)")
    st, js, _ = req("POST", "/api/v1/main/flows/validate", "id: x\nnamespace: t.tenant\ntasks: []\n")
    ok(st == 200 and isinstance(js, list), "POST /api/v1/main/flows/validate is the validate route")
    st, js, _ = req("GET", "/api/v1/acme/flows/search")
    ok(st == 404 and "no tenant 'acme'" in js["message"] and "'main'" in js["message"],
       f"another tenant is 404 naming it and the one there is ({js and js['message']})")
    ok(req("GET", "/api/v1/acme/flows/search", auth=None)[0] == 401, "and tells nothing without credentials")
    st, js, _ = req("GET", "/api/v1/main/nothing/here")
    ok(st == 404 and js["message"] == "no such endpoint", "an unknown path under the tenant is 404 no such endpoint")
    ok(req("GET", "/api/v1/main/flows/search", auth=None)[0] == 401, "the tenant's routes need authentication too")
    ok(req("PATCH", "/api/v1/main/flows/search")[0] == 405, "a known path under the tenant with another method is 405")
    ok(req("GET", "/api/v1/main")[1]["message"] == "no such endpoint" and
       req("GET", "/api/v1/main/main/flows/search")[0] == 404, "the tenant is one segment, once, with something after it")
    ok(req("GET", "/api/v1/main/%2e%2e/flows/search")[0] == 400, "a tenant path is canonical like any other")

    # ---- flows ----
    HELLO = """id: hello
namespace: t.web
inputs:
  - id: name
    type: STRING
    defaults: world
  - id: count
    type: INT
    required: false
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello, {{ inputs.name }}!"
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name | upper }}"
"""
    st, js, _ = req("POST", "/api/v1/flows", HELLO, headers={"Content-Type": "application/x-yaml"})
    ok(st == 200 and js["id"] == "hello" and js["namespace"] == "t.web" and js["revision"] == 1 and js["source"] == HELLO,
       "POST /api/v1/flows creates a flow (revision 1)")
    st, js, _ = req("POST", "/api/v1/flows", HELLO)
    ok(st == 409, "POST of an existing flow is 409")
    st, js, _ = req("PUT", "/api/v1/flows/t.web/hello", HELLO + "description: two\n")
    ok(st == 200 and js["revision"] == 2, "PUT updates the flow (revision 2)")
    st, js, _ = req("PUT", "/api/v1/flows/t.web/other", HELLO)
    ok(st == 422 and "differ" in js["message"], "PUT with a mismatched id is 422")
    st, js, _ = req("PUT", "/api/v1/flows/t.web/absent", HELLO.replace("id: hello", "id: absent"))
    ok(st == 404, "PUT of a missing flow is 404")
    BAD = "id: broken\nnamespace: t.web\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Nope\n"
    st, js, _ = req("POST", "/api/v1/flows", BAD)
    ok(st == 422 and js["errors"] and js["errors"][0]["line"] == 5 and js["errors"][0]["column"] > 0,
       "an invalid flow is 422 with positioned errors")
    st, js, _ = req("POST", "/api/v1/flows", "id: [unclosed\n  - : :\n")
    ok(st == 422 and js["errors"] and js["errors"][0]["line"] >= 1, "malformed YAML is 422 with a position")
    st, js, _ = req("POST", "/api/v1/flows", "")
    ok(st == 422, "an empty body is 422")
    st, js, _ = req("POST", "/api/v1/flows/validate", BAD)
    ok(st == 200 and js[0]["valid"] is False and js[0]["errors"][0]["line"] == 5 and "constraints" in js[0],
       "validate reports positioned errors")
    st, js, _ = req("POST", "/api/v1/flows/validate", HELLO)
    ok(st == 200 and js[0]["valid"] is True and js[0]["flow"] == "hello", "validate accepts a valid flow")
    # A type the registry knows but this build cannot run: refused by validate and by a POST, at its type: line.
    NOT_RUNNABLE = "id: tpl\nnamespace: t.web\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.flow.Template\n" \
                   "    namespace: t.web\n    templateId: x\n"
    st, js, _ = req("POST", "/api/v1/flows/validate", NOT_RUNNABLE)
    ok(st == 200 and js[0]["valid"] is False and (js[0]["errors"][0]["line"], js[0]["errors"][0]["column"]) == (5, 11)
       and "is known but this build cannot run it (templates are deprecated" in js[0]["errors"][0]["message"],
       "validate refuses a type this build cannot run, at its type: line")
    # One task or trigger (Kestra's /validate/task, /validate/trigger): errors on the body's own lines.
    st, js, _ = req("POST", "/api/v1/flows/validate/task", "id: a\ntype: io.kestra.plugin.core.log.Log\nmessage: hi\n")
    ok(st == 200 and js == {"valid": True, "errors": []}, f"validate/task accepts a valid task ({js})")
    st, js, _ = req("POST", "/api/v1/main/flows/validate/task",
                    "id: a\ntype: io.kestra.plugin.core.log.Log\nmessage: hi\nlevel: LOUD\n")
    ok(st == 200 and js["valid"] is False and js["errors"][0]["line"] == 4 and "constraints" in js,
       f"validate/task (under the tenant prefix) reports an error on the task's own line 4 ({js})")
    st, js, _ = req("POST", "/api/v1/flows/validate/task", "id: a\ntype: io.kestra.plugin.core.log.Lgo\n")
    ok(st == 200 and js["valid"] is False and js["errors"][0]["line"] == 2, f"an unknown task type, on line 2 ({js})")
    st, js, _ = req("POST", "/api/v1/flows/validate/trigger",
                    "id: daily\ntype: io.kestra.plugin.core.trigger.Schedule\ncron: \"0 9 * * *\"\n")
    ok(st == 200 and js["valid"] is True, f"validate/trigger accepts a valid trigger ({js})")
    st, js, _ = req("POST", "/api/v1/flows/validate/trigger",
                    "id: daily\ntype: io.kestra.plugin.core.trigger.Schedul\ncron: \"0 9 * * *\"\n")
    ok(st == 200 and js["valid"] is False and js["errors"][0]["line"] == 2, f"and reports an unknown type on line 2 ({js})")
    st, js, _ = req("POST", "/api/v1/flows/validate/task", "")
    ok(st == 400 and "task's YAML" in js["message"], "validate/task of nothing is 400")
    ok(req("POST", "/api/v1/flows/validate/trigger", "id: x\n", auth=None)[0] == 401, "validate/trigger needs authentication")
    st, js, _ = req("POST", "/api/v1/flows", NOT_RUNNABLE)
    ok(st == 422 and js["errors"][0]["line"] == 5 and "this build cannot run it" in js["errors"][0]["message"],
       "POST of a flow with a type this build cannot run is 422")
    ok(req("GET", "/api/v1/flows/t.web/tpl")[0] == 404, "and the flow is not stored")
    st, js, _ = req("GET", "/api/v1/flows/t.web/hello")
    ok(st == 200 and js["revision"] == 2 and "description: two" in js["source"], "GET a flow as JSON with its source")
    st, text, resp = req("GET", "/api/v1/flows/t.web/hello", headers={"Accept": "application/x-yaml"}, raw=True)
    ok(st == 200 and text.startswith("id: hello") and resp.getheader("Content-Type") == "application/x-yaml",
       "GET a flow as YAML")
    ok(req("GET", "/api/v1/flows/t.web/none")[0] == 404, "GET a missing flow is 404")
    st, js, _ = req("GET", "/api/v1/flows/t.web/hello/revisions")
    ok(st == 200 and [f["revision"] for f in js] == [1, 2] and "description: two" not in js[0]["source"],
       "the revisions of a flow, with their sources")
    ok(req("GET", "/api/v1/flows/t.web/none/revisions")[0] == 404, "revisions of a missing flow are 404")
    # enable and disable: the source's top-level disabled: line, a new revision
    TOG = ("id: tog\nnamespace: t.toggle\ntasks:\n  - id: r\n    type: io.kestra.plugin.core.debug.Return\n"
           "    format: x\n    disabled: false\n")
    ok(req("POST", "/api/v1/flows", TOG)[0] == 200, "a flow to disable (a task of it has a disabled: line of its own)")
    st, js, _ = req("GET", "/api/v1/flows/t.toggle/tog")
    ok(st == 200 and js["disabled"] is False, "a flow says whether it is disabled (false)")
    TOGREF = [{"namespace": "t.toggle", "id": "tog"}]
    st, js, _ = req("POST", "/api/v1/flows/disable/by-ids", TOGREF)
    ok(st == 200 and js == {"count": 1}, "POST /api/v1/flows/disable/by-ids disables it ({count: 1})")
    st, js, _ = req("GET", "/api/v1/flows/t.toggle/tog")
    ok(js["disabled"] is True and js["revision"] == 2 and js["source"] == TOG + "disabled: true\n",
       "as a new revision whose source ends in 'disabled: true', the task's line untouched")
    st, js, _ = req("POST", "/api/v1/executions/t.toggle/tog", {})
    ok(st == 409, f"a disabled flow does not start ({st})")
    st, js, _ = req("GET", "/api/v1/flows/search?namespace=t.toggle")
    ok(st == 200 and js["results"][0]["disabled"] is True, "the search shows it disabled")
    ok(req("POST", "/api/v1/flows/disable/by-ids", TOGREF)[1] == {"count": 0}, "disabling it again changes nothing")
    st, js, _ = req("POST", "/api/v1/flows/enable/by-ids", TOGREF)
    st2, js2, _ = req("GET", "/api/v1/flows/t.toggle/tog")
    ok(st == 200 and js == {"count": 1} and js2["disabled"] is False and js2["revision"] == 3 and
       js2["source"] == TOG + "disabled: false\n", "POST /api/v1/flows/enable/by-ids sets the line to false")
    ok(req("POST", "/api/v1/executions/t.toggle/tog?wait=true", {})[0] == 200, "and it starts again")
    st, js, _ = req("POST", "/api/v1/flows/disable/by-ids", TOGREF + [{"namespace": "t.toggle", "id": "nope"}])
    ok(st == 404 and "'nope'" in js["message"] and "nothing was changed" in js["message"] and
       req("GET", "/api/v1/flows/t.toggle/tog")[1]["disabled"] is False, "an unknown flow in the list is 404, nothing changed")
    st, js, _ = req("POST", "/api/v1/flows/disable/by-ids", TOGREF * 1001)
    ok(st == 400 and "at most 1000" in js.get("message", "") and
       req("GET", "/api/v1/flows/t.toggle/tog")[1]["disabled"] is False,
       f"more than 1000 flows at once is 400, nothing changed ({st} {js})")
    for body in [[], {"namespace": "t.toggle"}, [{"namespace": "t.toggle"}], "not json"]:
        st, js, _ = req("POST", "/api/v1/flows/enable/by-ids", body, headers={"Content-Type": "application/json"})
        ok(st == 400 and js["message"], f"enable/by-ids with {body!r} is 400 ({js and js['message']})")
    FLOWSTYLE = '{"id": "flowstyle", "namespace": "t.toggle", "tasks": [{"id": "r", "type": "io.kestra.plugin.core.debug.Return", "format": "x"}]}'
    if req("POST", "/api/v1/flows", FLOWSTYLE)[0] == 200:
        st, js, _ = req("POST", "/api/v1/flows/disable/by-ids", [{"namespace": "t.toggle", "id": "flowstyle"}])
        ok(st == 422 and "disabled:" in js["message"], f"a source in flow style cannot be changed: 422 ({js and js['message']})")
    for fid, src in [("pause", "tasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
                               "  - id: after\n    type: io.kestra.plugin.core.debug.Return\n    format: done\n"),
                     ("fail", "tasks:\n  - id: boom\n    type: io.kestra.plugin.core.execution.Fail\n"),
                     ("kv", "tasks:\n  - id: steal\n    type: io.kestra.plugin.core.kv.Set\n    namespace: _tern.auth\n"
                            "    key: token/x\n    value: '{\"user\": \"alice\"}'\n")]:
        st, js, _ = req("POST", "/api/v1/flows", f"id: {fid}\nnamespace: t.web.sub\n" + src)
        ok(st == 200, f"flow {fid} created")
    st, js, _ = req("GET", "/api/v1/flows/search?namespace=t.web")
    ok(st == 200 and js["total"] == 4 and [f["id"] for f in js["results"]] == ["hello", "fail", "kv", "pause"],
       "search lists the namespace and those below it")
    st, js, _ = req("GET", "/api/v1/flows/search?q=pau")
    ok(st == 200 and js["total"] == 1 and js["results"][0]["id"] == "pause", "search by text")
    st, js, _ = req("GET", "/api/v1/flows/search?namespace=t.web&size=2&page=2")
    ok(st == 200 and js["total"] == 4 and [f["id"] for f in js["results"]] == ["kv", "pause"], "search pages")
    ok(req("GET", "/api/v1/flows/search?size=0")[0] == 400, "a bad page size is 400")
    st, js, _ = req("GET", "/api/v1/flows/t.web")
    ok(st == 200 and [f["id"] for f in js] == ["hello"], "GET /api/v1/flows/{namespace} lists that namespace only")
    st, js, _ = req("POST", "/api/v1/flows", "id: gone\nnamespace: t.web\ntasks:\n  - id: a\n"
                    "    type: io.kestra.plugin.core.debug.Return\n    format: x\n")
    ok(req("DELETE", "/api/v1/flows/t.web/gone")[0] == 204, "DELETE a flow (204)")
    ok(req("GET", "/api/v1/flows/t.web/gone")[0] == 404, "a deleted flow is gone")
    def flow(fid, ns="t.bulk", fmt="x"):
        return (f"id: {fid}\nnamespace: {ns}\ntasks:\n  - id: r\n    type: io.kestra.plugin.core.debug.Return\n"
                f"    format: {fmt}\n")
    st, js, _ = req("POST", "/api/v1/flows/t.bulk", flow("a") + "---\n" + flow("b"))
    ok(st == 200 and sorted(f["id"] for f in js) == ["a", "b"], "namespace update creates every flow of the body")
    st, js, _ = req("POST", "/api/v1/flows/t.bulk", flow("a", fmt="y"))
    names = [f["id"] for f in req("GET", "/api/v1/flows/t.bulk")[1]]
    ok(st == 200 and js[0]["revision"] == 2 and names == ["a"], "namespace update updates and deletes the missing ones")
    st, js, _ = req("POST", "/api/v1/flows/t.bulk", flow("c") + "---\n" + flow("d", ns="t.other") + "---\nid: [\n")
    names = [f["id"] for f in req("GET", "/api/v1/flows/t.bulk")[1]]
    ok(st == 422 and [e["index"] for e in js["errors"]] == [1, 2] and names == ["a"],
       "an invalid document or another namespace changes nothing (422, errors per document)")
    st, js, _ = req("POST", "/api/v1/flows/t.bulk?delete=false", flow("c"))
    names = [f["id"] for f in req("GET", "/api/v1/flows/t.bulk")[1]]
    ok(st == 200 and names == ["a", "c"], "delete=false keeps the others")
    ok(req("DELETE", "/api/v1/flows/t.web/gone")[0] == 404, "DELETE again is 404")

    # ---- executions ----
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello?wait=true", {"name": "ada"})
    ok(st == 200 and js["state"]["current"] == "SUCCESS" and js["inputs"]["name"] == "ada" and "ternEngine" not in js,
       "create with JSON inputs and wait=true ends in SUCCESS")
    exec_id = js["id"]
    tr = {t["taskId"]: t for t in js.get("taskRunList", [])}
    ok(tr.get("out", {}).get("outputs", {}).get("value") == "ADA", "the execution's outputs come back")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello?wait=true", "name=b%C3%A9a+x&count=3",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    ok(st == 200 and js["inputs"] == {"name": "béa x", "count": 3}, "create with form fields")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello?labels=team:data&labels=env:test", {})
    labels = {l["key"]: l["value"] for l in js.get("labels", [])} if isinstance(js.get("labels"), list) else js.get("labels")
    ok(st == 200 and labels.get("team") == "data" and labels.get("env") == "test", f"labels from ?labels=k:v ({labels})")
    ok(req("POST", "/api/v1/executions/t.web/hello?labels=nocolon", {})[0] == 400, "a malformed label is 400")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello", {"count": "many"})
    ok(st == 422 and "count" in js["message"], "invalid inputs are 422 naming the input")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello", '{"name": ')
    ok(st == 400 and "malformed JSON" in js["message"], "malformed JSON is 400")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello", '["a"]', headers={"Content-Type": "application/json"})
    ok(st == 400, "inputs that are not an object are 400")
    ok(req("POST", "/api/v1/executions/t.web/nope", {})[0] == 404, "an execution of a missing flow is 404")
    st, js, _ = req("GET", f"/api/v1/executions/{exec_id}")
    ok(st == 200 and js["id"] == exec_id and js["state"]["current"] == "SUCCESS", "GET an execution")
    newest = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello&size=1")[1]["results"][0]
    st, js, _ = req("POST", "/api/v1/executions/latest", [{"namespace": "t.web", "id": "hello"},
                                                         {"namespace": "t.web", "id": "none"},
                                                         {"namespace": "t.toggle", "id": "tog"}])
    # (the newest of hello may still be running: its state is whatever it was at either moment)
    ok(st == 200 and len(js) == 2 and js[0]["id"] == newest["id"] and js[0]["flowId"] == "hello" and
       js[0]["status"] in ("CREATED", "RUNNING", "SUCCESS") and js[1]["flowId"] == "tog" and js[1]["status"] == "SUCCESS",
       "POST /api/v1/executions/latest: the newest execution of each flow that has one")
    ok(req("POST", "/api/v1/executions/latest", {"namespace": "t.web"})[0] == 400, "latest of a body that is no list is 400")
    ok(req("GET", "/api/v1/executions/nope")[0] == 404, "GET a missing execution is 404")
    st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello&state=SUCCESS")
    ok(st == 200 and js["total"] >= 2 and all(e["flowId"] == "hello" and e["state"]["current"] == "SUCCESS"
                                              for e in js["results"]), "search executions by flow and state")
    n_success = js["total"]
    st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello")
    ok(st == 200 and js["total"] == 3 and n_success <= 3, "search without a state (three started)")
    st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello&size=1&page=2")
    ok(st == 200 and len(js["results"]) == 1 and js["total"] == 3, "search pages; total counts every match, not the page")
    st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello&size=2&page=5")
    ok(st == 200 and js["results"] == [] and js["total"] == 3, "a page past the end is empty, total still 3")
    ok(req("GET", "/api/v1/executions/search?state=BOGUS")[0] == 400, "search with an unknown state is 400")
    for q in ["T.WEB", "T.web", "t.Web", "t.w_b"]:
        st, js, _ = req("GET", f"/api/v1/executions/search?namespace={q}")
        st2, js2, _ = req("GET", f"/api/v1/flows/search?namespace={q}")
        ok(st == 200 and js["total"] == 0 and st2 == 200 and js2["total"] == 0,
           f"the namespace filter {q} matches no t.web execution or flow: case matters, '_' is no wildcard "
           f"({js['total']}, {js2['total']})")
    st, js, _ = req("GET", f"/api/v1/logs/{exec_id}")
    ok(st == 200 and any(l["message"] == "Hello, ada!" and l["taskId"] == "greet" for l in js), "the execution's logs")
    st, js2, _ = req("GET", f"/api/v1/logs/{exec_id}?minLevel=ERROR")
    ok(st == 200 and len(js2) < len(js), "logs filtered by level")
    ok(req("GET", "/api/v1/logs/nope")[0] == 404, "logs of a missing execution are 404")

    # ---- logs across executions ----
    st, js, _ = req("GET", "/api/v1/logs/search?namespace=t.web&flowId=hello&q=ADA")
    ok(st == 200 and js["total"] == 1 and js["results"][0]["message"] == "Hello, ada!" and
       js["results"][0]["namespace"] == "t.web" and js["results"][0]["flowId"] == "hello" and
       js["results"][0]["executionId"] == exec_id and js["results"][0]["taskId"] == "greet",
       "GET /api/v1/logs/search finds a line by its text (any case), with its flow and execution")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the three executions of hello have logged their greeting
        st, js, _ = req("GET", "/api/v1/logs/search?namespace=t.web&flowId=hello&q=Hello%2C")
        if st == 200 and js["total"] >= 3:
            break
        time.sleep(0.05)
    stamps = [l["timestamp"] for l in js["results"]]
    ok(js["total"] >= 3 and stamps == sorted(stamps, reverse=True), f"newest first ({js['total']} greetings)")
    n_greet = js["total"]
    st, js, _ = req("GET", "/api/v1/logs/search?namespace=t.web&flowId=hello&q=Hello%2C&sort=timestamp:asc")
    ok(st == 200 and [l["timestamp"] for l in js["results"]] == sorted(stamps), "sort=timestamp:asc: oldest first")
    st, js, _ = req("GET", "/api/v1/logs/search?namespace=t.web&flowId=hello&q=Hello%2C&size=1&page=2")
    ok(st == 200 and len(js["results"]) == 1 and js["total"] == n_greet and js["results"][0]["timestamp"] == stamps[1],
       "a page of one line, the total counting every match")
    st, js, _ = req("GET", "/api/v1/logs/search?namespace=t&q=Hello%2C")
    ok(st == 200 and js["total"] >= n_greet, "a namespace covers those below it")
    st, js, _ = req("GET", "/api/v1/logs/search?namespace=t.we&q=Hello%2C")
    ok(st == 200 and js["total"] == 0, "but is not a mere prefix of their names")
    st, js, _ = req("GET", "/api/v1/logs/search?flowId=hello&minLevel=ERROR")
    ok(st == 200 and all(l["level"] == "ERROR" for l in js["results"]), "minLevel=ERROR leaves out INFO lines")
    st, js, _ = req("GET", "/api/v1/logs/search?q=Hello%2C&startDate=2999-01-01T00:00:00Z")
    st2, js2, _ = req("GET", "/api/v1/logs/search?q=Hello%2C&endDate=2000-01-01T00:00:00Z")
    st3, js3, _ = req("GET", "/api/v1/logs/search?q=Hello%2C&startDate=2000-01-01T00:00:00Z&endDate=2999-01-01T00:00:00Z")
    ok(st == 200 and js["total"] == 0 and st2 == 200 and js2["total"] == 0 and st3 == 200 and js3["total"] >= n_greet,
       "startDate and endDate bound the time range")
    st, js, _ = req("GET", "/api/v1/logs/search?q=100%25%20not_there")
    ok(st == 200 and js["total"] == 0, "% and _ in the text are not wildcards")
    for query, words in [("minLevel=LOUD", "unknown log level 'LOUD'"), ("startDate=yesterday", "not a date-time"),
                         ("sort=message", "sort 'message'"), ("page=0", "page"),
                         ("startDate=2024-01-02T00:00:00Z&endDate=2024-01-01T00:00:00Z", "not after")]:
        st, js, _ = req("GET", "/api/v1/logs/search?" + query)
        ok(st == 400 and words in js["message"], f"logs search with {query} is 400 ({js and js['message']})")
    st, js, _ = req("GET", "/api/v1/main/logs/search?q=ada&flowId=hello")
    ok(st == 200 and js["total"] == 1, "and under the tenant prefix")
    ok(req("GET", "/api/v1/logs/search", auth=None)[0] == 401, "logs search needs authentication")

    def wait_state(eid, states, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, js, _ = req("GET", f"/api/v1/executions/{eid}")
            if st == 200 and js["state"]["current"] in states:
                return js
            time.sleep(0.05)
        return None

    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    pid = js["id"]
    ok(wait_state(pid, ["PAUSED"]) is not None, "a Pause flow pauses")
    st, js, _ = req("POST", f"/api/v1/executions/{pid}/restart")
    ok(st == 409, "restart of a paused execution is 409")
    st, js, _ = req("POST", f"/api/v1/executions/{pid}/resume")
    ok(st == 202, "resume is accepted")
    ok(wait_state(pid, ["SUCCESS"]) is not None, "the resumed execution ends in SUCCESS")
    ok(req("POST", f"/api/v1/executions/{pid}/resume")[0] == 409, "resume of a finished execution is 409")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    kid = js["id"]
    wait_state(kid, ["PAUSED"])
    st, js, _ = req("DELETE", f"/api/v1/executions/{kid}/kill?isOnKillCascade=maybe")
    ok(st == 400 and "isOnKillCascade" in js["message"], "a kill with isOnKillCascade neither true nor false is 400")
    ok(req("DELETE", f"/api/v1/executions/{kid}/kill?isOnKillCascade=false")[0] == 202, "DELETE .../kill is accepted")
    ok(wait_state(kid, ["KILLED"]) is not None, "the execution is killed")
    ok(req("POST", f"/api/v1/executions/{kid}/kill")[0] == 409, "kill of a finished execution is 409")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    did = js["id"]
    wait_state(did, ["PAUSED"])
    ok(req("DELETE", f"/api/v1/executions/{did}")[0] == 409, "DELETE of a paused execution is 409")
    req("POST", f"/api/v1/executions/{did}/kill")
    wait_state(did, ["KILLED"])
    ok(req("DELETE", f"/api/v1/executions/{did}")[0] == 204, "DELETE of an ended execution (204)")
    ok(req("GET", f"/api/v1/executions/{did}")[0] == 404, "the deleted execution is gone")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/fail?wait=true", {})
    ok(st == 200 and js["state"]["current"] == "FAILED", "a failing flow fails")
    fid = js["id"]
    before = len(js["state"]["histories"])
    st, js, _ = req("POST", f"/api/v1/executions/{fid}/restart")
    ok(st == 202, "restart of a failed execution is accepted")
    deadline, seen = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        seen = [h["state"] for h in req("GET", f"/api/v1/executions/{fid}")[1]["state"]["histories"][before:]]
        if seen and seen[-1] == "FAILED":
            break
        time.sleep(0.05)
    ok("RESTARTED" in seen and seen[-1] == "FAILED", f"the restart is applied and fails again ({seen})")

    # ---- bulk actions and search filters ----
    SLOW = "id: slow\nnamespace: t.bulkx\ntasks:\n  - id: nap\n    type: io.kestra.plugin.scripts.shell.Commands\n" \
           "    commands:\n      - sleep 60\n"
    ok(req("POST", "/api/v1/flows", SLOW)[0] == 200, "a slow flow for the bulk actions")
    k1 = req("POST", "/api/v1/executions/t.bulkx/slow", {})[1]["id"]
    k2 = req("POST", "/api/v1/executions/t.bulkx/slow", {})[1]["id"]
    st, js, _ = req("DELETE", "/api/v1/executions/kill/by-ids", [k1, exec_id, "nope"])
    bad = {e["id"]: e["message"] for e in (js or {}).get("invalidExecutions", [])}
    ok(st == 422 and set(bad) == {exec_id, "nope"} and "SUCCESS" in bad[exec_id] and "no such" in bad["nope"] and
       "none was" in js["message"], f"kill/by-ids with an ended and a missing execution is 422 listing them ({js and js['message']})")
    ok(req("GET", f"/api/v1/executions/{k1}")[1]["state"]["current"] not in ("KILLING", "KILLED"),
       "and nothing was killed")
    st, js, _ = req("DELETE", "/api/v1/executions/kill/by-ids", [k1, k2, k1, k2])
    ok(st == 200 and js == {"count": 2},
       f"DELETE /api/v1/executions/kill/by-ids kills both, an id given twice counted once ({js})")
    ok(wait_state(k1, ["KILLED"]) is not None and wait_state(k2, ["KILLED"]) is not None, "both end KILLED")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/fail?wait=true", {})
    fid = js["id"]
    st, js, _ = req("POST", "/api/v1/executions/restart/by-ids", [fid])
    ok(st == 200 and js == {"count": 1}, "POST /api/v1/executions/restart/by-ids restarts a failed one")
    deadline, hist = time.monotonic() + 30, []
    while time.monotonic() < deadline and "RESTARTED" not in hist:
        hist = [x["state"] for x in req("GET", f"/api/v1/executions/{fid}")[1]["state"]["histories"]]
        time.sleep(0.05)
    ok("RESTARTED" in hist, "and it is restarted")
    st, js, _ = req("DELETE", "/api/v1/executions/by-ids", [k1, k2])
    ok(st == 200 and js == {"count": 2} and req("GET", f"/api/v1/executions/{k1}")[0] == 404,
       "DELETE /api/v1/executions/by-ids deletes ended executions")
    st, js, _ = req("DELETE", "/api/v1/executions/by-ids", [k1])
    ok(st == 422 and "no such execution" in js["message"], "deleting them again is 422")
    for method, path in [("DELETE", "/api/v1/executions/kill/by-ids"), ("POST", "/api/v1/executions/restart/by-ids"),
                         ("DELETE", "/api/v1/executions/by-ids")]:
        st, js, _ = req(method, path, [])
        st2, js2, _ = req(method, path, [3])
        ok(st == 400 and st2 == 400 and "list of execution ids" in js["message"], f"{method} {path} with a bad list is 400")
        ok(req(method, path, [k1], auth=None)[0] == 401, f"{method} {path} needs authentication")
    st, js, _ = req("GET", "/api/v1/executions/search?labels=team:data")
    ok(st == 200 and js["total"] == 1 and "team" in json.dumps(js["results"][0]["labels"]),
       "search executions by label (labels=key:value)")
    ok(req("GET", "/api/v1/executions/search?labels=nocolon")[0] == 400, "a label without a colon is 400")
    st, js, _ = req("GET", "/api/v1/main/executions/search?labels=team:data&labels=env:test")
    st2, js2, _ = req("GET", "/api/v1/executions/search?labels=team:data&labels=env:prod")
    ok(st == 200 and js["total"] == 1 and st2 == 200 and js2["total"] == 0,
       "several labels=key:value: executions with all of them")
    st, js, _ = req("GET", "/api/v1/executions/search?" + "&".join(f"labels=k{i}:v" for i in range(21)))
    ok(st == 400 and "at most 20 labels" in js["message"], "more than 20 labels to filter on is 400")
    st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&startDate=2999-01-01T00:00:00Z")
    st2, js2, _ = req("GET", "/api/v1/executions/search?namespace=t.web&endDate=2000-01-01T00:00:00Z")
    st3, js3, _ = req("GET", "/api/v1/executions/search?namespace=t.web&startDate=2000-01-01T00:00:00Z")
    ok(st == 200 and js["total"] == 0 and js2["total"] == 0 and js3["total"] >= 3, "search by creation time range")
    ok(req("GET", "/api/v1/executions/search?startDate=soon")[0] == 400, "a bad startDate is 400")

    # ---- bulk actions by query: the search's filters choose, in batches of 100 ----
    def states(q):
        st, js, _ = req("GET", "/api/v1/executions/search?size=500&" + q)
        return sorted(x["state"]["current"] for x in js["results"]) if st == 200 else None

    def wait_states(q, want, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and states(q) != want:
            time.sleep(0.1)
        return states(q)

    for fid, src in [("ok", "  - id: r\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n"),
                     ("bad", "  - id: boom\n    type: io.kestra.plugin.core.execution.Fail\n")]:
        for ns in ["t.bq", "t.bqother"]:
            ok(req("POST", "/api/v1/flows", f"id: {fid}\nnamespace: {ns}\ntasks:\n" + src)[0] == 200, f"flow {ns}.{fid}")
    for ns, fid, n in [("t.bq", "ok", 3), ("t.bq", "bad", 2), ("t.bqother", "ok", 1), ("t.bqother", "bad", 1)]:
        for _ in range(n):
            req("POST", f"/api/v1/executions/{ns}/{fid}?wait=true", {})
    ok(states("namespace=t.bq") == ["FAILED"] * 2 + ["SUCCESS"] * 3, "executions to act on by query")
    st, js, _ = req("POST", "/api/v1/executions/restart/by-query?namespace=t.bq")
    ok(st == 200 and js == {"count": 2},
       f"POST /api/v1/executions/restart/by-query restarts the failed ones, the others skipped and not counted ({st} {js})")
    deadline, hist = time.monotonic() + 30, []
    while time.monotonic() < deadline and hist.count("RESTARTED") < 2:
        hist = [h["state"] for x in req("GET", "/api/v1/executions/search?namespace=t.bq&flowId=bad")[1]["results"]
                for h in x["state"]["histories"]]
        time.sleep(0.05)
    ok(hist.count("RESTARTED") == 2, "both are restarted")
    ok(all("RESTARTED" not in [h["state"] for h in x["state"]["histories"]]
           for x in req("GET", "/api/v1/executions/search?namespace=t.bqother")[1]["results"]),
       "an execution the filter does not select is not")
    ok(wait_states("namespace=t.bq&flowId=bad", ["FAILED", "FAILED"]) == ["FAILED", "FAILED"], "and they fail again")
    st, js, _ = req("POST", "/api/v1/executions/change-status/by-query?namespace=t.bq&flowId=ok&newStatus=WARNING")
    ok(st == 200 and js == {"count": 3}, f"POST /api/v1/executions/change-status/by-query?newStatus= ({st} {js})")
    ok(wait_states("namespace=t.bq&flowId=ok", ["WARNING"] * 3) == ["WARNING"] * 3 and
       states("namespace=t.bqother&flowId=ok") == ["SUCCESS"], "changes the selected ones only")
    st, js, _ = req("POST", "/api/v1/executions/change-status/by-query?namespace=t.bq&newStatus=RUNNING")
    st2, js2, _ = req("POST", "/api/v1/executions/change-status/by-query?namespace=t.bq")
    ok(st == 400 and st2 == 400 and "'newStatus'" in js2["message"] and states("namespace=t.bq") == ["FAILED"] * 2 + ["WARNING"] * 3,
       "a newStatus that is no end state, or none, is 400 and nothing is changed")
    st, js, _ = req("POST", "/api/v1/executions/labels/by-query?namespace=t.bq&state=FAILED", [{"key": "triage", "value": "yes"}])
    ok(st == 200 and js == {"count": 2}, f"POST /api/v1/executions/labels/by-query with a state filter ({st} {js})")
    st, js, _ = req("GET", "/api/v1/executions/search?labels=triage:yes")
    ok(st == 200 and js["total"] == 2 and all(x["state"]["current"] == "FAILED" and x["namespace"] == "t.bq" for x in js["results"]),
       "labels the selected ones")
    st, js, _ = req("POST", "/api/v1/executions/labels/by-query?labels=triage:yes", [{"key": "triage", "value": "done"}])
    ok(st == 200 and js == {"count": 2} and req("GET", "/api/v1/executions/search?labels=triage:done")[1]["total"] == 2 and
       req("GET", "/api/v1/executions/search?labels=triage:yes")[1]["total"] == 0,
       "a label of the same key is replaced, selected by the labels filter")
    ok(req("POST", "/api/v1/executions/labels/by-query?namespace=t.bq", [{"key": "system.x", "value": "1"}])[0] == 400,
       "system labels cannot be set by query either")
    for q in ["state=NOPE", "labels=nocolon", "startDate=soon"]:
        st, js, _ = req("DELETE", "/api/v1/executions/by-query?namespace=t.bq&" + q)
        ok(st == 400 and len(states("namespace=t.bq")) == 5, f"DELETE by-query with a bad filter ({q}) is 400, nothing deleted")
    # Many: more than one batch, every one of them acted on once.
    ok(req("POST", "/api/v1/flows", "id: many\nnamespace: t.bqmany\ntasks:\n  - id: r\n"
           "    type: io.kestra.plugin.core.debug.Return\n    format: x\n")[0] == 200, "a flow run many times")
    for _ in range(130):
        req("POST", "/api/v1/executions/t.bqmany/many", {})
    deadline, n_ended = time.monotonic() + 120, 0
    while time.monotonic() < deadline and n_ended < 130:
        n_ended = req("GET", "/api/v1/executions/search?size=1&namespace=t.bqmany&state=SUCCESS")[1]["total"]
        time.sleep(0.2)
    ok(n_ended == 130, f"130 executions ended ({n_ended})")
    st, js, _ = req("POST", "/api/v1/executions/labels/by-query?namespace=t.bqmany", [{"key": "wave", "value": "1"}])
    ok(st == 200 and js == {"count": 130} and req("GET", "/api/v1/executions/search?labels=wave:1")[1]["total"] == 130,
       f"labels/by-query over 130 executions (2 batches): each labelled, counted once ({js})")
    st, js, _ = req("DELETE", "/api/v1/main/executions/by-query?namespace=t.bqmany")
    ok(st == 200 and js == {"count": 130} and req("GET", "/api/v1/executions/search?namespace=t.bqmany")[1]["total"] == 0,
       f"DELETE /api/v1/main/executions/by-query deletes them all, under the tenant prefix too ({js})")
    # Kill: the unfinished ones; the ended one of the same flow is skipped.
    ok(req("POST", "/api/v1/flows", SLOW.replace("namespace: t.bulkx", "namespace: t.bqkill"))[0] == 200, "a slow flow to kill")
    q1 = req("POST", "/api/v1/executions/t.bqkill/slow", {})[1]["id"]
    q2 = req("POST", "/api/v1/executions/t.bqkill/slow", {})[1]["id"]
    q3 = req("POST", "/api/v1/executions/t.bqkill/slow", {})[1]["id"]
    ok(wait_state(q3, ["RUNNING"]) is not None, "three running")
    req("POST", f"/api/v1/executions/{q3}/kill")
    ok(wait_state(q3, ["KILLED"]) is not None, "one of them killed on its own")
    for method, path, body in [("DELETE", "/api/v1/executions/by-query", None), ("DELETE", "/api/v1/executions/kill/by-query", None),
                               ("POST", "/api/v1/executions/restart/by-query", None),
                               ("POST", "/api/v1/executions/change-status/by-query", None),
                               ("POST", "/api/v1/executions/labels/by-query", [{"key": "a", "value": "b"}])]:
        sep = "&" if "?" in path else "?"
        ok(req(method, path + sep + "namespace=t.bqkill", body, auth=None)[0] == 401, f"{method} {path} needs authentication")
    _, js, resp = req("POST", "/api/v1/session", {"username": "alice", "password": PASSWORD}, auth=None)
    cookie = (resp.getheader("Set-Cookie") or "").split(";")[0]
    st, _, _ = req("DELETE", "/api/v1/executions/kill/by-query?namespace=t.bqkill", auth=None, headers={"Cookie": cookie})
    ok(cookie.startswith("tern_session=") and st == 403, f"with a session cookie and no CSRF token: 403 ({st})")
    ok(req("GET", f"/api/v1/executions/{q1}")[1]["state"]["current"] == "RUNNING", "and nothing was killed")
    st, js, _ = req("DELETE", "/api/v1/executions/kill/by-query?namespace=t.bqkill", auth=None,
                    headers={"Cookie": cookie, "X-CSRF-Token": (js or {}).get("csrfToken", "")})
    ok(st == 200 and js == {"count": 2}, f"DELETE /api/v1/executions/kill/by-query kills the 2 unfinished ones ({st} {js})")
    ok(wait_state(q1, ["KILLED"]) is not None and wait_state(q2, ["KILLED"]) is not None, "both end KILLED")
    st, js, _ = req("DELETE", "/api/v1/executions/by-query?namespace=t.bqkill&state=KILLED")
    ok(st == 200 and js == {"count": 3} and req("GET", "/api/v1/executions/search?namespace=t.bqkill")[1]["total"] == 0,
       "and DELETE by-query with a state filter deletes them")
    # Replay: new executions, newer than the walk, so not visited (each replayed once).
    st, js, _ = req("POST", "/api/v1/executions/replay/by-query?namespace=t.bq&flowId=ok")
    deadline, replays = time.monotonic() + 30, []
    while time.monotonic() < deadline and len(replays) < 3:
        replays = [x for x in req("GET", "/api/v1/executions/search?namespace=t.bq&flowId=ok")[1]["results"] if x.get("originalId")]
        time.sleep(0.1)
    ok(st == 200 and js == {"count": 3} and len(replays) == 3 and
       req("GET", "/api/v1/executions/search?namespace=t.bq&flowId=ok")[1]["total"] == 6,
       f"POST /api/v1/executions/replay/by-query replays each selected one once ({js}, {len(replays)} replays)")
    # Resume: the paused ones.
    ok(req("POST", "/api/v1/flows", "id: hold\nnamespace: t.bqpause\ntasks:\n  - id: wait\n"
           "    type: io.kestra.plugin.core.flow.Pause\n  - id: after\n    type: io.kestra.plugin.core.debug.Return\n"
           "    format: done\n")[0] == 200, "a flow that pauses")
    held = [req("POST", "/api/v1/executions/t.bqpause/hold", {})[1]["id"] for _ in range(2)]
    ok(all(wait_state(x, ["PAUSED"]) is not None for x in held), "two paused executions")
    st, js, _ = req("POST", "/api/v1/executions/resume/by-query?namespace=t.bqpause")
    ok(st == 200 and js == {"count": 2} and all(wait_state(x, ["SUCCESS"]) is not None for x in held),
       f"POST /api/v1/executions/resume/by-query resumes them and they end SUCCESS ({js})")

    # ---- statistics for the dashboard ----
    today = time.strftime("%Y-%m-%d", time.gmtime())
    st, js, _ = req("POST", "/api/v1/stats/executions/daily", {})
    ok(st == 200 and len(js) == 30 and js[-1]["startDate"] == today and js[0]["groupBy"] == "day" and
       all(set(d["executionCounts"]) >= {"SUCCESS", "FAILED", "RUNNING", "QUEUED"} for d in js),
       "POST /api/v1/stats/executions/daily: the last 30 days, every state counted")
    n_hello = req("GET", "/api/v1/executions/search?namespace=t.web&flowId=hello")[1]["total"]
    st, js, _ = req("POST", "/api/v1/stats/executions/daily", {"namespace": "t.web", "flowId": "hello",
                                                               "startDate": today + "T00:00:00Z"})
    ok(st == 200 and len(js) == 1 and js[0]["executionCounts"]["SUCCESS"] == n_hello and
       sum(js[0]["executionCounts"].values()) == n_hello and js[0]["duration"]["count"] == n_hello and
       js[0]["duration"]["avg"] >= 0, f"a flow's executions of today ({js and js[0]['executionCounts']['SUCCESS']} of {n_hello})")
    st, js, _ = req("POST", "/api/v1/stats/executions/daily", {"namespace": "t.web", "startDate": today + "T00:00:00Z"})
    ok(st == 200 and js[0]["executionCounts"]["FAILED"] >= 1 and js[0]["executionCounts"]["SUCCESS"] >= n_hello,
       "a namespace covers those below it (t.web.sub's failures)")
    st, js, _ = req("POST", "/api/v1/stats/executions/daily", {"startDate": "2001-01-01T00:00:00Z",
                                                               "endDate": "2001-01-03T12:00:00Z"})
    ok(st == 200 and [d["startDate"] for d in js] == ["2001-01-01", "2001-01-02", "2001-01-03"] and
       all(sum(d["executionCounts"].values()) == 0 for d in js), "a range in the past: each day, zero")
    st, js, _ = req("POST", "/api/v1/stats/executions/daily/group-by-flow", {"namespace": "t.web",
                                                                            "startDate": today + "T00:00:00Z"})
    ok(st == 200 and js["t.web"]["hello"][0]["executionCounts"]["SUCCESS"] == n_hello and
       js["t.web.sub"]["fail"][0]["executionCounts"]["FAILED"] >= 1 and "t.trig" not in js,
       "POST .../daily/group-by-flow: {namespace: {flow: [days]}}")
    # The 24-hour view: by hour (groupBy hour), the last 24 hours by default.
    hours = [time.strftime("%Y-%m-%dT%H:00:00", time.gmtime())]
    st, js, _ = req("POST", "/api/v1/main/stats/executions/daily", {"groupBy": "hour", "namespace": "t.web", "flowId": "hello"})
    hours.append(time.strftime("%Y-%m-%dT%H:00:00", time.gmtime()))
    ok(st == 200 and len(js) == 24 and js[0]["groupBy"] == "hour" and js[-1]["startDate"][:19] in hours and
       sum(d["executionCounts"]["SUCCESS"] for d in js) == n_hello,
       f"groupBy hour: 24 hours, this hour last, this flow's executions counted ({js and js[-1]['startDate']})")
    st, js, _ = req("POST", "/api/v1/stats/executions/daily", {"groupBy": "hour", "startDate": "2001-01-01T00:30:00Z",
                                                               "endDate": "2001-01-01T02:10:00Z"})
    ok(st == 200 and [d["startDate"][:19] for d in js] == ["2001-01-01T00:00:00", "2001-01-01T01:00:00", "2001-01-01T02:00:00"],
       "a range by hour: each hour it touches")
    for body, words in [({"startDate": "yesterday"}, "not a date-time"), ([], "JSON object"),
                        ({"groupBy": "week"}, "groupBy must be"),
                        ({"groupBy": "hour", "startDate": "2001-01-01T00:00:00Z", "endDate": "2001-03-01T00:00:00Z"}, "hours at once"),
                        ({"startDate": "2020-01-01T00:00:00Z", "endDate": "2019-01-01T00:00:00Z"}, "before"),
                        ({"startDate": "2000-01-01T00:00:00Z", "endDate": "2020-01-01T00:00:00Z"}, "at most"),
                        ({"namespace": 3}, "strings")]:
        st, js, _ = req("POST", "/api/v1/stats/executions/daily", body)
        ok(st == 400 and words in js["message"], f"stats with {body} is 400 ({js and js['message']})")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/kv?wait=true", {})
    ok(st == 200 and js["state"]["current"] == "FAILED", "a flow cannot write the reserved _tern.auth namespace")
    ok(req("GET", "/api/v1/flows/search", auth="Bearer tern_" + "0" * 64)[0] == 401, "and no token was forged")

    # ---- webhook ----
    def sql_exec(sql):
        h.sql(sql)

    def count(ns, fid):
        st, js, _ = req("GET", f"/api/v1/executions/search?namespace={ns}&flowId={fid}&size=1")
        return js["total"] if st == 200 else -1

    SUMMARY = {"id", "namespace", "flowId", "flowRevision", "state"}
    HOOK = """id: hook
namespace: t.web
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: sekret-KEY-123
tasks:
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.body.name }} {{ trigger.parameters.x[0] }} {{ trigger.headers['X-Tag'][0] }}"
"""
    ok(req("POST", "/api/v1/flows", HOOK)[0] == 200, "a flow with a Webhook trigger")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123?x=7&wait=true", {"name": "zed"},
                    auth=None, headers={"X-Tag": "t1"})
    ok(st == 200 and set(js) == SUMMARY and js["state"]["current"] == "CREATED",
       f"a webhook starts the flow without credentials and answers its id and state at once: wait is off by "
       f"default and ?wait=true does not turn it on ({st}, {sorted(js or {})})")
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    ok(hdoc and hdoc["trigger"]["variables"]["body"] == {"name": "zed"}, "the body is trigger.body")
    tr = {t["taskId"]: t for t in hdoc.get("taskRunList", [])} if hdoc else {}
    ok(tr.get("out", {}).get("outputs", {}).get("value") == "zed 7 t1", "trigger.body, .parameters and .headers")
    st, js, _ = req("PUT", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", "plain", auth=BASIC)
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    ok(hdoc and hdoc["trigger"]["variables"]["body"] == "plain" and
       "Authorization" not in hdoc["trigger"]["variables"]["headers"],
       "a text body; the caller's credentials are not passed on")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", "123",
                    headers={"Content-Type": "text/plain"}, auth=None)
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    ok(hdoc and hdoc["trigger"]["variables"]["body"] == "123", "a text body that reads as a JSON number stays text")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", b"\xff\x00\x01bin",
                    headers={"Content-Type": "application/octet-stream"}, auth=None)
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    ok(hdoc and hdoc["trigger"]["variables"].get("body") == base64.b64encode(b"\xff\x00\x01bin").decode(),
       "a binary body is passed on base64-encoded")
    ok(req("GET", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", auth=None)[0] == 200, "GET webhook")
    before = count("t.web", "hook")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("HEAD", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123")
    st = c.getresponse().status
    c.close()
    ok(st == 405 and count("t.web", "hook") == before, f"HEAD on the webhook creates nothing ({st})")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-12", {}, auth=None)
    st2, js2, _ = req("POST", "/api/v1/executions/webhook/t.web/nohook/sekret-KEY-123", {}, auth=None)
    ok(st == 404 and js == js2, "a wrong key and a missing flow look the same (404)")
    ok(req("POST", "/api/v1/executions/webhook/t.web/hook/" + "sekret-KEY-123" * 20, {}, auth=None)[0] == 404,
       "a longer key that starts with the right one is wrong")
    ok(req("POST", "/api/v1/executions/webhook/t.web/hello/x", {}, auth=None)[0] == 404,
       "a flow without a Webhook trigger cannot be started through one")
    ok(req("DELETE", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", auth=None)[0] == 401,
       "other methods on the webhook path need authentication")
    # labels: a webhook caller may add some, never tern's own
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/hook/sekret-KEY-123?labels=team:web", {}, auth=None)
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    hl = {l["key"]: l["value"] for l in hdoc["labels"]} if hdoc and isinstance(hdoc.get("labels"), list) else {}
    ok(hl.get("team") == "web", f"a webhook's ?labels= is kept ({hl})")
    before = count("t.web", "hook")
    for lab in ["system.correlationId:x", "system.backfill:true", "system.x:1"]:
        st, js, _ = req("POST", f"/api/v1/executions/webhook/t.web/hook/sekret-KEY-123?labels=team:a&labels={lab}", {},
                        auth=None)
        ok(st == 400 and lab.split(":")[0] in js["message"], f"a webhook cannot set the label {lab} (400: {js})")
    ok(count("t.web", "hook") == before, "and no execution was created")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello?labels=system.backfill:true", {})
    ok(st == 422 and "system.backfill" in js["message"], "nor can an API caller set a system label (Kestra's 422)")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello?labels=system.correlationId:corr-1", {})
    ok(st == 200 and {"key": "system.correlationId", "value": "corr-1"} in js["labels"],
       "except system.correlationId, as in Kestra")
    # an invalid or disabled flow: through its webhook, as if it did not exist
    BROKEN = HOOK.replace("id: hook\nnamespace", "id: broken\nnamespace").replace("sekret-KEY-123", "broken-KEY-1")
    ok(req("POST", "/api/v1/flows", BROKEN)[0] == 200, "a flow with a webhook, made invalid in the store")
    sql_exec("UPDATE flows SET source = source || 'bogusTopLevelKey: 1' "
             "WHERE namespace = 't.web' AND id = 'broken'")
    ok(req("POST", "/api/v1/executions/t.web/broken", {})[0] == 422, "the API says it is not valid (422)")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/broken/broken-KEY-1", {}, auth=None)
    ok(st == 404 and js == js2, f"its webhook answers like a wrong key (404, {st})")
    OFF = HOOK.replace("id: hook\nnamespace: t.web\n", "id: off\nnamespace: t.web\ndisabled: true\n").replace(
        "sekret-KEY-123", "off-KEY-1")
    ok(req("POST", "/api/v1/flows", OFF)[0] == 200, "a disabled flow with a webhook")
    st, js, _ = req("POST", "/api/v1/executions/t.web/off", {})
    ok(st == 409 and "disabled" in js["message"], f"the API does not start a disabled flow (Kestra's 409: {st} {js})")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.web/off/off-KEY-1", {}, auth=None)
    ok(st == 404 and js == js2, f"nor does its webhook, which answers like a wrong key ({st})")
    r = subprocess.run([TERN, "execution", "start", "t.web", "off", "--db", db], env=env, capture_output=True, text=True)
    ok(r.returncode == 1 and "'off'" in r.stderr and "disabled" in r.stderr,
       f"nor tern execution start ({r.returncode}: {r.stderr.strip()})")
    ok(count("t.web", "off") == 0, "no execution of the disabled flow exists")
    # wait and returnOutputs are the trigger's own
    QUIET = """id: quiet
namespace: t.web
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: quiet-KEY-1
    wait: true
tasks:
  - id: leak
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('SENTINEL') | upper }}"
"""
    ok(req("POST", "/api/v1/flows", QUIET)[0] == 200, "a webhook that waits, without returnOutputs")
    st, raw, _ = req("POST", "/api/v1/executions/webhook/t.web/quiet/quiet-KEY-1", {}, auth=None, raw=True)
    js = json.loads(raw) if st == 200 else {}
    ok(st == 200 and set(js) == SUMMARY and js["state"]["current"] == "SUCCESS" and SECRET.upper() not in raw,
       f"it answers once the execution ended, with its id and state only: no task output ({st}, {sorted(js)})")
    OUTS = """id: outs
namespace: t.web
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: outs-KEY-1
    wait: true
    returnOutputs: true
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "hi {{ trigger.body.name }}"
  - id: leak
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('SENTINEL') | upper }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.r.value }}"
"""
    ok(req("POST", "/api/v1/flows", OUTS)[0] == 200, "a webhook with wait and returnOutputs")
    st, raw, _ = req("POST", "/api/v1/executions/webhook/t.web/outs/outs-KEY-1", {"name": "bo"}, auth=None, raw=True)
    ok(st == 200 and json.loads(raw) == {"greeting": "hi bo"},
       f"returnOutputs answers the flow's outputs, nothing else ({st}, {raw})")
    # Waiting calls hold no pooled database connection, and a client may only have a few of them.
    SLOW = """id: slow
namespace: t.web
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: slow-KEY-1
    wait: true
tasks:
  - id: hold
    type: io.kestra.plugin.core.flow.Pause
"""
    ok(req("POST", "/api/v1/flows", SLOW)[0] == 200, "a webhook that waits for a Pause")
    import threading
    results = []

    def call(src, path, auth):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(src, 0))
            c.request("POST", path, body="{}", headers=dict({"Content-Type": "application/json"},
                                                             **({"Authorization": auth} if auth else {})))
            resp = c.getresponse()
            results.append((src, resp.status, resp.read().decode()))
            c.close()
        except OSError as e:
            results.append((src, 0, str(e)))

    # (?wait=true, which the webhook ignores, made them wait before the trigger decided.)
    calls = [("127.0.0.1", "/api/v1/executions/webhook/t.web/slow/slow-KEY-1?wait=true", None)] * 4 + \
            [("127.0.0.2", "/api/v1/executions/webhook/t.web/slow/slow-KEY-1?wait=true", None)] * 2 + \
            [("127.0.0.3", "/api/v1/executions/t.web.sub/pause?wait=true", BEARER)] * 2
    threads = [threading.Thread(target=call, args=a, daemon=True) for a in calls]
    for t in threads:
        t.start()
    deadline, paused = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.web&state=PAUSED&size=100")
        paused = [e["id"] for e in js["results"] if e["flowId"] in ("slow", "pause")] if st == 200 else []
        if len(paused) >= 8:
            break
        time.sleep(0.1)
    ok(len(paused) == 8 and all(t.is_alive() for t in threads), f"8 calls wait for paused executions ({len(paused)})")

    def timed(method, path, auth):
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request(method, path, headers={"Authorization": auth} if auth else {})
            st = c.getresponse().status
            c.close()
        except OSError:
            st = 0
        return st, time.monotonic() - t0

    st, dt = timed("GET", "/health", None)
    ok(st == 200 and dt < 2, f"/health answers while they wait ({st} in {dt:.2f} s)")
    st, dt = timed("GET", "/api/v1/flows/search", BEARER)
    ok(st == 200 and dt < 2, f"and so does the authenticated API ({st} in {dt:.2f} s)")
    before = count("t.web", "slow")
    st, dt = timed("POST", "/api/v1/executions/webhook/t.web/slow/slow-KEY-1?wait=true", None)
    ok(st == 429 and count("t.web", "slow") == before,
       f"a fifth waiting call from one client is refused (429) before it creates anything ({st})")
    for eid in paused:
        req("POST", f"/api/v1/executions/{eid}/kill")
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    hooks = [json.loads(b) for src, s_, b in results if s_ == 200 and src != "127.0.0.3"]
    ok(len(results) == 8 and all(s_ == 200 for _, s_, _ in results) and len(hooks) == 6 and
       all(set(h) == SUMMARY and h["state"]["current"] == "KILLED" for h in hooks),
       f"the waits end with their executions, the webhook's with id and state ({[r[1] for r in results]})")

    # ---- follow (server-sent events) ----
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    fid = js["id"]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/v1/executions/{fid}/follow", headers={"Authorization": BEARER})
    resp = c.getresponse()
    ok(resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream", "follow is an event stream")
    states, resumed = [], False
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("data: "):
            states.append(json.loads(line[6:])["state"]["current"])
            if states[-1] == "PAUSED" and not resumed:
                resumed = True
                req("POST", f"/api/v1/executions/{fid}/resume")
    c.close()
    ok(states and states[0] in ("CREATED", "RUNNING", "PAUSED") and "PAUSED" in states and states[-1] == "SUCCESS",
       f"follow sends each change from start to end, then ends ({' '.join(dict.fromkeys(states))})")
    ok(req("GET", "/api/v1/executions/nope/follow")[0] == 404, "follow of a missing execution is 404")
    st, js, _ = req("POST", "/api/v1/executions/t.web/hello", {"name": "sse"})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/v1/logs/{js['id']}/follow", headers={"Authorization": BEARER})
    resp = c.getresponse()
    messages = []
    while True:
        line = resp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            messages.append(json.loads(line[6:])["message"])
    c.close()
    ok(resp.status == 200 and "Hello, sse!" in messages, f"logs follow streams the lines until the end ({len(messages)} lines)")
    ok(req("GET", "/api/v1/logs/nope/follow")[0] == 404, "logs follow of a missing execution is 404")

    # Each stream holds a database connection and a thread: 16 per client address, 64 in all.
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    pid = js["id"]
    streams, statuses = [], []
    for i in range(17):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.4", 0))
        c.request("GET", f"/api/v1/executions/{pid}/follow", headers={"Authorization": BEARER})
        resp = c.getresponse()
        statuses.append(resp.status)
        streams.append((c, resp))
    ok(statuses[:16] == [200] * 16 and statuses[16] == 429, f"a 17th follow stream from one address is 429 ({statuses[-2:]})")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.5", 0))
    c.request("GET", f"/api/v1/logs/{pid}/follow", headers={"Authorization": BEARER})
    other = c.getresponse()
    ok(other.status == 200, "another address still follows")
    c.close()
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("HEAD", f"/api/v1/executions/{pid}/follow", headers={"Authorization": BEARER})
    head = c.getresponse()
    head.read()
    c.close()
    ok(head.status == 200 and time.monotonic() - t0 < 5, "HEAD on a follow stream answers at once, opening none")
    for c, resp in streams:
        c.close()
    req("POST", f"/api/v1/executions/{pid}/kill")

    # ---- metrics ----
    def metrics():
        st, text, _ = req("GET", "/metrics", raw=True)
        vals, helps, types = {}, set(), set()
        for line in text.splitlines():
            if line.startswith("# HELP "):
                helps.add(line.split()[2])
            elif line.startswith("# TYPE "):
                types.add(line.split()[2])
            elif line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                vals[k] = float(v)
        return st, vals, helps, types

    st, m1, helps, types = metrics()
    names = ["tern_executions", "tern_task_runs", "tern_queue_jobs", "tern_queue_jobs_state", "tern_queue_events",
             "tern_queue_events_due", "tern_workers", "tern_execution_start_delay_seconds", "tern_up"]
    ok(st == 200 and all(n in helps and n in types for n in names),
       f"/metrics has HELP and TYPE for {', '.join(n for n in names if n not in helps) or 'every family'}")
    ok('tern_queue_jobs_state{state="queued"}' in m1 and 'tern_queue_jobs_state{state="running"}' in m1,
       "queue depth: jobs queued and running")
    req("POST", "/api/v1/executions/t.web/hello?wait=true", {"name": "metrics"})
    st, m2, _, _ = metrics()
    k = 'tern_executions{state="SUCCESS"}'
    ok(m2.get(k, 0) == m1.get(k, 0) + 1, f"executions by state move ({m1.get(k)} -> {m2.get(k)})")
    k = 'tern_task_runs{state="SUCCESS"}'
    ok(m2.get(k, 0) == m1.get(k, 0) + 2, f"task runs by state move ({m1.get(k)} -> {m2.get(k)})")
    k, p99 = "tern_execution_start_delay_seconds_count", 'tern_execution_start_delay_seconds{quantile="0.99"}'
    ok(m2.get(k, 0) > m1.get(k, 0) and p99 in m2, f"start delay summary moves ({m1.get(k)} -> {m2.get(k)}, p99 {m2.get(p99)} s)")
    ok(m2.get("tern_http_requests_total", 0) > m1.get("tern_http_requests_total", 0), "request counter moves")

    # ---- what tasks measured: Kestra's metrics API ----
    MFLOW = """id: measured
namespace: t.web
tasks:
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo '::{"metrics":[{"name":"rows","type":"counter","value":3,"tags":{"db":"main"}}]}::'
      - echo '::{"metrics":[{"name":"rows","type":"counter","value":4,"tags":{"db":"main"}}]}::'
      - echo '::{"metrics":[{"name":"took","type":"timer","value":0.25,"tags":{}}]}::'
  - id: gauge
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo '::{"metrics":[{"name":"level","type":"gauge","value":0.5}]}::'
"""
    st, _, _ = req("POST", "/api/v1/flows", MFLOW)
    ok(st == 200, "a flow whose tasks report metrics")
    st, js, _ = req("POST", "/api/v1/executions/t.web/measured?wait=true", {})
    mid = js["id"]
    ok(st == 200 and js["state"]["current"] == "SUCCESS", "it runs")
    st, js, _ = req("GET", f"/api/v1/metrics/{mid}")
    got = sorted((m["taskId"], m["type"], m["name"], m["value"], json.dumps(m["tags"])) for m in js["results"])
    ok(st == 200 and js["total"] == 3 and got == [("count", "counter", "rows", 7.0, '{"db": "main"}'),
                                                  ("count", "timer", "took", 250.0, "{}"),
                                                  ("gauge", "gauge", "level", 0.5, "{}")],
       f"GET /api/v1/metrics/ID: one MetricEntry per task run, type, name and tags ({got})")
    e = js["results"][0]
    ok(all(k in e for k in ["namespace", "flowId", "taskId", "executionId", "taskRunId", "type", "name", "value",
                            "timestamp", "tags"]) and e["executionId"] == mid and e["namespace"] == "t.web",
       "a MetricEntry has Kestra's fields")
    st, js, _ = req("GET", f"/api/v1/metrics/{mid}?taskId=gauge")
    ok(st == 200 and [m["name"] for m in js["results"]] == ["level"], "?taskId= keeps that task's")
    st, js, _ = req("GET", f"/api/v1/metrics/{mid}?size=1&page=2")
    ok(st == 200 and js["total"] == 3 and len(js["results"]) == 1, "paged with page and size")
    st, js, _ = req("GET", "/api/v1/metrics/no-such-execution")
    ok(st == 200 and js == {"results": [], "total": 0}, "an unknown execution has none")
    st, js, _ = req("GET", "/api/v1/metrics/names/t.web/measured")
    ok(st == 200 and js == ["level", "rows", "took"], f"GET /api/v1/metrics/names/NS/FLOW ({js})")
    st, js, _ = req("GET", "/api/v1/metrics/names/t.web/measured/count")
    ok(st == 200 and js == ["rows", "took"], f"GET /api/v1/metrics/names/NS/FLOW/TASK ({js})")
    st, js, _ = req("GET", "/api/v1/metrics/tasks/t.web/measured")
    ok(st == 200 and js == ["count", "gauge"], f"GET /api/v1/metrics/tasks/NS/FLOW ({js})")
    req("POST", "/api/v1/executions/t.web/measured?wait=true", {})
    st, js, _ = req("GET", "/api/v1/metrics/aggregates/t.web/measured/rows")
    vals = [a["value"] for a in js.get("aggregations", [])]
    ok(st == 200 and js["groupBy"] == "day" and len(vals) in (30, 31) and sum(vals) == 14.0 and
       [a["name"] for a in js["aggregations"] if a["value"]] == ["rows"],
       f"GET /api/v1/metrics/aggregates/NS/FLOW/METRIC: a sum per day over the last 30 days ({js.get('groupBy')}, {sum(vals)})")
    st, js, _ = req("GET", "/api/v1/metrics/aggregates/t.web/measured/count/rows?aggregation=max"
                           "&startDate=2020-01-01T00:00:00Z&endDate=2020-01-01T01:00:00Z")
    ok(st == 200 and js["groupBy"] == "minute" and len(js["aggregations"]) == 60 and
       all(a["value"] == 0.0 for a in js["aggregations"]),
       "an hour without metrics: sixty minutes of 0, as Kestra fills them")
    st, js, _ = req("GET", "/api/v1/metrics/aggregates/t.web/measured/count/rows?aggregation=max")
    ok(st == 200 and max(a["value"] for a in js["aggregations"]) == 7.0, "aggregation=max of one task's metric")
    st, js, _ = req("GET", "/api/v1/metrics/aggregates/t.web/measured/rows?aggregation=median")
    ok(st == 400 and "median" in js["message"], "an unknown aggregation is 400")
    st, js, _ = req("GET", "/api/v1/metrics/aggregates/t.web/measured/rows?startDate=yesterday")
    ok(st == 400 and "startDate" in js["message"], "a bad date is 400")

    # ---- FILE inputs: multipart upload, download back ----
    FILEFLOW = """id: files
namespace: t.web
inputs:
  - id: doc
    type: FILE
  - id: note
    type: STRING
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "file {{ inputs.doc }} note {{ inputs.note }}"
  - id: uri
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.doc }}"
"""
    ok(req("POST", "/api/v1/flows", FILEFLOW)[0] == 200, "a flow with a FILE input")

    def multipart(fields, files, boundary="tErNbOuNdArY7"):
        out = b""
        for k, v in fields.items():
            out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
        for k, (name, data) in files.items():
            out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def upload(path, fields, files, **kw):
        body, hdr = multipart(fields, files)
        return req("POST", path, body, headers=hdr, **kw)

    payload = bytes(range(256)) * 3000 + b"\r\n--tErNbOuNdArY not a boundary\r\nend"  # ~768 KiB, binary
    body, hdr = multipart({"note": "café"}, {"doc": ("report.bin", payload)})
    st, js, _ = req("POST", "/api/v1/executions/t.web/files?wait=true", body, headers=hdr)
    uri = (js or {}).get("inputs", {}).get("doc", "")
    ok(st == 200 and js["state"]["current"] == "SUCCESS" and js["inputs"]["note"] == "café" and
       uri == f"kestra:///t/web/files/executions/{js['id']}/inputs/doc/report.bin",
       f"multipart creation: the FILE input is a kestra:// URI under the execution ({uri})")
    fexec = js["id"] if js else "x"
    tr = {t["taskId"]: t for t in js.get("taskRunList", [])} if js else {}
    ok(tr.get("uri", {}).get("outputs", {}).get("value") == uri, "the flow sees that URI in inputs.doc")
    st, logs, _ = req("GET", f"/api/v1/logs/{fexec}")
    ok(any(l["message"] == f"file {uri} note café" for l in logs or []), "and renders it in a task")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/v1/executions/{fexec}/file?path={uri}", headers={"Authorization": BEARER})
    resp = c.getresponse()
    got = resp.read()
    c.close()
    ok(resp.status == 200 and got == payload and "report.bin" in (resp.getheader("Content-Disposition") or ""),
       f"GET .../file?path= gives the bytes back ({len(got)} of {len(payload)} bytes, equal: {got == payload})")
    st, js, _ = upload("/api/v1/executions/t.web/files?wait=true", {"note": "b"}, {"doc": ("b.txt", b"other")})
    other = js["id"]
    other_uri = js["inputs"]["doc"]
    st, js, _ = req("GET", f"/api/v1/executions/{fexec}/file?path={other_uri}")
    ok(st == 422, "another execution's file is refused (422)")

    # Downloads take their storage handle from the webserver's pool and give it back when their
    # reply is done: many at once each get one (none waits for another), and afterwards no more are
    # kept than the pool's size (the database pool's, 4 here) and the next downloads open none.
    big = os.urandom(8 << 20)  # more than the socket and pipe buffers: each download holds its handle
    st, js, _ = upload("/api/v1/executions/t.web/files?wait=true", {"note": "big"}, {"doc": ("big.bin", big)})
    big_exec, big_uri = js["id"], js["inputs"]["doc"]
    conns, resps = [], []
    for _ in range(12):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", f"/api/v1/executions/{big_exec}/file?path={big_uri}", headers={"Authorization": BEARER})
        conns.append(c)
    for c in conns:
        resps.append(c.getresponse())  # the headers only: the bodies wait for their readers
    _, during, _, _ = metrics()
    bodies = [r.read() for r in reversed(resps)]  # the last first: no download waits on an earlier one
    for c in conns:
        c.close()
    ok(all(r.status == 200 for r in resps) and all(b == big for b in bodies),
       f"12 downloads of 8 MiB at once all complete ({sum(b == big for b in bodies)} of 12 equal)")
    busy = 'tern_storage_handles{state="busy"}'
    ok(during.get(busy, 0) >= 12, f"each holds a storage handle of its own while it streams ({during.get(busy)} busy)")
    for _ in range(100):  # given back as each reply's end is processed
        _, after, helps, _ = metrics()
        if after.get(busy) == 0:
            break
        time.sleep(0.05)
    idle = 'tern_storage_handles{state="idle"}'
    ok(after.get(busy) == 0 and 1 <= after.get(idle, 0) <= 4 and "tern_storage_handles" in helps,
       f"afterwards all are back and at most 4 kept ({after.get(busy)} busy, {after.get(idle)} idle)")
    opened = after.get("tern_storage_handles_opened_total", 0)
    for _ in range(3):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", f"/api/v1/executions/{big_exec}/file?path={big_uri}", headers={"Authorization": BEARER})
        c.getresponse().read()
        c.close()
    _, later, _, _ = metrics()
    ok(opened >= 12 and later.get("tern_storage_handles_opened_total") == opened,
       f"the next downloads reuse kept handles (opened {opened}, then {later.get('tern_storage_handles_opened_total')})")
    READFLOW = """id: readfile
namespace: t.web
inputs:
  - id: text
    type: FILE
  - id: steal
    type: STRING
    required: false
tasks:
  - id: content
    type: io.kestra.plugin.core.log.Log
    message: "content: {{ read(inputs.text) }}"
  - id: other
    type: io.kestra.plugin.core.log.Log
    runIf: "{{ (inputs.steal ?? '') != '' }}"
    message: "{{ read(inputs.steal) }}"
"""
    ok(req("POST", "/api/v1/flows", READFLOW)[0] == 200, "a flow that reads its FILE input")
    text = "première ligne\nsecond line\n"
    st, js, _ = upload("/api/v1/executions/t.web/readfile?wait=true", {}, {"text": ("t.txt", text.encode())})
    st, logs, _ = req("GET", f"/api/v1/logs/{js['id']}")
    ok(js["state"]["current"] == "SUCCESS" and any(l["message"] == "content: " + text for l in logs or []),
       "the flow reads the uploaded file: {{ read(inputs.text) }}")
    st, js, _ = upload("/api/v1/executions/t.web/readfile?wait=true", {"steal": other_uri}, {"text": ("t.txt", b"x")})
    st, logs, _ = req("GET", f"/api/v1/logs/{js['id']}")
    ok(js["state"]["current"] == "FAILED" and any("doesn't belong to the current execution" in l["message"] for l in logs),
       "read() of another execution's file fails the task")
    base = f"kestra:///t/web/files/executions/{fexec}/inputs/doc/"
    for bad in [base + "../../../" + other + "/inputs/doc/b.txt", base + "..%2f..%2f..%2f" + other + "/inputs/doc/b.txt",
                base + "./report.bin", base.replace("kestra:///", "kestra://") + "report.bin",
                "/etc/passwd", "file:///etc/passwd", f"kestra:///t/web/files/executions/{fexec}/../../../../../../etc/passwd",
                base + "/report.bin", f"kestra:///t/web/files/executions/{fexec}2/inputs/doc/report.bin"]:
        st, js, _ = req("GET", f"/api/v1/executions/{fexec}/file?path=" + bad.replace("%2f", "%252f"))
        ok(st in (400, 404, 422), f"path {bad} is refused ({st})")
    st, js, _ = req("GET", f"/api/v1/executions/{fexec}/file?path={base}missing.bin")
    ok(st == 404, "a missing file of the execution is 404")
    ok(req("GET", f"/api/v1/executions/nope/file?path={uri}")[0] == 404, "a file of a missing execution is 404")
    ok(req("GET", f"/api/v1/executions/{fexec}/file")[0] == 400, "a download without path is 400")
    st, js, _ = upload("/api/v1/executions/t.web/files", {}, {"doc": ("x", b"x")}, auth=None)
    ok(st == 401, "an unauthenticated upload is refused before its body is stored")
    st, js, _ = upload("/api/v1/executions/webhook/t.web/hook/sekret-KEY-123", {"f": "v"}, {}, auth=None)
    hdoc = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    hv = hdoc["trigger"]["variables"] if hdoc else {}
    ok(hv.get("formFields") == {"f": ["v"]} and hv.get("parts") == [] and hv.get("body") is None,
       f"a multipart body to a webhook is Kestra's trigger.formFields and trigger.parts ({hv})")
    st, js, _ = upload(f"/api/v1/executions/{fexec}/kill", {}, {"doc": ("x", b"x")})
    ok(st in (409, 415), f"and not parsed as inputs by an execution action ({st})")
    st, js, _ = upload("/api/v1/executions/t.web/files", {"note": "n"}, {"note2": ("x", b"x"), "doc": ("y", b"y")})
    ok(st == 422 and "note2" in js["message"], "a file for an input that is not FILE is 422")
    st, js, _ = upload("/api/v1/executions/t.web/files", {}, {"doc": ("y", b"y")})
    ok(st == 422 and "note" in js["message"], "a missing required input with an upload is 422")
    st, js, _ = upload("/api/v1/executions/t.web/readfile?wait=true", {}, {"text": ("empty.txt", b"")})
    ok(st == 200 and js["state"]["current"] == "SUCCESS" and js["inputs"]["text"].endswith("/inputs/text/empty.txt"),
       f"an empty file is a file too ({st} {js.get('message') if js else ''})")
    OUTFLOW = """id: outfile
namespace: t.web
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - out.txt
    commands:
      - printf 'made by a task' > out.txt
"""
    ok(req("POST", "/api/v1/flows", OUTFLOW)[0] == 200, "a flow whose task makes an output file")
    st, js, _ = req("POST", "/api/v1/executions/t.web/outfile?wait=true", {})
    tr = {t["taskId"]: t for t in js.get("taskRunList", [])} if js else {}
    out_uri = tr.get("make", {}).get("outputs", {}).get("outputFiles", {}).get("out.txt", "")
    st, text, _ = req("GET", f"/api/v1/executions/{js['id']}/file?path={out_uri}", raw=True)
    ok(st == 200 and text == "made by a task", f"a task's output file downloads too ({out_uri})")
    ok(req("GET", f"/api/v1/executions/{fexec}/file?path={out_uri}")[0] == 422, "but not through another execution")
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(scratch + "/state/uploads") for f in fs]
    ok(not leftovers, f"no upload is left behind in the temporary directory ({leftovers[:3]})")
    stored = [f for d, _, fs in os.walk(scratch + "/state/storage/t/web/files") for f in fs]
    ok(sorted(stored) == ["b.txt", "big.bin", "report.bin"], f"refused uploads leave nothing in storage ({stored})")

    # ---- namespace files (Kestra's /api/v1/namespaces/{namespace}/files...) ----
    NSF = "/api/v1/namespaces/t.web/files"
    st, js, _ = req("GET", NSF + "/directory", auth=None)
    ok(st == 401, "namespace files need authentication (401)")
    st, js, _ = upload(NSF + "?path=/q/x.sql", {}, {"fileContent": ("x.sql", b"select 1")}, auth=None)
    ok(st == 401, "an unauthenticated namespace file upload is refused")
    st, js, _ = upload(NSF + "?path=/q/x.sql", {}, {"fileContent": ("x.sql", b"select 1")})
    ok(st == 204, f"POST {NSF}?path=/q/x.sql (multipart fileContent) stores it ({st})")
    st, js, _ = upload(NSF + "?path=/q/deep/y.sql", {}, {"fileContent": ("y.sql", payload)})
    ok(st == 204, "a binary one deeper")
    ok(os.path.isfile(scratch + "/state/storage/t/web/_files/q/x.sql"), "kept under Kestra's key t/web/_files/q/x.sql")
    st, text, _ = req("GET", NSF + "?path=/q/x.sql", raw=True)
    ok(st == 200 and text == "select 1", "GET ...files?path= gives the content back")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", NSF + "?path=q/deep/y.sql", headers={"Authorization": BEARER})
    resp = c.getresponse()
    got = resp.read()
    c.close()
    ok(resp.status == 200 and got == payload, f"binary content, path without its leading '/' ({len(got)} bytes)")
    st, js, _ = req("GET", NSF + "/stats?path=/q/x.sql")
    ok(st == 200 and js["type"] == "File" and js["size"] == 8 and js["fileName"] == "x.sql" and
       js["lastModifiedTime"] > 1600000000000, f"stats: Kestra's FileAttributes ({js})")
    st, js, _ = req("GET", NSF + "/stats")
    ok(st == 200 and js["type"] == "Directory", "stats of the root: a directory")
    st = req("POST", NSF + "/directory?path=/empty")[0]
    ok(st == 204, "POST .../files/directory creates an empty directory")
    st, js, _ = req("GET", NSF + "/directory")
    ok(st == 200 and [(f["fileName"], f["type"]) for f in js] == [("empty", "Directory"), ("q", "Directory")],
       f"the root's listing: the empty directory and q ({js})")
    st, js, _ = req("GET", NSF + "/directory?path=/q")
    ok(st == 200 and [(f["fileName"], f["type"], f["size"]) for f in js] == [("deep", "Directory", 0), ("x.sql", "File", 8)],
       "a directory's listing: its files and directories, with sizes")
    ok(req("GET", NSF + "/directory?path=/nope")[0] == 404, "a missing directory is 404")
    ok(req("GET", NSF + "?path=/q")[0] == 409, "the content of a directory is 409")
    ok(req("GET", NSF + "?path=/q/none.sql")[0] == 404, "a missing file is 404")
    for bad in ["/../../../etc/passwd", "/q/../../x", "/q/%252e%252e/x.sql", "q//x.sql", "/q/x.sql\\..", "/q/%2E%2E/%2E%2E/x"]:
        st, js, _ = req("GET", NSF + "?path=" + bad)
        ok(st == 422 and "not a valid namespace file path" in js["message"], f"path {bad} is refused (422)")
    st, js, _ = upload(NSF + "?path=/../escape.txt", {}, {"fileContent": ("e", b"e")})
    ok(st == 422, "an upload with traversal in its path is refused (422)")
    ok(not os.path.exists(scratch + "/state/storage/t/web/escape.txt"), "and nothing is written outside the namespace")
    ok(req("GET", "/api/v1/namespaces/Bad..NS/files/directory")[0] == 422, "an invalid namespace is 422")
    # Namespaces a flow may not have, whose files would lie among t.web's own or inside an execution's.
    for badns in ["t.web._files", "t.web.hello.executions.x", "_tern.auth"]:
        st, js, _ = upload(f"/api/v1/namespaces/{badns}/files?path=/in.txt", {}, {"fileContent": ("i", b"i")})
        ok(st == 422 and f"'{badns}' is not a valid namespace" in (js or {}).get("message", ""),
           f"namespace {badns} is refused (422, {st})")
    ok(not os.path.exists(scratch + "/state/storage/t/web/_files/_files"), "and nothing lands among t.web's files")
    st, js, _ = req("POST", NSF + "?path=/q/raw.txt", "not multipart", headers={"Content-Type": "text/plain"})
    ok(st == 415, "an upload that is not multipart is 415")
    st, js, _ = upload(NSF + "?path=/q", {}, {"fileContent": ("q", b"x")})
    ok(st == 409, "a file over a directory is 409")
    st = req("PUT", NSF + "?from=/q/x.sql&to=/r/x.sql")[0]
    st2, text, _ = req("GET", NSF + "?path=/r/x.sql", raw=True)
    ok(st == 204 and st2 == 200 and text == "select 1" and req("GET", NSF + "?path=/q/x.sql")[0] == 404,
       "PUT ...files?from=&to= moves a file")
    ok(req("PUT", NSF + "?from=/q&to=/r/x.sql")[0] == 409, "a move onto an existing path is 409")
    st, js, _ = req("GET", NSF + "/search?q=.sql")
    ok(st == 200 and js == ["/q/deep/y.sql", "/r/x.sql"], f"search by part of the path ({js})")
    ok(req("DELETE", NSF + "?path=/q")[0] == 204 and req("GET", NSF + "/stats?path=/q")[0] == 404,
       "DELETE ...files?path= removes a directory with its files")
    ok(req("DELETE", NSF + "?path=/q")[0] == 404, "deleting it again is 404")
    ok(req("DELETE", NSF + "?path=/r/x.sql")[0] == 204 and req("DELETE", NSF + "?path=/empty")[0] == 204,
       "a file and an empty directory are deleted too")
    st, js, _ = req("GET", NSF + "/directory")
    ok(st == 200 and js == [], f"nothing is left ({js})")

    # ---- key-value store (Kestra's /api/v1/namespaces/{namespace}/kv...) ----
    KV = "/api/v1/namespaces/t.web/kv"
    ok(req("GET", KV, auth=None)[0] == 401, "the key-value store needs authentication (401)")
    typed = [("s", '"some text"', "STRING", "some text"), ("n", "12.5", "NUMBER", 12.5), ("b", "true", "BOOLEAN", True),
             ("j", '{"a": [1]}', "JSON", {"a": [1]}), ("d", '"2026-01-31"', "DATE", "2026-01-31"),
             ("t", '"2026-01-31T12:00:00Z"', "DATETIME", "2026-01-31T12:00:00Z"), ("p", '"PT1H"', "DURATION", "PT1H"),
             ("raw", "plain <b>text</b>", "STRING", "plain <b>text</b>")]
    for key, body, kind, value in typed:
        st = req("PUT", f"{KV}/{key}", body, headers={"Content-Type": "text/plain"})[0]
        st2, js, _ = req("GET", f"{KV}/{key}")
        ok(st == 200 and st2 == 200 and js == {"type": kind, "value": value},
           f"PUT then GET .../kv/{key}: {kind} ({st}, {st2}, {js})")
    st, js, _ = req("GET", KV)
    ok(st == 200 and js == [{"key": k} for k in sorted(t[0] for t in typed)], f"GET .../kv lists the keys, sorted ({js})")
    st = req("PUT", f"{KV}/short", "1", headers={"ttl": "PT1S"})[0]
    ok(st == 200 and req("GET", f"{KV}/short")[0] == 200, "a value with a ttl header is there")
    time.sleep(1.2)
    ok(req("GET", f"{KV}/short")[0] == 404 and {"key": "short"} not in req("GET", KV)[1],
       "and gone once it expired")
    st, js, _ = req("PUT", f"{KV}/x", "1", headers={"ttl": "soon"})
    ok(st == 400 and "'soon'" in js["message"], "a ttl that is no duration is 400, naming it")
    st, js, _ = req("PUT", f"{KV}/.dot", "1")
    ok(st == 422 and "'.dot' is not a valid key" in js["message"], "an invalid key is 422, naming it")
    st, js, _ = req("GET", "/api/v1/namespaces/_tern.auth/kv")
    ok(st == 422 and "'_tern.auth' is not a valid namespace" in js["message"],
       "tern's own namespace (users, sessions) is not reachable (422)")
    ok(req("DELETE", f"{KV}/s")[0] == 204 and req("GET", f"{KV}/s")[0] == 404, "DELETE .../kv/{key} removes it")
    st, js, _ = req("DELETE", f"{KV}/s")
    ok(st == 404 and "no key 's' in namespace 't.web'" in js["message"], "deleting it again is 404, naming it")

    # ---- replay ----
    # Not "replay": POST /api/v1/executions/{ns}/replay would be the replay of execution {ns}, as in Kestra.
    REPLAY = """id: again
namespace: t.web
inputs:
  - id: n
    type: INT
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n }} {{ execution.id }}"
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: second
        type: io.kestra.plugin.core.debug.Return
        format: "{{ execution.id }}"
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{ (execution.originalId ?? '') == '' }}"
"""
    st, js, _ = req("POST", "/api/v1/flows", REPLAY)
    ok(st == 200, "a flow to replay")
    st, orig, _ = req("POST", "/api/v1/executions/t.web/again?wait=true", {"n": 7})
    ok(st == 200 and orig["state"]["current"] == "FAILED", f"its first run fails ({st} {'' if st == 200 else orig})")
    otr = {t["taskId"]: t for t in orig.get("taskRunList", [])}
    st, js, _ = req("POST", f"/api/v1/executions/{orig['id']}/replay?taskRunId={otr['second']['id']}")
    ok(st == 200 and js["id"] != orig["id"] and js["originalId"] == orig["id"] and js["inputs"] == {"n": 7} and
       js["flowRevision"] == orig["flowRevision"], "replay from a task run: a new execution, same inputs and revision")
    rid = js["id"] if st == 200 else "x"
    rep = wait_state(rid, ["SUCCESS", "FAILED"])
    rtr = {t["taskId"]: t for t in (rep or {}).get("taskRunList", [])}
    ok(rep and rep["state"]["current"] == "SUCCESS", "the replay runs again from there (and this time succeeds)")
    ok(rtr.get("first", {}).get("id") == otr["first"]["id"] and
       rtr["first"]["outputs"]["value"] == f"7 {orig['id']}", "the task run before it is kept with its output")
    ok(rtr.get("second", {}).get("id") not in (None, otr["second"]["id"]) and rtr["second"]["outputs"]["value"] == rid,
       "the chosen task run ran again in the new execution")
    st, js, _ = req("GET", f"/api/v1/executions/{orig['id']}")
    ok(js["state"]["current"] == "FAILED", "the original is unchanged")
    st, js, _ = req("POST", f"/api/v1/executions/{orig['id']}/replay")
    whole = wait_state(js["id"], ["SUCCESS", "FAILED"]) if st == 200 else None
    ok(whole and {t["taskId"]: t for t in whole["taskRunList"]}["first"]["id"] != otr["first"]["id"],
       "replay without taskRunId runs the whole flow again")
    ok(req("POST", f"/api/v1/executions/{orig['id']}/replay?taskRunId=nope")[0] == 404, "an unknown task run is 404")
    ok(req("POST", "/api/v1/executions/nope/replay")[0] == 404, "replay of a missing execution is 404")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    wait_state(js["id"], ["PAUSED"])
    ok(req("POST", f"/api/v1/executions/{js['id']}/replay")[0] == 409, "replay of an unfinished execution is 409")
    req("POST", f"/api/v1/executions/{js['id']}/kill")
    r = subprocess.run([TERN, "execution", "replay", orig["id"], "--task-run", otr["boom"]["id"], "--db", db], env=env,
                       capture_output=True, text=True)
    cid = r.stdout.strip()
    crep = wait_state(cid, ["SUCCESS", "FAILED"]) if r.returncode == 0 else None
    ok(crep and crep["originalId"] == orig["id"] and crep["state"]["current"] == "SUCCESS" and
       {t["taskId"]: t for t in crep["taskRunList"]}["second"]["id"] == otr["second"]["id"],
       f"tern execution replay ID --task-run prints the new execution, which keeps the runs before ({r.stderr.strip()})")
    r = subprocess.run([TERN, "execution", "replay", orig["id"], "--task-run", "nope", "--db", db], env=env,
                       capture_output=True, text=True)
    ok(r.returncode == 1 and "no such task run" in r.stderr, "tern execution replay with an unknown task run fails")

    # ---- a user's say in an execution's course: state of a task run, change-status, queue ----
    oid = orig["id"]
    for body, words in [("[]", "taskRunId"), ({"taskRunId": otr["boom"]["id"]}, "taskRunId"),
                        ({"taskRunId": otr["boom"]["id"], "state": "RUNNING"}, "not 'RUNNING'")]:
        st, js, _ = req("POST", f"/api/v1/executions/{oid}/state", body)
        ok(st == 400 and words in js["message"], f"state with {body!r} is 400 ({js and js['message']})")
    st, js, _ = req("POST", "/api/v1/executions/nope/state", {"taskRunId": "x", "state": "SUCCESS"})
    ok(st == 404 and "no execution 'nope'" in js["message"], "state of a missing execution is 404")
    st, js, _ = req("POST", f"/api/v1/executions/{oid}/state", {"taskRunId": "nope", "state": "SUCCESS"})
    ok(st == 404 and "no task run 'nope'" in js["message"], "state of a missing task run is 404")
    ok(req("POST", f"/api/v1/executions/{oid}/state", {"taskRunId": "x", "state": "SUCCESS"}, auth=None)[0] == 401,
       "changing a state needs authentication")
    st, js, _ = req("POST", f"/api/v1/executions/{oid}/state", {"taskRunId": otr["boom"]["id"], "state": "SUCCESS"})
    ok(st == 202 and js["id"] == oid, "POST /api/v1/executions/{id}/state of the failed task run is accepted")
    ch = wait_state(oid, ["SUCCESS"])
    ctr = {t["taskId"]: t for t in (ch or {}).get("taskRunList", [])}
    ok(ch and ctr["boom"]["state"]["current"] == "SUCCESS" and ctr["group"]["state"]["current"] == "SUCCESS" and
       "RESTARTED" in [h["state"] for h in ch["state"]["histories"]] and ctr["first"]["id"] == otr["first"]["id"],
       "the task run is SUCCESS, its parent and the execution end SUCCESS, nothing else ran again")
    st, js, _ = req("POST", f"/api/v1/main/executions/{oid}/change-status?status=WARNING")
    ok(st == 202 and wait_state(oid, ["WARNING"]) is not None,
       "POST /api/v1/main/executions/{id}/change-status?status=WARNING changes an ended execution's state")
    for query, code, words in [("", 400, "'status' is required"), ("?status=RUNNING", 400, "not 'RUNNING'")]:
        st, js, _ = req("POST", f"/api/v1/executions/{oid}/change-status{query}")
        ok(st == code and words in js["message"], f"change-status{query} is {code} ({js and js['message']})")
    ok(req("POST", "/api/v1/executions/nope/change-status?status=FAILED")[0] == 404, "change-status of a missing execution is 404")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    ppid = js["id"]
    paused = wait_state(ppid, ["PAUSED"])
    ok(req("POST", f"/api/v1/executions/{ppid}/change-status?status=SUCCESS")[0] == 409,
       "change-status of an unfinished execution is 409")
    ptr = (paused or {}).get("taskRunList", [{}])[0].get("id", "x")
    st, js, _ = req("POST", f"/api/v1/executions/{ppid}/state", {"taskRunId": ptr, "state": "SUCCESS"})
    ok(st == 409 and "once the execution ended" in js["message"], "state of a task run of an unfinished execution is 409")
    st, js, _ = req("POST", f"/api/v1/executions/{ppid}/pause")
    ok(st == 409 and "only a RUNNING execution" in js["message"], f"pause of a paused execution is 409 ({js})")
    ok(req("POST", "/api/v1/executions/nope/pause")[0] == 404, "pause of a missing execution is 404")
    for verb in ("force-run", "unqueue"):
        st, js, _ = req("POST", f"/api/v1/executions/{ppid}/{verb}")
        ok(st == 409, f"{verb} of a running execution is 409 ({js and js['message']})")
        ok(req("POST", f"/api/v1/executions/nope/{verb}")[0] == 404, f"{verb} of a missing execution is 404")
    req("POST", f"/api/v1/executions/{ppid}/kill")
    HOLD = "id: hold\nnamespace: t.hold\ntasks:\n  - id: nap\n    type: io.kestra.plugin.scripts.shell.Commands\n" \
           "    commands:\n      - sleep 2\n  - id: after\n    type: io.kestra.plugin.core.debug.Return\n    format: done\n"
    ok(req("POST", "/api/v1/flows", HOLD)[0] == 200, "a flow of a slow task then another")
    hid = req("POST", "/api/v1/executions/t.hold/hold", {})[1]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        js = req("GET", f"/api/v1/executions/{hid}")[1]
        if any(t["taskId"] == "nap" for t in js.get("taskRunList", [])):
            break
        time.sleep(0.05)
    st, js, _ = req("POST", f"/api/v1/main/executions/{hid}/pause")
    ok(st == 202 and wait_state(hid, ["PAUSED"]) is not None, f"POST .../pause of a running execution: PAUSED ({st})")
    deadline, held = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        held = req("GET", f"/api/v1/executions/{hid}")[1]
        if {t["taskId"]: t["state"]["current"] for t in held["taskRunList"]}.get("nap") == "SUCCESS":
            break
        time.sleep(0.05)
    time.sleep(0.5)
    held = req("GET", f"/api/v1/executions/{hid}")[1]
    ok(held["state"]["current"] == "PAUSED" and [t["taskId"] for t in held["taskRunList"]] == ["nap"] and
       held["taskRunList"][0]["state"]["current"] == "SUCCESS",
       "the running task ended, nothing new started, the execution stays PAUSED")
    ok(req("POST", f"/api/v1/executions/{hid}/resume")[0] == 202, "resume of an execution paused by a user is accepted")
    done = wait_state(hid, ["SUCCESS", "FAILED"])
    ok(done and done["state"]["current"] == "SUCCESS" and [t["taskId"] for t in done["taskRunList"]] == ["nap", "after"],
       "and it goes on: the next task runs, SUCCESS")
    ONE = "id: one\nnamespace: t.queue\nconcurrency:\n  limit: 1\ntasks:\n  - id: hold\n" \
          "    type: io.kestra.plugin.core.flow.Pause\n"
    ok(req("POST", "/api/v1/flows", ONE)[0] == 200, "a flow of one execution at a time")
    qa, qb, qc = (req("POST", "/api/v1/executions/t.queue/one", {})[1]["id"] for _ in range(3))
    ok(wait_state(qa, ["PAUSED"]) and wait_state(qb, ["QUEUED"]) and wait_state(qc, ["QUEUED"]),
       "the first runs, the others are QUEUED")
    st, js, _ = req("POST", f"/api/v1/executions/{qc}/unqueue?state=SUCCESS")
    ok(st == 400 and "not 'SUCCESS'" in js["message"], "unqueue as SUCCESS is 400")
    ok(req("POST", f"/api/v1/executions/{qb}/force-run")[0] == 202 and wait_state(qb, ["PAUSED"]) is not None,
       "POST .../force-run runs a QUEUED execution beyond the limit")
    ok(req("POST", f"/api/v1/main/executions/{qc}/unqueue?state=CANCELLED")[0] == 202 and
       wait_state(qc, ["CANCELLED"]) is not None, "POST .../unqueue?state=CANCELLED ends a queued one unstarted")
    qd = req("POST", "/api/v1/executions/t.queue/one", {})[1]["id"]
    ok(wait_state(qd, ["QUEUED"]) and req("POST", f"/api/v1/executions/{qd}/unqueue")[0] == 202 and
       wait_state(qd, ["PAUSED"]) is not None, "POST .../unqueue (RUNNING) runs it now")
    for q_id in (qa, qb, qd):
        req("POST", f"/api/v1/executions/{q_id}/kill")

    # ---- an execution's logs: download and delete (Kestra's /api/v1/logs/{id}/download, DELETE) ----
    st, text, resp = req("GET", f"/api/v1/logs/{oid}/download", raw=True)
    text = text.decode() if isinstance(text, bytes) else (text or "")
    ok(st == 200 and resp.getheader("Content-Type").startswith("text/plain") and "INFO Flow started" in text and
       "[boom]" in text, f"GET /api/v1/logs/{{id}}/download: the lines as text ({text[:200]!r})")
    st, text2, _ = req("GET", f"/api/v1/main/logs/{oid}/download?taskId=boom", raw=True)
    text2 = text2.decode() if isinstance(text2, bytes) else (text2 or "")
    ok(st == 200 and text2 and all("[boom]" in line for line in text2.splitlines()),
       "and by task (under the tenant prefix too)")
    for query, words in [("minLevel=LOUD", "unknown log level 'LOUD'"), ("attempt=x", "attempt 'x'")]:
        st, js, _ = req("GET", f"/api/v1/logs/{oid}/download?{query}")
        ok(st == 400 and words in js["message"], f"download with {query} is 400")
        st, js, _ = req("DELETE", f"/api/v1/logs/{oid}?{query}")
        ok(st == 400 and words in js["message"], f"delete with {query} is 400")
    ok(req("GET", "/api/v1/logs/nope/download")[0] == 404 and req("DELETE", "/api/v1/logs/nope")[0] == 404,
       "logs of a missing execution are 404")
    ok(req("DELETE", f"/api/v1/logs/{oid}", auth=None)[0] == 401, "deleting logs needs authentication")
    st, js, _ = req("DELETE", f"/api/v1/logs/{oid}?taskId=boom&attempt=0")
    left = req("GET", f"/api/v1/logs/{oid}")[1]
    ok(st == 200 and js["deleted"] >= 1 and
       not any(l.get("taskId") == "boom" and l["attemptNumber"] == 0 for l in left) and
       any(l.get("taskId") == "boom" and l["attemptNumber"] == 1 for l in left) and
       any(l.get("taskId") is None for l in left), f"DELETE /api/v1/logs/{{id}}?taskId=&attempt= deletes those lines ({js})")
    st, js, _ = req("DELETE", f"/api/v1/logs/{oid}")
    ok(st == 200 and js["deleted"] >= 1 and req("GET", f"/api/v1/logs/{oid}")[1] == [], "and without filters all of them")

    # ---- a flow's topology (Kestra's GET /api/v1/flows/{namespace}/{id}/graph) ----
    SHAPE = """id: shape
namespace: t.web
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: y
    else:
      - id: par
        type: io.kestra.plugin.core.flow.Parallel
        tasks:
          - id: p1
            type: io.kestra.plugin.core.log.Log
            message: a
          - id: p2
            type: io.kestra.plugin.core.log.Log
            message: b
  - id: sw
    type: io.kestra.plugin.core.flow.Switch
    value: "x"
    cases:
      x:
        - id: case_x
          type: io.kestra.plugin.core.log.Log
          message: x
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: z
errors:
  - id: oops
    type: io.kestra.plugin.core.log.Log
    message: e
finally:
  - id: always
    type: io.kestra.plugin.core.log.Log
    message: f
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: shapekey123
"""
    ok(req("POST", "/api/v1/flows", SHAPE)[0] == 200, "a flow with every kind of nesting")
    st, g, _ = req("GET", "/api/v1/flows/t.web/shape/graph")
    tasks = {n["task"]["id"]: n for n in (g or {}).get("nodes", []) if "task" in n}
    ok(st == 200 and set(tasks) == {"check", "yes", "par", "p1", "p2", "sw", "case_x", "last", "oops", "always"} and
       tasks["yes"]["task"]["type"] == "io.kestra.plugin.core.log.Log" and
       all(n["type"] == "io.kestra.core.models.hierarchies.GraphTask" for n in tasks.values()),
       f"GET .../graph: a GraphTask node per task, at every depth ({st}, {sorted(tasks)})")
    trig = [n for n in g.get("nodes", []) if "trigger" in n]
    ok([n["trigger"]["id"] for n in trig] == ["hook"] and trig[0]["type"].endswith(".GraphTrigger"), "and one per trigger")
    cl = {c["cluster"]["uid"]: c for c in g.get("clusters", [])}
    uid = {k: n["uid"] for k, n in tasks.items()}
    branch = lambda task, value: next((c for c in cl.values() if c["cluster"].get("taskNode") == uid[task] and
                                       c["cluster"].get("value") == value), None)
    then, els, case = branch("check", "then"), branch("check", "else"), branch("sw", "x")
    ok(then and els and then["cluster"]["relationType"] == "CHOICE" and uid["yes"] in then["nodes"] and
       uid["p1"] in els["nodes"] and uid["yes"] not in els["nodes"], "If: a CHOICE cluster per branch, holding its tasks")
    par = branch("par", "tasks")
    ok(par and par["cluster"]["relationType"] == "PARALLEL" and els["cluster"]["uid"] in par["parents"],
       "Parallel: a PARALLEL cluster, nested in the else branch's")
    ok(case and case["cluster"]["relationType"] == "CHOICE" and uid["case_x"] in case["nodes"], "Switch: a cluster per case")
    ok(cl.get("cluster_root_errors", {}).get("cluster", {}).get("relationType") == "ERROR" and
       uid["oops"] in cl["cluster_root_errors"]["nodes"] and uid["always"] in cl.get("cluster_root_finally", {}).get("nodes", []),
       "errors and finally: clusters of their own")
    edges = {(e["source"], e["target"]) for e in g.get("edges", [])}
    ok(("root.root", uid["check"]) in edges and (uid["sw"] + ".end", uid["last"]) in edges and (uid["last"], "root.end") in edges
       and ("Triggers.hook", "root.root") in edges, "edges: from the root, through each flowable task's end, to the end")
    ok(req("GET", "/api/v1/flows/t.web/shape/graph?revision=1")[0] == 200 and
       req("GET", "/api/v1/flows/t.web/shape/graph?revision=9")[0] == 404 and
       req("GET", "/api/v1/flows/t.web/shape/graph?revision=x")[0] == 400 and
       req("GET", "/api/v1/flows/t.web/nope/graph")[0] == 404, "a revision, a missing one (404), a bad one (400), a missing flow (404)")
    req("DELETE", "/api/v1/flows/t.web/shape")

    # ---- flow dependencies (Kestra's GET /api/v1/flows/{namespace}/{id}/dependencies) ----
    DEPS = {
        "caller": "tasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: t.deps\n"
                  "    flowId: middle\n  - id: dynamic\n    type: io.kestra.plugin.core.flow.Subflow\n"
                  "    namespace: t.deps\n    flowId: \"{{ 'x' }}\"\n",
        "middle": "tasks:\n  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
                  "      - id: deep\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: t.deps\n"
                  "        flowId: leaf\n",
        "leaf": "tasks:\n  - id: r\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n",
        "after": "tasks:\n  - id: r\n    type: io.kestra.plugin.core.debug.Return\n    format: x\ntriggers:\n"
                 "  - id: on-middle\n    type: io.kestra.plugin.core.trigger.Flow\n    conditions:\n"
                 "      - type: io.kestra.plugin.core.condition.ExecutionFlow\n        namespace: t.deps\n"
                 "        flowId: middle\n",
    }
    for fid, src in DEPS.items():
        ok(req("POST", "/api/v1/flows", f"id: {fid}\nnamespace: t.deps\n" + src)[0] == 200, f"a flow '{fid}' for dependencies")
    st, g, _ = req("GET", "/api/v1/flows/t.deps/middle/dependencies")
    edges = sorted((e["source"], e["target"], e["relation"]) for e in (g or {}).get("edges", []))
    ok(st == 200 and edges == [("t.deps_caller", "t.deps_middle", "FLOW_TASK"), ("t.deps_middle", "t.deps_after", "FLOW_TRIGGER"),
                               ("t.deps_middle", "t.deps_leaf", "FLOW_TASK")] and
       sorted(n["id"] for n in g["nodes"]) == ["after", "caller", "leaf", "middle"] and
       {"uid": "t.deps_leaf", "namespace": "t.deps", "id": "leaf"} in g["nodes"],
       f"dependencies: its caller, the subflow it calls (nested), the flow it triggers ({edges})")
    st, g, _ = req("GET", "/api/v1/main/flows/t.deps/leaf/dependencies")
    ok(st == 200 and [(e["source"], e["target"]) for e in g["edges"]] == [("t.deps_middle", "t.deps_leaf")],
       "without expandAll only the flow's own links (under the tenant prefix)")
    st, g, _ = req("GET", "/api/v1/flows/t.deps/leaf/dependencies?expandAll=true")
    ok(st == 200 and len(g["edges"]) == 3 and len(g["nodes"]) == 4, f"expandAll=true follows the links further ({g})")
    ok(req("GET", "/api/v1/flows/t.deps/nope/dependencies")[0] == 404 and
       req("GET", "/api/v1/flows/t.deps/leaf/dependencies?expandAll=yes")[0] == 400 and
       req("GET", "/api/v1/flows/t.deps/leaf/dependencies", auth=None)[0] == 401,
       "dependencies of a missing flow are 404, a bad expandAll 400, and need authentication")

    # ---- namespaces (Kestra's /api/v1/namespaces/search, /ids, /autocomplete, /{id}, /{namespace}/dependencies) ----
    ok(req("POST", "/api/v1/flows", "id: outer\nnamespace: t.deps.sub\ntasks:\n  - id: call\n"
           "    type: io.kestra.plugin.core.flow.Subflow\n    namespace: t.deps\n    flowId: leaf\n")[0] == 200,
       "a flow in a namespace below, calling a flow above")
    st, g, _ = req("GET", "/api/v1/namespaces/t.deps/dependencies")
    edges = sorted((e["source"], e["target"], e["relation"]) for e in (g or {}).get("edges", []))
    ok(st == 200 and sorted(n["uid"] for n in g["nodes"]) == ["t.deps.sub_outer", "t.deps_after", "t.deps_caller",
                                                               "t.deps_leaf", "t.deps_middle"] and
       edges == [("t.deps.sub_outer", "t.deps_leaf", "FLOW_TASK"), ("t.deps_caller", "t.deps_middle", "FLOW_TASK"),
                 ("t.deps_middle", "t.deps_after", "FLOW_TRIGGER"), ("t.deps_middle", "t.deps_leaf", "FLOW_TASK")],
       f"a namespace's dependencies: its flows and those below, and their links ({edges})")
    st, g, _ = req("GET", "/api/v1/main/namespaces/t.deps.sub/dependencies?destinationOnly=true")
    ok(st == 200 and sorted(n["uid"] for n in g["nodes"]) == ["t.deps.sub_outer", "t.deps_leaf"] and
       [(e["source"], e["target"]) for e in g["edges"]] == [("t.deps.sub_outer", "t.deps_leaf")],
       f"a namespace below: its flow and the flow it calls elsewhere (under the tenant prefix) ({g})")
    ok(req("GET", "/api/v1/namespaces/t.nothing.here/dependencies")[1] == {"nodes": [], "edges": []},
       "a namespace without flows has an empty graph")
    st, js, _ = req("GET", "/api/v1/namespaces/t.deps/dependencies?destinationOnly=maybe")
    ok(st == 400 and "'maybe'" in js["message"], "a bad destinationOnly is 400, naming it")
    ok(req("PUT", "/api/v1/namespaces/t.kvonly.inner/kv/k", '"v"', headers={"Content-Type": "text/plain"})[0] == 200, "a key-value entry in a namespace without flows")
    st, js, _ = req("GET", "/api/v1/namespaces/search?q=DEPS")
    ok(st == 200 and js == {"results": [{"id": "t.deps", "deleted": False}, {"id": "t.deps.sub", "deleted": False}],
                            "total": 2}, f"GET /api/v1/namespaces/search?q=: the names holding q, regardless of case ({js})")
    st, js, _ = req("GET", "/api/v1/namespaces/search?q=t.&size=2&page=2&sort=id:desc")
    st_all, everything, _ = req("GET", "/api/v1/namespaces/search?q=t.&size=1000&sort=id:desc")
    ok(st == 200 and st_all == 200 and js["total"] == everything["total"] > 4 and
       js["results"] == everything["results"][2:4] and everything["results"][0]["id"] > everything["results"][-1]["id"],
       "paged and sorted the other way")
    st, ids, _ = req("GET", "/api/v1/namespaces/ids")
    ok(st == 200 and ids == sorted(ids) and {"t", "t.deps", "t.deps.sub", "t.kvonly", "t.kvonly.inner", "t.web"} <= set(ids) and
       not any(i.startswith("_") for i in ids),
       f"GET /api/v1/namespaces/ids: flows' and key-value entries' namespaces with their parents, none of tern's own ({ids})")
    st, js, _ = req("POST", "/api/v1/namespaces/autocomplete", {"q": "deps.s", "ids": ["t.kvonly", "no.such"]})
    ok(st == 200 and js == ["t.deps.sub", "t.kvonly"], f"POST /api/v1/namespaces/autocomplete: q's matches and the ids that exist ({js})")
    st, js, _ = req("POST", "/api/v1/namespaces/autocomplete", {"q": 3})
    ok(st == 400 and "'q'" in js["message"], "autocomplete with a q that is no string is 400")
    ok(req("GET", "/api/v1/namespaces/t.deps")[1] == {"id": "t.deps", "deleted": False} and
       req("GET", "/api/v1/main/namespaces/any.name")[1] == {"id": "any.name", "deleted": False},
       "GET /api/v1/namespaces/{id}: any valid name is a namespace, as in Kestra")
    st, js, _ = req("GET", "/api/v1/namespaces/_tern.auth")
    ok(st == 422 and "'_tern.auth' is not a valid namespace" in js["message"], "tern's own namespace is not one (422)")
    ok(all(req(m, p, auth=None)[0] == 401 for m, p in [("GET", "/api/v1/namespaces/search"), ("GET", "/api/v1/namespaces/ids"),
                                                         ("POST", "/api/v1/namespaces/autocomplete"),
                                                         ("GET", "/api/v1/namespaces/t.deps"),
                                                         ("GET", "/api/v1/namespaces/t.deps/dependencies")]),
       "the namespace routes need authentication")

    # ---- execution labels (Kestra's POST /api/v1/executions/{id}/labels) ----
    st, lab, _ = req("POST", "/api/v1/executions/t.web/again?wait=true&labels=stage:before-edit", {"n": 1})
    lid = lab["id"] if st == 200 else "x"
    st, js, _ = req("POST", f"/api/v1/executions/{lid}/labels", [{"key": "owner", "value": "<b>ann</b>"}, {"key": "team", "value": "ui"}])
    got = sorted((x["key"], x["value"]) for x in (js or {}).get("labels", []))
    ok(st == 200 and got == [("owner", "<b>ann</b>"), ("system.correlationId", lid), ("team", "ui")],
       f"labels are replaced, the system ones kept ({st} {got})")
    st, js, _ = req("GET", f"/api/v1/executions/search?labels=owner:<b>ann</b>".replace("<", "%3C").replace(">", "%3E"))
    ok(st == 200 and [x["id"] for x in js["results"]] == [lid], "the execution is found by its new label")
    ok(req("GET", "/api/v1/executions/search?labels=stage:before-edit")[1]["total"] == 0, "and no longer by the old one")
    st, js, _ = req("POST", f"/api/v1/executions/{lid}/labels", [{"key": "system.x", "value": "1"}])
    ok(st == 400 and "'system.x'" in js["message"], "a system label cannot be set (400, naming it)")
    st, js, _ = req("POST", f"/api/v1/executions/{lid}/labels", [{"key": "a", "value": 1}])
    ok(st == 400 and "label 1" in js["message"], "a label that is not {key, value} strings is 400")
    st, js, _ = req("POST", f"/api/v1/executions/{lid}/labels", [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}])
    ok(st == 400 and "twice" in js["message"], "a key given twice is 400")
    ok(req("POST", "/api/v1/executions/nope/labels", [])[0] == 404, "labels of a missing execution: 404")
    st, js, _ = req("POST", "/api/v1/executions/t.web.sub/pause", {})
    wait_state(js["id"], ["PAUSED"])
    st2, js2, _ = req("POST", f"/api/v1/executions/{js['id']}/labels", [])
    ok(st2 == 409 and "has not ended" in js2["message"], "labels of a running execution: 409")
    req("POST", f"/api/v1/executions/{js['id']}/kill")

    # ---- a secret's value never leaves through the API or the server's log ----
    SECRETFLOW = """id: secret
namespace: t.web
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "the token is {{ secret('SENTINEL') }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    commands:
      - echo "shell sees $TOKEN" ; echo "stderr $TOKEN" >&2
    env:
      TOKEN: "{{ secret('SENTINEL') }}"
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "failing with {{ secret('SENTINEL') }}"
"""
    st, js, _ = req("POST", "/api/v1/flows", SECRETFLOW)
    ok(st == 200, "a flow that uses a secret")
    st, js, _ = req("POST", "/api/v1/executions/t.web/secret", {})
    sid = js["id"]
    seen = []
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/v1/executions/{sid}/follow", headers={"Authorization": BEARER})
    seen.append(c.getresponse().read().decode(errors="replace"))
    c.close()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/v1/logs/{sid}/follow", headers={"Authorization": BEARER})
    seen.append(c.getresponse().read().decode(errors="replace"))
    c.close()
    sdoc = wait_state(sid, ["FAILED", "SUCCESS"])
    ok(sdoc and sdoc["state"]["current"] == "FAILED", "it ran (and failed on purpose)")
    st, logs, _ = req("GET", f"/api/v1/logs/{sid}")
    msgs = [l["message"] for l in logs or []]
    ok(any("the token is ******" in m for m in msgs) and any("shell sees ******" in m for m in msgs),
       "its log lines show the secret masked")
    for path in [f"/api/v1/executions/{sid}", f"/api/v1/logs/{sid}", f"/api/v1/logs/{sid}?minLevel=ERROR",
                 "/api/v1/executions/search?namespace=t.web&flowId=secret", "/api/v1/executions/search",
                 f"/api/v1/executions/{sid}/file?path=kestra:///t/web/secret/executions/{sid}/x",
                 "/metrics", "/api/v1/flows/t.web/secret"]:
        seen.append(req("GET", path, raw=True)[1])
    seen.append(req("POST", f"/api/v1/executions/{sid}/kill", raw=True)[1])
    seen.append(req("POST", f"/api/v1/executions/{sid}/resume", raw=True)[1])
    st, js, _ = req("POST", f"/api/v1/executions/{sid}/replay")
    seen.append(json.dumps(js))
    ok(st == 200, "its replay is accepted")
    if st == 200:
        wait_state(js["id"], ["FAILED"])
        seen.append(req("GET", f"/api/v1/executions/{js['id']}", raw=True)[1])
        seen.append(req("GET", f"/api/v1/logs/{js['id']}", raw=True)[1])
    n_hist = len(sdoc["state"]["histories"]) if sdoc else 0
    st, js, _ = req("POST", f"/api/v1/executions/{sid}/restart")
    seen.append(json.dumps(js))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the restart has run and failed again
        hist = [h["state"] for h in req("GET", f"/api/v1/executions/{sid}")[1]["state"]["histories"][n_hist:]]
        if "RESTARTED" in hist and hist[-1] == "FAILED":
            break
        time.sleep(0.05)
    seen.append(req("GET", f"/api/v1/executions/{sid}", raw=True)[1])
    seen.append(req("GET", f"/api/v1/logs/{sid}", raw=True)[1])
    leaks = [i for i, t in enumerate(seen) if SECRET in (t or "")]
    ok(len(seen) >= 17 and not leaks, f"no API response contains the secret's value ({len(seen)} responses; leaks in {leaks})")
    log.flush()
    ok(SECRET not in open(scratch + "/server.log").read(), "no server log line contains it")

    # ---- triggers and backfills ----
    TRIGFLOW = """id: sched
namespace: t.trig
inputs:
  - id: who
    type: STRING
    defaults: nobody
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: trig-KEY-456
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.who }}"
"""
    ok(req("POST", "/api/v1/flows", TRIGFLOW)[0] == 200, "a flow with a Schedule and a Webhook trigger")
    ok(req("POST", "/api/v1/flows", TRIGFLOW.replace("namespace: t.trig", "namespace: t.trig.sub"))[0] == 200,
       "and a flow of the same id in a namespace below")
    deadline, js = time.monotonic() + 60, None
    while time.monotonic() < deadline:  # the scheduler registers the triggers of a stored flow
        st, js, _ = req("GET", "/api/v1/triggers/search?namespace=t.trig")
        if st == 200 and js["total"] == 4:
            break
        time.sleep(0.05)
    ok(js and js["total"] == 4 and len(js["results"]) == 4, "GET /api/v1/triggers/search lists the namespace and below")
    by = {(r["triggerContext"]["namespace"], r["triggerContext"]["triggerId"]): r for r in (js or {}).get("results", [])}
    daily = by.get(("t.trig", "daily"), {})
    ctx = daily.get("triggerContext", {})
    ok(daily.get("abstractTrigger", {}).get("type") == "io.kestra.plugin.core.trigger.Schedule" and
       ctx.get("flowId") == "sched" and ctx.get("kind") == "schedule" and ctx.get("state") == "enabled" and
       ctx.get("disabled") is False and "T03:00:00" in str(ctx.get("nextExecutionDate")),
       f"a Schedule with its type, state and next date ({ctx.get('nextExecutionDate')})")
    hook = by.get(("t.trig", "hook"), {})
    ok(hook.get("triggerContext", {}).get("kind") == "webhook" and hook["triggerContext"]["nextExecutionDate"] is None
       and "trig-KEY-456" not in json.dumps(js), "a Webhook without a next date, and its key is not shown")
    st, js, _ = req("GET", "/api/v1/triggers/search?q=hook&namespace=t.trig")
    ok(st == 200 and js["total"] == 2 and all(r["triggerContext"]["triggerId"] == "hook" for r in js["results"]),
       "search by text")
    st, js, _ = req("GET", "/api/v1/triggers/search?namespace=t.trig&size=3&page=2")
    ok(st == 200 and js["total"] == 4 and len(js["results"]) == 1, "search pages")
    ok(req("GET", "/api/v1/triggers/search?page=0")[0] == 400, "a bad page is 400")
    st, js, _ = req("GET", "/api/v1/triggers/t.trig/sched")
    ok(st == 200 and js["total"] == 2 and sorted(t["triggerId"] for t in js["results"]) == ["daily", "hook"] and
       all(t["namespace"] == "t.trig" for t in js["results"]),
       "GET /api/v1/triggers/{namespace}/{flowId}: that flow's triggers only")
    st, js, _ = req("GET", "/api/v1/triggers/t.trig/none")
    ok(st == 200 and js == {"results": [], "total": 0}, "no triggers for a missing flow")
    for method, path in [("GET", "/api/v1/triggers/search"), ("GET", "/api/v1/triggers/t.trig/sched"),
                         ("PUT", "/api/v1/triggers"), ("POST", "/api/v1/triggers/set-disabled/by-triggers"),
                         ("POST", "/api/v1/triggers/t.trig/sched/daily/unlock"), ("PUT", "/api/v1/triggers/backfill/pause"),
                         ("PUT", "/api/v1/triggers/backfill/unpause"), ("POST", "/api/v1/triggers/backfill/delete")]:
        ok(req(method, path, {"namespace": "t.trig", "flowId": "sched", "triggerId": "daily", "disabled": True},
               auth=None)[0] == 401, f"{method} {path} needs authentication")
    ok(req("GET", "/api/v1/triggers/t.trig/sched/daily/unlock")[0] == 405 and req("GET", "/api/v1/triggers")[0] == 405,
       "the changes are not served on GET (405)")

    # enable and disable
    HOOKURL = "/api/v1/executions/webhook/t.trig/sched/trig-KEY-456"
    REF = {"namespace": "t.trig", "flowId": "sched", "triggerId": "hook"}
    st, js, _ = req("PUT", "/api/v1/triggers", dict(REF, disabled=True))
    ok(st == 200 and js["disabled"] is True and js["state"] == "disabled", "PUT /api/v1/triggers disables a trigger")
    ok(req("POST", HOOKURL, {}, auth=None)[0] == 404, "the disabled webhook no longer starts the flow")
    st, js, _ = req("GET", "/api/v1/triggers/t.trig/sched?q=hook")
    ok(st == 200 and js["results"][0]["state"] == "disabled", "the listing shows it disabled")
    r = subprocess.run([TERN, "trigger", "list", "--namespace", "t.trig", "-o", "json", "--db", db], env=env,
                       capture_output=True, text=True)
    cli = {(t["namespace"], t["triggerId"]): t for t in json.loads(r.stdout or "[]")}
    ok(r.returncode == 0 and cli.get(("t.trig", "hook"), {}).get("disabled") is True, "and so does tern trigger list")
    st, js, _ = req("POST", "/api/v1/triggers/set-disabled/by-triggers", {"triggers": [REF], "disabled": False})
    ok(st == 200 and js == {"count": 1}, "set-disabled/by-triggers enables it again ({count})")
    ok(req("POST", HOOKURL, {}, auth=None)[0] == 200, "the webhook starts the flow again")
    st, js, _ = req("POST", "/api/v1/triggers/set-disabled/by-triggers",
                    {"triggers": [REF, dict(REF, triggerId="nope")], "disabled": True})
    ok(st == 404 and "'nope'" in js["message"] and "nothing was changed" in js["message"],
       "an unknown trigger in the list is 404 naming it")
    st, js, _ = req("GET", "/api/v1/triggers/t.trig/sched?q=hook")
    ok(js["results"][0]["disabled"] is False, "and none of the list was changed")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(REF, triggerId="nope", disabled=True))
    ok(st == 404 and "'nope'" in js["message"], "PUT of an unknown trigger is 404")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(REF, flowId="nope", disabled=True))
    ok(st == 404, "PUT of a trigger of a missing flow is 404")
    for body, what in [({"namespace": "t.trig", "flowId": "sched", "disabled": True}, "without triggerId"),
                       (dict(REF, disabled="yes"), "with disabled not a boolean"),
                       (REF, "with nothing to change"), ('{"namespace": ', "with malformed JSON"),
                       ('["x"]', "with a list")]:
        st, js, _ = req("PUT", "/api/v1/triggers", body, headers={"Content-Type": "application/json"})
        ok(st == 400 and js["message"], f"PUT {what} is 400 ({js and js['message']})")
    ok(req("POST", "/api/v1/triggers/set-disabled/by-triggers", {"triggers": [], "disabled": True})[0] == 400,
       "set-disabled without triggers is 400")

    # unlock: a lock left behind by a scheduler that died
    sql = ("UPDATE triggers SET locked_by = 'dead-scheduler', evaluated_at = 1700000000000000 "
           "WHERE namespace = 't.trig' AND flow_id = 'sched' AND trigger_id = 'daily'")
    h.sql(sql)
    st, js, _ = req("GET", "/api/v1/triggers/t.trig/sched?q=daily")
    ok(st == 200 and js["results"][0].get("evaluateRunningDate", "").startswith("2023-11-14T22:13:20"),
       f"a stuck trigger shows when its evaluation started ({js['results'][0].get('evaluateRunningDate')})")
    st, js, _ = req("POST", "/api/v1/triggers/t.trig/sched/daily/unlock")
    ok(st == 200 and js["triggerId"] == "daily" and "evaluateRunningDate" not in js,
       "POST .../unlock clears the lock and answers the trigger")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the next date is computed again from now
        st, js, _ = req("GET", "/api/v1/triggers/t.trig/sched?q=daily")
        if js["results"] and js["results"][0]["nextExecutionDate"]:
            break
        time.sleep(0.05)
    ok("T03:00:00" in str(js["results"][0]["nextExecutionDate"]) and "evaluateRunningDate" not in js["results"][0],
       "and it has a next date again")
    st, js, _ = req("POST", "/api/v1/triggers/t.trig/sched/nope/unlock")
    ok(st == 404 and "'nope'" in js["message"], "unlock of an unknown trigger is 404")

    # backfills
    DAILY = {"namespace": "t.trig", "flowId": "sched", "triggerId": "daily"}
    st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, backfill={"start": "2020-01-01T00:00:00Z",
                                                                      "end": "2024-01-01T00:00:00Z",
                                                                      "inputs": {"who": "big"}}))
    bf = (js or {}).get("backfill") or {}
    ok(st == 200 and js["state"] == "backfill" and bf.get("start", "").startswith("2020-01-01T00:00:00") and
       bf.get("end", "").startswith("2024-01-01T00:00:00") and bf.get("paused") is False and
       bf.get("inputs") == {"who": "big"} and bf.get("currentDate", "").startswith("2020-01-01T03:00:00"),
       "PUT /api/v1/triggers with a backfill creates it")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, backfill={"start": "2021-01-01T00:00:00Z"}))
    ok(st == 409 and "already has a backfill" in js["message"], "a second backfill is 409")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, disabled=False, backfill=bf))
    ok(st == 200 and js["backfill"]["start"] == bf.get("start") and bf.get("createdDate") and
       js["backfill"]["createdDate"] == bf["createdDate"],
       "the same backfill sent back (as the answer gave it) is no second one")
    st, js, _ = req("PUT", "/api/v1/triggers/backfill/pause", DAILY)
    ok(st == 200 and js["backfill"]["paused"] is True, "PUT /api/v1/triggers/backfill/pause pauses it")
    st, js, _ = req("GET", "/api/v1/triggers/search?namespace=t.trig&q=daily")
    ok(st == 200 and js["results"][0]["triggerContext"]["backfill"]["paused"] is True, "the listing shows it paused")
    st, js, _ = req("PUT", "/api/v1/triggers/backfill/unpause", DAILY)
    ok(st == 200 and js["backfill"]["paused"] is False, "PUT /api/v1/triggers/backfill/unpause resumes it")
    st, js, _ = req("POST", "/api/v1/triggers/backfill/delete", DAILY)
    ok(st == 200 and "backfill" not in js and js["state"] == "enabled", "POST /api/v1/triggers/backfill/delete deletes it")
    for method, path in [("PUT", "/api/v1/triggers/backfill/pause"), ("PUT", "/api/v1/triggers/backfill/unpause"),
                         ("POST", "/api/v1/triggers/backfill/delete")]:
        st, js, _ = req(method, path, DAILY)
        ok(st == 404 and "has no backfill" in js["message"], f"{method} {path} without a backfill is 404")
        st, js, _ = req(method, path, dict(DAILY, triggerId="nope"))
        ok(st == 404 and "no trigger 'nope'" in js["message"], f"{method} {path} of an unknown trigger is 404")
        ok(req(method, path, {"namespace": "t.trig"})[0] == 400, f"{method} {path} without the trigger is 400")
    for bfill, status, words, what in [
            ({"start": "yesterday"}, 400, "date-time", "a start that is not a date"),
            ({"start": "2024-01-01T00:00:00Z", "end": "2024-13-01T00:00:00Z"}, 400, "date-time", "a bad end"),
            ({"start": "2024-01-05T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, 400, "before", "start after end"),
            ({"end": "2024-01-01T00:00:00Z"}, 400, "start is required", "no start"),
            ({"start": "2024-01-01T04:00:00Z", "end": "2024-01-01T05:00:00Z"}, 400, "no slot", "a range without a slot"),
            ({"start": "2024-01-01T00:00:00Z", "labels": {"a": 1}}, 400, "labels", "labels that are not strings"),
            ({"start": "2024-01-01T00:00:00Z", "inputs": [1]}, 400, "inputs", "inputs that are not an object")]:
        st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, backfill=bfill))
        ok(st == status and words in js["message"], f"a backfill with {what} is {status} ({js and js['message']})")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(REF, backfill={"start": "2024-01-01T00:00:00Z"}))
    ok(st == 422 and "not a Schedule" in js["message"], "a backfill of a Webhook trigger is 422")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, triggerId="nope", backfill={"start": "2024-01-01T00:00:00Z"}))
    ok(st == 404, "a backfill of an unknown trigger is 404")
    st, js, _ = req("PUT", "/api/v1/triggers", dict(DAILY, backfill={"start": "2024-01-01T00:00:00Z",
                                                                      "end": "2024-01-04T00:00:00Z",
                                                                      "inputs": {"who": "small"},
                                                                      "labels": [{"key": "src", "value": "api"}]}))
    ok(st == 200 and js["backfill"]["labels"] == {"src": "api"}, "a backfill with inputs and labels (Kestra's list form)")
    deadline, runs, done = time.monotonic() + 60, [], None
    while time.monotonic() < deadline:  # three slots in [start, end), then the backfill ends by itself
        st, js, _ = req("GET", "/api/v1/executions/search?namespace=t.trig&flowId=sched&size=1000")
        runs = [e for e in js["results"] if e.get("inputs", {}).get("who") == "small"]
        done = req("GET", "/api/v1/triggers/t.trig/sched?q=daily")[1]["results"][0]
        if len(runs) >= 3 and "backfill" not in done:
            break
        time.sleep(0.05)
    labels = [{l["key"]: l["value"] for l in e["labels"]} if isinstance(e.get("labels"), list) else e.get("labels", {})
              for e in runs]
    ok(len(runs) == 3 and all(l.get("src") == "api" and l.get("system.backfill") == "true" for l in labels) and
       done and "backfill" not in done and done["state"] == "enabled",
       f"the backfill runs its 3 slots with its inputs and labels, then ends ({len(runs)} executions)")
    # stopped by stopAfter, restarted through the API
    STOPFLOW = """id: stopper
namespace: t.stop
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: stop-KEY-789
    wait: true
    stopAfter: [FAILED]
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
"""
    ok(req("POST", "/api/v1/flows", STOPFLOW)[0] == 200, "a flow whose Webhook stops after a failure")
    st, js, _ = req("POST", "/api/v1/executions/webhook/t.stop/stopper/stop-KEY-789", {}, auth=None)
    failed_id = js["id"] if st == 200 else None
    ok(st == 200 and js["state"]["current"] == "FAILED", "its execution fails")
    deadline, stopped = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        st, js, _ = req("GET", "/api/v1/triggers/t.stop/stopper")
        stopped = js["results"][0] if st == 200 and js["results"] else {}
        if stopped.get("state") == "stopped":
            break
        time.sleep(0.05)
    ok(stopped.get("disabled") is True and stopped.get("stoppedAfter") == {"executionId": failed_id, "state": "FAILED"},
       f"the listing shows it stopped, by which execution ({stopped.get('state')}, {stopped.get('stoppedAfter')})")
    ok(req("POST", "/api/v1/executions/webhook/t.stop/stopper/stop-KEY-789", {}, auth=None)[0] == 404,
       "the stopped webhook starts nothing")
    st, js, _ = req("PUT", "/api/v1/triggers", {"namespace": "t.stop", "flowId": "stopper", "triggerId": "hook",
                                               "disabled": False})
    ok(st == 200 and js["state"] == "enabled" and "stoppedAfter" not in js, "PUT with disabled false restarts it")
    ok(req("POST", "/api/v1/executions/webhook/t.stop/stopper/stop-KEY-789", {}, auth=None)[0] == 200,
       "and the webhook starts the flow again")
    st, js, _ = req("GET", "/api/v1/triggers/search?flowId=stopper")
    ok(st == 200 and js["total"] == 1 and js["results"][0]["triggerContext"]["namespace"] == "t.stop",
       "search by flowId alone, across namespaces")
    paths = req("GET", "/api/v1/openapi.json")[1]["paths"]
    ok(all(p in paths for p in ["/api/v1/triggers", "/api/v1/triggers/search", "/api/v1/triggers/{namespace}/{flowId}",
                                "/api/v1/triggers/set-disabled/by-triggers", "/api/v1/triggers/backfill/pause",
                                "/api/v1/triggers/backfill/unpause", "/api/v1/triggers/backfill/delete",
                                "/api/v1/triggers/{namespace}/{flowId}/{triggerId}/unlock"]),
       "the OpenAPI document has the trigger routes")

    # ---- plugins: the registry's types, for an editor's completion (docs/PLUGINS.md) ----
    st, js, _ = req("GET", "/api/v1/plugins")
    by_name = {p["name"]: p for p in js} if st == 200 and isinstance(js, list) else {}
    core = by_name.get("core", {})
    ok({"cls": "io.kestra.plugin.core.log.Log", "deprecated": False} in core.get("tasks", []) and
       any(t["cls"] == "io.kestra.plugin.core.trigger.Schedule" for t in core.get("triggers", [])) and
       not any(t["cls"] == "io.kestra.plugin.core.flow.Template" for t in core.get("tasks", [])),
       "GET /api/v1/plugins: the built-in types this server runs, as Kestra's plugin list")
    greet = by_name.get("greet", {})
    ok(greet.get("version") == "1.0" and greet.get("tasks") == [{"cls": "io.tern.examples.greet.Greet", "deprecated": False}],
       f"GET /api/v1/plugins: a plugin on the server's [plugins] path, with its types ({greet})")
    st, js, _ = req("GET", "/api/v1/plugins/io.kestra.plugin.core.log.Log")
    sch = js.get("schema", {}).get("properties", {}) if st == 200 else {}
    ok(sch.get("properties", {}).get("level", {}).get("enum") == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] and
       sch.get("properties", {}).get("level", {}).get("default") == "INFO" and "message" in sch.get("required", []),
       "GET /api/v1/plugins/{cls}: a built-in type's properties as JSON schema")
    st, js, _ = req("GET", "/api/v1/plugins/io.tern.examples.Hello")
    sch = js.get("schema", {}) if st == 200 else {}
    props = sch.get("properties", {}).get("properties", {})
    ok(props.get("times") == {"type": "integer", "default": 1, "$dynamic": True, "title": "how many times each"} and
       props.get("names", {}).get("format") == "uri" and sch.get("properties", {}).get("required") == ["name"] and
       sch.get("properties", {}).get("$id") == "io.tern.examples.greet.Greet" and
       set(sch.get("outputs", {}).get("properties", {})) == {"greeting", "count"} and
       "```yaml" in js.get("markdown", ""),
       "GET /api/v1/plugins/{cls} by an alias: a plugin type's properties, outputs and example")
    st, js, _ = req("GET", "/api/v1/plugins/io.kestra.plugin.core.log.Logg")
    ok(st == 404 and "did you mean 'io.kestra.plugin.core.log.Log'" in js.get("message", ""),
       "GET /api/v1/plugins/{cls} of an unknown type: 404 with a hint")

    # ---- the OpenAPI document ----
    st, api, _ = req("GET", "/api/v1/openapi.json")
    ok(st == 200 and api["openapi"].startswith("3.") and len(api["paths"]) >= 17, "GET /api/v1/openapi.json")
    missing = []
    for path, ops in api["paths"].items():
        for method in ops:
            concrete = path.replace("{", "x").replace("}", "")
            if concrete.endswith("/by-query"):  # a filter that selects nothing: act on no execution
                concrete += "?namespace=t.openapi.none"
            st, js, _ = req(method.upper(), concrete)
            if st == 405 or (isinstance(js, dict) and js.get("message") == "no such endpoint"):
                missing.append(f"{method.upper()} {path}")
    ok(not missing, f"every documented operation is served ({', '.join(missing) or 'all'})")
    # And the reverse: every route of the table (read from the source) is documented.
    import re
    src = open(os.path.join(here, "..", "..", "daemons", "webserver", "web-server.c")).read()
    table = src[src.index("static const Route routes[] = {"):]
    table = table[:table.index("};")]
    routes = {(m.group(1), m.group(2)) for m in re.finditer(r'\{ "([A-Z]+)", "([^"]+)"', table)}
    documented = {(m.upper(), re.sub(r"\{[^}]+\}", "{}", p)) for p, ops in api["paths"].items() for m in ops}
    undocumented = sorted(f"{m} {p}" for m, p in routes - documented)
    ok(len(routes) > 40 and not undocumented, f"every route of the table is documented ({', '.join(undocumented) or 'all'})")
    missing = []
    for path, ops in api["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in ops:
            concrete = "/api/v1/main/" + path[len("/api/v1/"):].replace("{", "x").replace("}", "")
            if concrete.endswith("/by-query"):
                concrete += "?namespace=t.openapi.none"
            st, js, _ = req(method.upper(), concrete)
            if st == 405 or (isinstance(js, dict) and js.get("message") == "no such endpoint"):
                missing.append(f"{method.upper()} {path}")
    ok(not missing, f"and under Kestra 1.x's tenant prefix /api/v1/main/ ({', '.join(missing) or 'all'})")
    ok("/api/v1/main/" in api["info"]["description"], "the OpenAPI document says so")

    # ---- limits and the rest ----
    st, js, _ = req("POST", "/api/v1/flows", "x" * (2 * 1024 * 1024))
    ok(st == 413 and "too large" in js["message"], "an oversized body is 413")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("GET", "/api/v1/flows/search")
    c.putheader("Authorization", BEARER)
    c.putheader("X-Big", "a" * 64 * 1024)
    c.endheaders()
    try:
        big = c.getresponse().status
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        big = 0
    ok(big in (0, 413, 431), f"an oversized header is refused ({big})")
    st, js, _ = req("POST", "/api/v1/flows/validate", HELLO, headers={"Origin": "http://evil.example"})
    ok(st == 403, "a state-changing request from another origin is 403")
    st, js, _ = req("POST", "/api/v1/flows/validate", HELLO, headers={"Origin": f"http://127.0.0.1:{port}"})
    ok(st == 200, "a request from the server's own origin is served")
    st, text, resp = req("GET", "/metrics", raw=True)
    ok(st == 200 and "tern_up 1" in text and "tern_http_requests_total" in text and "tern_queue_jobs" in text, "/metrics in Prometheus text")
    st, text, _ = req("GET", "/api/v1/flows/search", auth=None, raw=True)
    ok(PASSWORD not in text and TOKEN not in text, "no secret in an error response")
    log.flush()
    ok(PASSWORD not in open(scratch + "/server.log").read() and TOKEN not in open(scratch + "/server.log").read(),
       "no secret in the server's log")
    procs[0].send_signal(signal.SIGTERM)
    ok(procs[0].wait(60) == 0, "the server stops on SIGTERM")

    # ---- tern-webserver, socket-activated as by its .socket unit ----
    activate = shutil.which("systemd-socket-activate")
    if activate and os.environ.get("TERN_WEBSERVER"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with open(scratch + "/tern.conf", "w") as f:
            f.write(f"[database]\nurl = {db}\n[server]\nstate-dir = {scratch}/state\nruntime-dir = {scratch}\n")
        procs.append(subprocess.Popen([activate, "-l", f"127.0.0.1:{port}", "--fdname=http", os.environ["TERN_WEBSERVER"],
                                       "--config", scratch + "/tern.conf"], env=env, stdout=log, stderr=subprocess.STDOUT))
        # The first connection starts the daemon; until systemd-socket-activate listens, connections are refused.
        deadline, st, js = time.monotonic() + 60, 0, None
        while time.monotonic() < deadline and procs[-1].poll() is None:
            try:
                st, js, _ = req("GET", "/health", auth=None)
                break
            except ConnectionRefusedError:
                time.sleep(0.02)
        ok(st == 200 and js["status"] == "UP", "tern-webserver serves the socket it was passed")
        st, js, _ = req("GET", "/api/v1/flows/t.web/hello")
        ok(st == 200 and js["id"] == "hello", "with the same users, tokens and flows")
        ok(os.path.exists(scratch + "/webserver.sock"), "and its own status socket")
        procs[-1].send_signal(signal.SIGTERM)
        ok(procs[-1].wait(60) == 0, "tern-webserver stops on SIGTERM")

    # ---- tern-webserver listening itself: [webserver] listen in tern.conf, several addresses ----
    if os.environ.get("TERN_WEBSERVER"):
        def free_port(family=socket.AF_INET, host="127.0.0.1"):
            s = socket.socket(family)
            s.bind((host, 0))
            p = s.getsockname()[1]
            s.close()
            return p

        def health(host, p, timeout=60):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and procs[-1].poll() is None:
                try:
                    c = http.client.HTTPConnection(host, p, timeout=10)
                    c.request("GET", "/health")
                    st = c.getresponse().status
                    c.close()
                    return st
                except OSError:
                    time.sleep(0.02)
            return 0

        try:
            p6 = free_port(socket.AF_INET6, "::1")
            host6, addr6 = "::1", f"[::1]:{p6}"
        except OSError:  # no IPv6 here: a second IPv4 address instead
            p6 = free_port()
            host6, addr6 = "127.0.0.1", f"127.0.0.1:{p6}"
        p4 = free_port()
        conf = f"[database]\nurl = {db}\n[server]\nstate-dir = {scratch}/state\nruntime-dir = {scratch}/rt\n" \
               f"[webserver]\nlisten = 127.0.0.1:{p4}, {addr6}\n"
        os.makedirs(scratch + "/rt", exist_ok=True)
        with open(scratch + "/listen.conf", "w") as f:
            f.write(conf)
        r = subprocess.run([TERN, "config", "check", "--file", scratch + "/listen.conf"], env=env, capture_output=True, text=True)
        ok(r.returncode == 0 and f"listen = 127.0.0.1:{p4}, {addr6}" in r.stdout, "tern config check takes [webserver] listen")
        with open(scratch + "/bad.conf", "w") as f:
            f.write(conf.replace(f"127.0.0.1:{p4}, ", "localhost, "))
        r = subprocess.run([TERN, "config", "check", "--file", scratch + "/bad.conf"], env=env, capture_output=True, text=True)
        ok(r.returncode != 0 and "webserver.listen" in r.stderr + r.stdout, "and refuses an address without a port")
        wenv = {k: v for k, v in env.items() if k != "TERN_WEBSERVER_LISTEN"}
        procs.append(subprocess.Popen([os.environ["TERN_WEBSERVER"], "--config", scratch + "/listen.conf"], env=wenv,
                                      stdout=log, stderr=subprocess.STDOUT))
        ok(health("127.0.0.1", p4) == 200 and health(host6, p6) == 200,
           f"tern-webserver serves every address of [webserver] listen (127.0.0.1:{p4}, {addr6})")
        if os.environ.get("TERN_WORKER"):
            # A worker records its slots in its services row; /metrics sums those of the live ones.
            with open(scratch + "/worker.conf", "w") as f:
                f.write(conf + "[worker]\nslots = 3\n[sandbox]\nmode = off\n")
            wproc = subprocess.Popen([os.environ["TERN_WORKER"], "--config", scratch + "/worker.conf"], env=wenv,
                                     stdout=log, stderr=subprocess.STDOUT)
            procs.append(wproc)
            deadline, vals = time.monotonic() + 60, {}
            while time.monotonic() < deadline and wproc.poll() is None:
                c = http.client.HTTPConnection("127.0.0.1", p4, timeout=10)
                c.request("GET", "/metrics", headers={"Authorization": BEARER})
                vals = dict(l.rsplit(" ", 1) for l in c.getresponse().read().decode().splitlines() if l and l[0] != "#")
                c.close()
                if vals.get("tern_worker_slots") == "3":
                    break
                time.sleep(0.05)
            ok(vals.get("tern_workers") == "1" and vals.get("tern_worker_slots") == "3",
               f"/metrics: live workers and their slots from the heartbeats ({vals.get('tern_workers')}, {vals.get('tern_worker_slots')})")
            wproc.send_signal(signal.SIGTERM)
            wproc.wait(60)
            procs.remove(wproc)
        procs[-1].send_signal(signal.SIGTERM)
        ok(procs[-1].wait(60) == 0, "and stops on SIGTERM")
        p5 = free_port()
        procs.append(subprocess.Popen([os.environ["TERN_WEBSERVER"], "--config", scratch + "/listen.conf"],
                                      env=dict(wenv, TERN_WEBSERVER_LISTEN=f"127.0.0.1:{p5}"), stdout=log,
                                      stderr=subprocess.STDOUT))
        st = health("127.0.0.1", p5)
        c = socket.socket()
        refused = c.connect_ex(("127.0.0.1", p4)) != 0
        c.close()
        ok(st == 200 and refused, "$TERN_WEBSERVER_LISTEN wins over the file")
        procs[-1].send_signal(signal.SIGTERM)
        procs[-1].wait(60)
        # tern server webserver: --listen, else $TERN_WEBSERVER_LISTEN.
        p7, p8 = free_port(), free_port()
        procs.append(subprocess.Popen([TERN, "server", "webserver", "--db", db], env=dict(wenv, TERN_WEBSERVER_LISTEN=f"127.0.0.1:{p7}"),
                                      stdout=log, stderr=subprocess.STDOUT))
        ok(health("127.0.0.1", p7) == 200, "tern server webserver takes $TERN_WEBSERVER_LISTEN")
        procs[-1].send_signal(signal.SIGTERM)
        procs[-1].wait(60)
        procs.append(subprocess.Popen([TERN, "server", "webserver", "--db", db, "--listen", f"127.0.0.1:{p8}"],
                                      env=dict(wenv, TERN_WEBSERVER_LISTEN=f"127.0.0.1:{p7}"), stdout=log,
                                      stderr=subprocess.STDOUT))
        st = health("127.0.0.1", p8)
        c = socket.socket()
        refused = c.connect_ex(("127.0.0.1", p7)) != 0
        c.close()
        ok(st == 200 and refused, "and --listen wins over it")
        procs[-1].send_signal(signal.SIGTERM)
        procs[-1].wait(60)
except SystemExit:
    pass
finally:
    cleanup()
harness.done()
