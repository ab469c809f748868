#!/usr/bin/env bash
# test-cli-plugin-email: the shipped email plugin (plugins/email, a native plugin) end to end with 'tern run': Kestra's
# MailSend to local SMTP servers (Debian's python3-aiosmtpd) in plain SMTP with a login, STARTTLS and SMTPS, with
# text and HTML bodies, a non-ASCII subject and attachments from internal storage; a certificate that cannot be
# verified and a refused recipient fail the task, saying why (TAP).
set -u
: "${TERN:?}" "${TERN_SOURCE_ROOT:?}" "${TERN_PLUGIN_EMAIL:?}"

# Debian's aiosmtpd is for Debian's python3, which another python3 on the PATH may not be.
py=
for p in python3 /usr/bin/python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import aiosmtpd' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "1..0 # SKIP no python3 with aiosmtpd (apt-get install python3-aiosmtpd)"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl is needed (the servers' certificate)"; exit 0; }

dir=$(mktemp -d /tmp/tern-cli-email.XXXXXX)
chmod 755 "$dir"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export TERN_STATE_DIR=$dir/state
unset TERN_PLUGINS_PATH TERN_CONFIG

mkdir -p "$dir/plugins/email"
cp "$TERN_SOURCE_ROOT/plugins/email/plugin.yaml" "$TERN_PLUGIN_EMAIL" "$dir/plugins/email/"
chmod -R a+rX "$dir/plugins"

n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
has() { grep -qF -- "$2" "$1"; }

"$TERN" plugins doc io.kestra.plugin.email.MailSend --plugins-path "$dir/plugins" >"$dir/doc.txt" 2>&1
has "$dir/doc.txt" "one of: SMTP, SMTP_TLS, SMTPS" && has "$dir/doc.txt" "attachments" && has "$dir/doc.txt" "io.kestra.plugin.notifications.mail.MailSend"
ok $? "plugins doc: MailSend's properties and its alias ($(head -c 200 "$dir/doc.txt" | tr '\n' ' '))"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -subj /CN=localhost -days 1 \
        >/dev/null 2>&1

# Three servers on loopback: plain SMTP with a login, STARTTLS required, SMTPS; each message and how it
# came (login, TLS) one JSON line; recipients named nobody@ are refused.
cat >"$dir/server.py" <<'PY'
import json, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
d = sys.argv[1]
class Handler:
    def __init__(self, kind):
        self.kind = kind
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        with open(d + "/received", "a") as f:
            f.write(json.dumps({"server": self.kind, "from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
                                "login": getattr(session.auth_data, "login", b"").decode() or None,
                                "tls": server.transport.get_extra_info("ssl_object") is not None, "data": envelope.content.decode("ascii", "replace")}) + "\n")
        return "250 Message accepted"
def auth(server, session, envelope, mechanism, data):
    return AuthResult(success=data.login == b"mailer" and data.password == b"s3cret", auth_data=data)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
ports = [free_port() for _ in range(3)]
servers = [
    Controller(Handler("plain"), hostname="127.0.0.1", port=ports[0], authenticator=auth, auth_require_tls=False),
    Controller(Handler("starttls"), hostname="127.0.0.1", port=ports[1], tls_context=ctx, require_starttls=True),
    Controller(Handler("smtps"), hostname="127.0.0.1", port=ports[2], ssl_context=ctx),
]
for s in servers:
    s.start()
open(d + "/ports.tmp", "w").write(" ".join(map(str, ports)))
__import__("os").rename(d + "/ports.tmp", d + "/ports")
while True:
    time.sleep(3600)
PY
"$py" "$dir/server.py" "$dir" >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 200); do [ -s "$dir/ports" ] && break; sleep 0.05; done
if [ ! -s "$dir/ports" ]; then
        echo "# the SMTP servers did not start: $(tail -n 3 "$dir/server.log" | tr '\n' ' ')"
        for _ in $(seq 7); do n=$((n + 1)); echo "ok $n - # SKIP the SMTP servers (aiosmtpd) did not start"; done
        echo "1..$n"
        exit $failed
fi
read -r plain starttls smtps <"$dir/ports"

printf 'id,total\n1,9.50\n' >"$dir/report.csv"
head -c 3000 /dev/urandom >"$dir/blob.bin"
cat >"$dir/mail.yaml" <<YAML
id: mail
namespace: test.email
inputs:
  - {id: report, type: FILE}
  - {id: blob, type: FILE}
