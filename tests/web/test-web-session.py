#!/usr/bin/env python3
# test-web-session.py: the web UI's login over HTTP: a password or a token gives a session cookie
# (HttpOnly, SameSite=Strict, Secure behind TLS), its CSRF token guards state changes, logout ends
# it, a new password ends it, revoking the token that opened it ends it, and it survives a restart of
# the server. TAP output.
import base64, http.client, json, subprocess, time

from harness import TERN, ok
import harness

h = harness.Setup("tern-web-session-", "websession")
try:
    r = subprocess.run([TERN, "user", "add", "alice", "--db", h.db], input="pw-1\n", text=True, env=h.env, capture_output=True)
    ok(r.returncode == 0, "a user")
    TOKEN = subprocess.run([TERN, "token", "create", "alice", "--db", h.db], text=True, env=h.env,
                           capture_output=True).stdout.strip()
    port = harness.free_port()

    def start():
        log = open(h.scratch + "/server.log", "a")
        p = subprocess.Popen([TERN, "server", "webserver", "--listen", f"127.0.0.1:{port}", "--db", h.db, "--ui-dir", ""],
                             env=h.env, stdout=log, stderr=subprocess.STDOUT)
        h.procs.append(p)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            try:
                if req("GET", "/health")[0] == 200:
                    return p
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not start")

    def req(method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        hd = dict(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            hd["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hd)
        resp = c.getresponse()
        text = resp.read().decode()
        c.close()
        js = json.loads(text) if resp.getheader("Content-Type", "").startswith("application/json") and text else None
        return resp.status, js, resp

    def cookie_of(resp):
        sc = resp.getheader("Set-Cookie") or ""
        return sc.split(";")[0].split("=", 1)[1] if sc.startswith("tern_session=") else None, sc

    server = start()
    st, js, resp = req("POST", "/api/v1/session", {"username": "alice", "password": "wrong"})
    ok(st == 401 and not resp.getheader("Set-Cookie"), "a wrong password: 401, no cookie")
    st, js, resp = req("POST", "/api/v1/session", {"username": "alice"})
    ok(st == 400, "a login without a password: 400")
    st, js, resp = req("POST", "/api/v1/session", {"username": "alice", "password": "pw-1"})
    cookie, sc = cookie_of(resp)
    ok(st == 200 and js["username"] == "alice" and len(js["csrfToken"]) == 64, "a password logs in, with a CSRF token")
    ok(cookie and "HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc and "Max-Age=43200" in sc
       and "Secure" not in sc, f"the cookie: HttpOnly, SameSite=Strict, 12 h, not Secure over plain HTTP ({sc})")
    csrf = js["csrfToken"]
    _, _, resp = req("POST", "/api/v1/session", {"username": "alice", "password": "pw-1"}, {"X-Forwarded-Proto": "https"})
    ok("; Secure" in (resp.getheader("Set-Cookie") or ""), "behind a TLS proxy (X-Forwarded-Proto: https) it is Secure")
    st, js, resp = req("POST", "/api/v1/session", {"token": TOKEN})
    ok(st == 200 and js["username"] == "alice" and cookie_of(resp)[0], "an API token logs in too")
    ok(req("POST", "/api/v1/session", {"token": "tern_" + "0" * 64})[0] == 401, "an unknown token does not")
    # Anyone may send a login: its body is buffered up to 16 KiB, not up to the API's 1 MiB.
    st, js, _ = req("POST", "/api/v1/session", {"username": "alice", "password": "x" * 20000})
    ok(st == 413, f"a login body over 16 KiB: 413 ({st} {js})")

    C = {"Cookie": f"tern_session={cookie}"}
    st, js, _ = req("GET", "/api/v1/session", headers=C)
    ok(st == 200 and js == {"username": "alice", "csrfToken": csrf}, "GET /api/v1/session: who, and the same CSRF token")
    ok(req("GET", "/api/v1/flows/search", headers=C)[0] == 200, "the cookie authenticates a GET")
    flow = "id: f\nnamespace: t.session\ntasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"

    def post_flow(headers):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/api/v1/flows", body=flow, headers={"Content-Type": "application/x-yaml", **headers})
        resp = c.getresponse()
        resp.read()
        c.close()
        return resp.status
    ok(post_flow(C) == 403, "a POST with the cookie and no CSRF token: 403")
    ok(post_flow({**C, "X-CSRF-Token": "f" * 64}) == 403, "with a wrong token: 403")
    ok(post_flow({**C, "X-CSRF-Token": csrf}) == 200, "with the session's token: done")
    basic = "Basic " + base64.b64encode(b"alice:pw-1").decode()
    ok(req("DELETE", "/api/v1/flows/t.session/f", headers={**C, "Authorization": basic})[0] == 204,
       "Basic (with or without a cookie) needs no CSRF token")
    st, _, resp = req("GET", "/api/v1/flows/search", headers={"Cookie": "tern_session=" + "0" * 64})
    ok(st == 401 and not resp.getheader("WWW-Authenticate"), "an unknown session: 401 without a Basic challenge")
    st, _, resp = req("GET", "/api/v1/flows/search", headers={"X-Requested-With": "tern-ui"})
    ok(st == 401 and not resp.getheader("WWW-Authenticate"), "a page's request without credentials: no Basic challenge")
    st, _, resp = req("GET", "/api/v1/flows/search")
    ok(st == 401 and resp.getheader("WWW-Authenticate"), "other clients still get the challenge")
    ok(req("GET", "/", headers=C)[0] == 404, "with ui-dir empty, no page is served")

    # A restart keeps the session: it lives in the database.
    server.terminate()
    server.wait(30)
    server = start()
    ok(req("GET", "/api/v1/flows/search", headers=C)[0] == 200, "the session survives a restart of the webserver")

    st, _, resp = req("DELETE", "/api/v1/session", headers=C)
    ok(st == 403, "logging out needs the CSRF token too")
    st, _, resp = req("DELETE", "/api/v1/session", headers={**C, "X-CSRF-Token": csrf})
    ok(st == 204 and (resp.getheader("Set-Cookie") or "").startswith("tern_session=;") and "Max-Age=0" in resp.getheader("Set-Cookie"),
       "logout: 204, and the cookie is removed")
    ok(req("GET", "/api/v1/flows/search", headers=C)[0] == 401, "the cookie no longer works")

    _, js, resp = req("POST", "/api/v1/session", {"username": "alice", "password": "pw-1"})
    C2 = {"Cookie": f"tern_session={cookie_of(resp)[0]}"}
    ok(req("GET", "/api/v1/session", headers=C2)[0] == 200, "a new session")
    subprocess.run([TERN, "user", "add", "alice", "--db", h.db], input="pw-2\n", text=True, env=h.env, capture_output=True)
    ok(req("GET", "/api/v1/session", headers=C2)[0] == 401, "a new password ends it")

    # A session opened with an API token lives only as long as the token.
    _, _, resp = req("POST", "/api/v1/session", {"token": TOKEN})
    CT = {"Cookie": f"tern_session={cookie_of(resp)[0]}"}
    ok(req("GET", "/api/v1/session", headers=CT)[0] == 200, "a session opened with the token")
    r = subprocess.run([TERN, "token", "revoke", "-", "--db", h.db], input=TOKEN + "\n", text=True, env=h.env,
                       capture_output=True)
    ok(r.returncode == 0 and "revoked" in r.stderr, f"tern token revoke - reads the token from standard input ({r.stderr.strip()})")
    ok(req("GET", "/api/v1/session", headers=CT)[0] == 401, "revoking the token ends the session it opened")
    st, _, _ = req("GET", "/api/v1/flows/search", headers={"Authorization": "Bearer " + TOKEN})
    ok(st == 401, "and the token itself is refused")
    _, _, resp = req("POST", "/api/v1/session", {"username": "alice", "password": "pw-2"})
    C3 = {"Cookie": f"tern_session={cookie_of(resp)[0]}"}
    r = subprocess.run([TERN, "user", "remove", "alice", "--db", h.db], text=True, env=h.env, capture_output=True)
    ok(r.returncode == 0, "tern user remove alice")
    ok(req("GET", "/api/v1/session", headers=C3)[0] == 401, "which ends her password sessions")
finally:
    h.cleanup()
harness.done()
