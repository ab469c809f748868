#!/usr/bin/env python3
# test-webhook-files.py: files sent to a Webhook trigger, as Kestra has them: a multipart/form-data
# body's file parts stored in internal storage (trigger.parts) and its fields (trigger.formFields),
# fetchType STORE (trigger.uri) and NONE; a wrong key writes nothing, a body over the server's
# upload limit is 413 and leaves nothing behind. A real "tern server standalone" over SQLite (or
# PostgreSQL with --pg). TAP output.
import http.client, json, os, select, subprocess, time

from harness import TERN, ok
import harness

# A small upload limit (1 MiB), so that "too large" is cheap to send.
h = harness.Setup("tern-hookfiles-", "hookfiles", {"TERN_WEBSERVER_MAX_UPLOAD_MIB": "1"})
scratch, env, procs, cleanup, db = h.scratch, h.env, h.procs, h.cleanup, h.db
storage_dir = scratch + "/state/storage"
uploads_dir = scratch + "/state/uploads"
port = None
TOKEN = None


def start_server():
    global port
    port = harness.free_port()
    log = open(scratch + "/server.log", "a")
    p = subprocess.Popen([TERN, "server", "standalone", "--listen", f"127.0.0.1:{port}", "--workers", "2",
                          "--sandbox", "off", "--db", db], env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if req("GET", "/health", auth=False)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def req(method, path, body=None, auth=True, headers=None, raw=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hd = dict(headers or {})
    if auth:
        hd["Authorization"] = "Bearer " + TOKEN
    data = body.encode() if isinstance(body, str) else body
    try:
        c.request(method, path, body=data, headers=hd)
        resp = c.getresponse()
        out = resp.read()
    except (BrokenPipeError, ConnectionResetError):
        # The server answered before the whole body was sent, and closed: read what it said.
        resp = c.getresponse()
        out = resp.read()
    c.close()
    if raw:
        return resp.status, out
    js = None
    if resp.getheader("Content-Type", "").startswith("application/json"):
        js = json.loads(out.decode())
    return resp.status, js


def multipart(fields, files, boundary="hOoKbOuNdArY42"):
    out = b""
    for k, v in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    for k, name, ctype, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\n"
                f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def wait_end(eid, timeout=60):
    deadline = time.monotonic() + timeout
    js = None
    while time.monotonic() < deadline:
        code, js = req("GET", f"/api/v1/executions/{eid}")
        if code == 200 and js["state"]["current"] in ("SUCCESS", "FAILED", "WARNING", "KILLED"):
            return js
        time.sleep(0.05)
    return js


def logs_of(eid):
    code, js = req("GET", f"/api/v1/logs/{eid}")
    return [l.get("message", "") for l in js] if code == 200 and isinstance(js, list) else []


def files_under(d):
    return sorted(os.path.relpath(os.path.join(dp, f), d) for dp, _, fs in os.walk(d) for f in fs)


def post_yaml(src):
    return req("POST", "/api/v1/flows", src, headers={"Content-Type": "application/x-yaml"})


UPLOAD = """id: upload
namespace: t.hookfiles
triggers:
  - id: wh
    type: io.kestra.plugin.core.trigger.Webhook
    key: files-KEY-1
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "first: {{ read(trigger.parts[0].uri) }}"
  - id: fields
    type: io.kestra.plugin.core.log.Log
    message: "note: {{ trigger.formFields.note[0] }} and {{ trigger.formFields.note[1] }}"
"""
STORED = """id: stored
namespace: t.hookfiles
triggers:
  - id: wh
    type: io.kestra.plugin.core.trigger.Webhook
    key: store-KEY-1
    fetchType: STORE
tasks:
  - id: body
    type: io.kestra.plugin.core.log.Log
    message: "body: {{ read(trigger.uri) }}"
"""
DROPPED = """id: dropped
namespace: t.hookfiles
triggers:
  - id: wh
    type: io.kestra.plugin.core.trigger.Webhook
    key: none-KEY-1
    fetchType: NONE
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello
"""

try:
    subprocess.run([TERN, "user", "add", "alice", "--db", db], input="pw-hookfiles\n", text=True, env=env,
                   capture_output=True)
    r = subprocess.run([TERN, "token", "create", "alice", "--db", db], text=True, env=env, capture_output=True)
    TOKEN = r.stdout.strip()
    if not ok(start_server(), "the server answers /health"):
        raise SystemExit
    ok(post_yaml(UPLOAD)[0] == 200, "a flow with a Webhook trigger")
    ok(post_yaml(STORED)[0] == 200, "a Webhook trigger with fetchType: STORE is valid")
    ok(post_yaml(DROPPED)[0] == 200, "a Webhook trigger with fetchType: NONE is valid")
    st, js = post_yaml(STORED.replace("id: stored", "id: bogus").replace("STORE", "SOMETIMES"))
    ok(st == 422 and "fetchType" in json.dumps(js), f"an unknown fetchType is refused at validation ({st})")

    # ---- a wrong key: nothing of a large body is read or written ----
    big = os.urandom(900 * 1024)
    body, hdr = multipart([("note", "x")], [("doc", "big.bin", "application/octet-stream", big)])
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/upload/wrong-KEY", body, auth=False, headers=hdr)
    ok(st == 404, f"a wrong key with a multipart body is 404 ({st})")
    st, js = req("PUT", "/api/v1/executions/webhook/t.hookfiles/nosuchflow/files-KEY-1", body, auth=False, headers=hdr)
    ok(st == 404, f"a missing flow with a multipart body is 404 ({st})")
    ok(files_under(storage_dir) == [] and files_under(uploads_dir) == [],
       f"nothing was written: storage {files_under(storage_dir)}, uploads {files_under(uploads_dir)}")

    # ---- two files and fields ----
    one = b"first file\n"
    two = bytes(range(256)) * 40 + b"\r\n--hOoKbOuNdArY4 not a boundary\r\n"
    body, hdr = multipart([("note", "café"), ("note", "second")],
                          [("doc", "one.txt", "text/plain", one), ("doc", "dir/two.bin", "application/octet-stream", two)])
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/upload/files-KEY-1", body, auth=False, headers=hdr)
    ok(st == 200 and js.get("id"), f"a multipart webhook call starts the flow ({st} {js})")
    doc = wait_end(js["id"]) if st == 200 else {}
    eid = doc.get("id", "x")
    tv = doc.get("trigger", {}).get("variables", {})
    parts = tv.get("parts") or []
    ok(doc.get("state", {}).get("current") == "SUCCESS", f"it runs to SUCCESS ({doc.get('state')})")
    ok(tv.get("formFields") == {"note": ["café", "second"]} and tv.get("body") is None,
       f"trigger.formFields lists each field's values, and there is no body ({tv.get('formFields')})")
    prefix = f"kestra:///t/hookfiles/upload/executions/{eid}/trigger/wh/"
    ok(len(parts) == 2 and [p["name"] for p in parts] == ["doc", "doc"] and
       [p["filename"] for p in parts] == ["one.txt", "dir/two.bin"] and
       [p["contentType"] for p in parts] == ["text/plain", "application/octet-stream"] and
       [p["size"] for p in parts] == [len(one), len(two)] and
       [p["uri"] for p in parts] == [prefix + "0/one.txt", prefix + "1/two.bin"],
       f"trigger.parts: name, filename, contentType, size and a uri under the execution ({parts})")
    logs = logs_of(eid)
    ok("first: first file\n" in logs, f"a task reads the first part: read(trigger.parts[0].uri) ({logs})")
    ok("note: café and second" in logs, "and renders trigger.formFields")
    if len(parts) == 2:
        st, got = req("GET", f"/api/v1/executions/{eid}/file?path={parts[1]['uri']}", raw=True)
        ok(st == 200 and got == two, f"the second part reads back through the API, byte for byte ({st}, {len(got)} bytes)")
    else:
        ok(False, "the second part reads back through the API")
    ok(files_under(uploads_dir) == [], "the temporary files of the upload are gone")

    # ---- too large: 413, nothing left behind ----
    before = files_under(storage_dir)
    huge = os.urandom((1 << 20) + 4096)
    body, hdr = multipart([], [("doc", "huge.bin", "application/octet-stream", huge)])
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/upload/files-KEY-1", body, auth=False, headers=hdr)
    ok(st == 413 and "1048576 bytes" in (js or {}).get("message", ""),
       f"a part over the server's upload limit is 413 with the limit ({st} {js})")
    # Without a Content-Length: the limit is found while the body streams in.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.putrequest("POST", "/api/v1/executions/webhook/t.hookfiles/upload/files-KEY-1")
    c.putheader("Content-Type", hdr["Content-Type"])
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    try:
        for i in range(0, len(body), 65536):
            # Stop once the server has answered: what it sent would be lost to a reset otherwise.
            if select.select([c.sock], [], [], 0.02)[0]:
                break
            chunk = body[i:i + 65536]
            c.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        else:
            c.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = c.getresponse()
    msg = resp.read().decode()
    c.close()
    ok(resp.status == 413 and "bytes at most" in msg, f"also when it is sent in chunks ({resp.status} {msg})")
    for _ in range(100):  # the request's end is processed after the answer
        if files_under(uploads_dir) == []:
            break
        time.sleep(0.05)
    ok(files_under(storage_dir) == before and files_under(uploads_dir) == [],
       f"and nothing of them is left ({files_under(uploads_dir)})")
    st, js = req("GET", "/api/v1/executions/search?namespace=t.hookfiles&flowId=upload")
    ok(st == 200 and js["total"] == 1, f"no execution was created for them ({js and js.get('total')})")

    # ---- fetchType STORE and NONE ----
    payload = b'{"big": "export"}\n' + bytes(range(1, 128))
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/stored/store-KEY-1", payload, auth=False,
                 headers={"Content-Type": "application/octet-stream"})
    doc = wait_end(js["id"]) if st == 200 else {}
    sid = doc.get("id", "x")
    tv = doc.get("trigger", {}).get("variables", {})
    ok(tv.get("uri") == f"kestra:///t/hookfiles/stored/executions/{sid}/trigger/wh/body" and tv.get("body") is None,
       f"fetchType STORE: trigger.uri under the execution, no trigger.body ({tv.get('uri')})")
    st, got = req("GET", f"/api/v1/executions/{sid}/file?path={tv.get('uri')}", raw=True)
    ok(st == 200 and got == payload, f"the stored body reads back byte for byte ({st})")
    ok(doc.get("state", {}).get("current") == "SUCCESS" and
       "body: " + payload.decode() in logs_of(sid), "and a task reads it: read(trigger.uri)")
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/dropped/none-KEY-1", "dropped text", auth=False)
    doc = wait_end(js["id"]) if st == 200 else {}
    tv = doc.get("trigger", {}).get("variables", {})
    ok(st == 200 and tv.get("body") is None and "uri" not in tv and "headers" in tv,
       f"fetchType NONE: the body is dropped ({tv})")
    body, hdr = multipart([("f", "v")], [("doc", "x.txt", "text/plain", b"x")])
    st, js = req("POST", "/api/v1/executions/webhook/t.hookfiles/stored/store-KEY-1", body, auth=False, headers=hdr)
    doc = wait_end(js["id"]) if st == 200 else {}
    tv = doc.get("trigger", {}).get("variables", {})
    ok(len(tv.get("parts") or []) == 1 and tv.get("formFields") == {"f": ["v"]} and "uri" not in tv,
       f"with fetchType STORE a multipart body still gives parts and formFields ({tv})")

    # ---- deleting the execution deletes its trigger's files ----
    st, _ = req("DELETE", f"/api/v1/executions/{eid}")
    ok(st == 204 and not any(f"/{eid}/" in "/" + f for f in files_under(storage_dir)),
       f"deleting the execution deletes its parts ({st})")
finally:
    cleanup()
harness.done()