tasks:
  - id: plain
    type: io.kestra.plugin.email.MailSend
    host: 127.0.0.1
    port: $plain
    transportStrategy: SMTP
    username: mailer
    password: "{{ secret('SMTP_PASSWORD') }}"
    from: "Tern <tern@example.com>"
    to: "a@example.com; B <b@example.com>"
    cc: c@example.com
    subject: "Résumé of {{ flow.id }}"
    plainTextContent: "Flow {{ flow.id }} ran."
    htmlTextContent: "<p>Flow <b>{{ flow.id }}</b> ran.</p>"
    attachments:
      - name: report.csv
        uri: "{{ inputs.report }}"
        contentType: text/csv
      - name: blob.bin
        uri: "{{ inputs.blob }}"
  - id: starttls
    type: io.kestra.plugin.notifications.mail.MailSend
    host: 127.0.0.1
    port: $starttls
    transportStrategy: SMTP_TLS
    verifyServerIdentity: false
    from: tern@example.com
    to: d@example.com
    subject: over STARTTLS
    htmlTextContent: "<p>hello</p>"
    attachments: '[{"name": "r.csv", "uri": "{{ inputs.report }}", "contentType": "text/csv"}]'
  - id: smtps
    type: io.kestra.plugin.email.MailSend
    host: 127.0.0.1
    port: $smtps
    trustedHosts: [127.0.0.1]
    from: tern@example.com
    to: e@example.com
    subject: over SMTPS
  - id: unverified
    type: io.kestra.plugin.email.MailSend
    host: 127.0.0.1
    port: $smtps
    from: tern@example.com
    to: f@example.com
    allowFailure: true
  - id: refused
    type: io.kestra.plugin.email.MailSend
    host: 127.0.0.1
    port: $plain
    transportStrategy: SMTP
    from: tern@example.com
    to: nobody@example.com
    allowFailure: true
YAML
(cd "$dir" && SECRET_SMTP_PASSWORD=$(printf s3cret | base64 -w0) "$TERN" run "$dir/mail.yaml" --plugins-path "$dir/plugins" \
        -q -o json --include-logs -i report=@"$dir/report.csv" -i blob=@"$dir/blob.bin" >"$dir/run.json" 2>"$dir/run.err")

"$py" - "$dir" "$n" <<'PY'
import email, email.policy, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
failed = 0
def ok(cond, name):
    global n, failed
    n += 1
    failed += not cond
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name.replace("\n", " ")))
try:
    run = json.load(open(d + "/run.json"))
except ValueError:
    run = {}
states = {t["taskId"]: t["state"]["current"] for t in run.get("taskRunList", [])}
logs = lambda t: [l["message"] for l in run.get("logs", []) if l.get("taskId") == t]
got = [json.loads(l) for l in open(d + "/received")] if os.path.exists(d + "/received") else []
by = {g["server"]: g for g in got}
err = open(d + "/run.err").read()[-300:]

p = by.get("plain", {})
msg = email.message_from_string(p.get("data", ""), policy=email.policy.default)
ok(states.get("plain") == "SUCCESS" and p.get("login") == "mailer" and p.get("from") == "tern@example.com" and
   p.get("rcpt") == ["a@example.com", "b@example.com", "c@example.com"],
   "SMTP: logged in, the envelope's sender and every To and Cc (%s %r %r %s)" % (states.get("plain"), {k: v for k, v in p.items() if k != "data"}, logs("plain"), err))
body = msg.get_body(("plain",)) if p else None
html = msg.get_body(("html",)) if p else None
ok(p and str(msg["Subject"]) == "Résumé of mail" and str(msg["From"]) == "Tern <tern@example.com>" and
   "c@example.com" in str(msg["Cc"]) and body and body.get_content().strip() == "Flow mail ran." and
   html and html.get_content().strip() == "<p>Flow <b>mail</b> ran.</p>",
   "the message: a UTF-8 subject, From, Cc, text and HTML alternatives (%r)" % p.get("data", "")[:600])
atts = {a.get_filename(): a for a in msg.iter_attachments()} if p else {}
ok(set(atts) == {"report.csv", "blob.bin"} and atts["report.csv"].get_content_type() == "text/csv" and
   atts["report.csv"].get_content() == "id,total\n1,9.50\n" and
   atts["blob.bin"].get_content() == open(d + "/blob.bin", "rb").read() and
   atts["blob.bin"].get_content_type() == "application/octet-stream",
   "attachments from internal storage, their names, types and bytes (%r)" % list(atts))
s = by.get("starttls", {})
m2 = email.message_from_string(s.get("data", ""), policy=email.policy.default)
ok(states.get("starttls") == "SUCCESS" and s.get("tls") and [a.get_filename() for a in m2.iter_attachments()] == ["r.csv"],
   "SMTP_TLS: STARTTLS (the server requires it), the alias type, attachments as JSON text (%s %r)" % (states.get("starttls"), logs("starttls")))
t = by.get("smtps", {})
ok(states.get("smtps") == "SUCCESS" and t.get("tls") and t.get("rcpt") == ["e@example.com"],
   "SMTPS: TLS from the start, the trusted host's certificate taken (%s %r)" % (states.get("smtps"), logs("smtps")))
ok(states.get("unverified") == "FAILED" and any("sending the email through 127.0.0.1 failed" in m and "certificate" in m.lower() for m in logs("unverified")),
   "SMTPS: a certificate that cannot be verified fails the task, saying so (%r)" % logs("unverified"))
ok(states.get("refused") == "FAILED" and any("550 5.1.1 no such user here" in m for m in logs("refused")) and "f@example.com" not in json.dumps(got),
   "a refused recipient fails the task with the server's answer (%r)" % logs("refused"))
sys.exit(1 if failed else 0)
PY
[ $? -eq 0 ] || failed=1
n=$((n + 7))
echo "1..$n"
exit $failed
