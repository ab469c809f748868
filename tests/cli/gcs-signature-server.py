#!/usr/bin/env python3
# gcs-signature-server.py: a stand-in for GCS's XML API that checks every request's GOOG4-RSA-SHA256 signature
# with a service account's public key (Google's V4 algorithm) and serves one object, for test-cli-plugin-cloudstorage.
#   gcs-signature-server.py PUBLIC_KEY.pem PORT_FILE LOG_FILE   (writes its port to PORT_FILE once it listens)
import hashlib
import http.server
import os
import sys
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

pub = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
body = b'id,name\n1,"a, b"\n'
log = open(sys.argv[3], "a")

class H(http.server.BaseHTTPRequestHandler):
    def verified(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("GOOG4-RSA-SHA256 "):
            return "no GOOG4-RSA-SHA256 authorization: %r" % auth
        f = dict(p.strip().split("=", 1) for p in auth[len("GOOG4-RSA-SHA256 "):].split(","))
        email, scope = f["Credential"].split("/", 1)
        signed = f["SignedHeaders"].split(";")
        u = urllib.parse.urlsplit(self.path)
        q = sorted(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        cq = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~") for k, v in q)
        def hv(h):
            return self.headers.get(h, "").strip() if h != "host" else self.headers["Host"].rsplit(":", 1)[0]
        ch = "".join("%s:%s\n" % (h, hv(h)) for h in signed)
        creq = "\n".join([self.command, u.path, cq, ch, f["SignedHeaders"], self.headers.get("x-goog-content-sha256", "")])
        sts = "\n".join(["GOOG4-RSA-SHA256", self.headers.get("x-goog-date", ""), scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        try:
            pub.verify(bytes.fromhex(f["Signature"]), sts.encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return "bad signature over %r" % sts
        return "ok " + email
    def answer(self, with_body):
        v = self.verified()
        log.write("%s %s %s\n" % (self.command, self.path, v)); log.flush()
        if not v.startswith("ok"):
            msg = b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
            self.send_response(403); self.send_header("Content-Length", str(len(msg))); self.end_headers()
            if with_body: self.wfile.write(msg)
            return
        if self.path.split("?")[0] != "/tern-test/run/data.csv":
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"abc"')
        self.send_header("Last-Modified", "Mon, 07 Dec 2026 10:00:00 GMT")
        self.end_headers()
        if with_body: self.wfile.write(body)
    def do_HEAD(self): self.answer(False)
    def do_GET(self): self.answer(True)
    def log_message(self, *a): pass

s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
