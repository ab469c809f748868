#!/usr/bin/env python3
# flaky-s3.py: an S3 look-alike on loopback that fails on purpose (503 SlowDown, 500, 429, a body cut
# off midway, once or always, an object replaced during a resumed read) so that the storage library's retries can be
# tested; multipart uploads that take their time per part, counting how many are sent at once, one
# of them refused when asked, or answered 503 once (S3's parts and Azure's staged blocks: each try
# of a part in GET /__parts); what each PUT's body was signed with (GET /__sha). Prints its port,
# then serves until GET /__quit or 120 s. Signatures are not checked.
import base64
import http.server
import re
import socketserver
import sys
import threading
import time
import urllib.parse

BODY = bytes((i * 7 + 3) % 251 for i in range(200000))
counts = {}
log = []
shas = []  # "PATH x-amz-content-sha256" of each PUT with a body: what the client signed of it
store = {}
parts = {}
part_log = []  # "PATH PART STATUS" of each try of a part (S3) or block (Azure, numbered from 1)
inflight = {"now": 0, "max": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, extra=()):
        body = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>flaky-s3 says {code}</Message></Error>".encode()
        self.reply(status, body, (("Content-Type", "application/xml"),) + tuple(extra))

    def cut(self, etag):
        # Headers for the whole body, half of it, then the connection is gone.
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("ETag", f'"{etag}"')
        self.end_headers()
        self.wfile.write(BODY[: len(BODY) // 2])
        self.wfile.flush()
        self.close_connection = True

    def rest(self, etag):
        rng = self.headers.get("Range", "")
        match = self.headers.get("If-Match", "")
        if match != f'"{etag}"':
            return self.error(412, "PreconditionFailed")
        start = int(rng.split("=")[1].rstrip("-"))
        self.reply(206, BODY[start:], (("ETag", f'"{etag}"'), ("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")))

    def handle_any(self):
        path = self.path.split("?")[0]
        n = counts[path] = counts.get(path, 0) + 1
        log.append(f"{self.command} {path} {self.headers.get('Range', '-')} {self.path.partition('?')[2]} host={self.headers.get('Host')}")
        length = int(self.headers.get("Content-Length", "0") or 0)
        data = self.rfile.read(length) if length else b""
        if self.command == "PUT" and data:
            shas.append(f"{path} {self.headers.get('x-amz-content-sha256', '-')}")
        if path == "/__quit":
            self.reply(200)
            threading.Thread(target=self.server.shutdown).start()
        elif path == "/__log":
            self.reply(200, "\n".join(log).encode())
        elif path == "/__sha":
            self.reply(200, "\n".join(shas).encode())
        elif path == "/__maxpar":
            self.reply(200, str(inflight["max"]).encode())
        elif path == "/__parts":
            self.reply(200, "\n".join(part_log).encode())
        elif "/blocks" in path:
            self.blocks(path, self.path.partition("?")[2], data)
        elif "/parts" in path:
            self.multipart(path, self.path.partition("?")[2], data)
        elif path.endswith("/slow-put") and self.command == "PUT":
            if n == 1:
                self.error(503, "SlowDown")
            elif n == 2:
                self.error(500, "InternalError")
            else:
                store[path] = data
                self.reply(200, b"", (("ETag", '"put"'),))
        elif "/payload-" in path and self.command == "PUT" or path == "/vhost-put":
            self.reply(200, b"", (("ETag", '"pl"'),))
        elif path.endswith("/slow-put") and self.command == "GET":
            self.reply(200, store.get(path, b""), (("ETag", '"put"'),))
        elif path.endswith("/throttled"):
            if n <= 2:
                self.error(429, "TooManyRequests", (("Retry-After", "0"),))
            else:
                self.reply(200, b"at last", (("ETag", '"t"'),))
        elif path.endswith("/always-503"):
            self.error(503, "SlowDown")
        elif path.endswith("/cut"):
            if n == 1:
                self.cut("v1")
            else:
                self.rest("v1")
        elif path.endswith("/always-cut"):
            # Every read breaks off midway, resumed ones too: the reader never gets the whole.
            if self.command == "HEAD":
                self.reply(200, BODY, (("ETag", '"ac"'),))
            else:
                self.cut("ac")
        elif path.endswith("/replaced"):
            if n == 1:
                self.cut("v1")
            else:
                self.rest("v2")
        else:
            self.error(404, "NoSuchKey")

    def multipart(self, path, query, data):
        q = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
        if self.command == "POST" and "uploads" in q:
            self.reply(200, b"<InitiateMultipartUploadResult><UploadId>up-1</UploadId></InitiateMultipartUploadResult>")
        elif self.command == "PUT" and "partNumber" in q:
            with lock:
                inflight["now"] += 1
                inflight["max"] = max(inflight["max"], inflight["now"])
            time.sleep(0.3)  # the service storing the part
            with lock:
                inflight["now"] -= 1
            if path.endswith("/parts-fail") and q["partNumber"] == "2":
                return self.error(403, "AccessDenied")
            if self.fails_once(path, int(q["partNumber"])):
                return self.error(503, "SlowDown")
            part_log.append(f"{path} {q['partNumber']} 200")
            parts[(path, int(q["partNumber"]))] = data
            self.reply(200, b"", (("ETag", f'"p{q["partNumber"]}"'),))
        elif self.command == "POST" and "uploadId" in q:
            nums = sorted(n for (p, n) in parts if p == path)
            store[path] = b"".join(parts[(path, n)] for n in nums)
            self.reply(200, b"<CompleteMultipartUploadResult></CompleteMultipartUploadResult>")
        elif self.command == "DELETE" and "uploadId" in q:
            self.reply(204)
        elif self.command == "GET" and path in store:
            self.reply(200, store[path], (("ETag", '"mp"'),))
        else:
            self.error(404, "NoSuchKey")

    def fails_once(self, path, part):
        # Part 2 of a "-retry" object: its first try is refused as a busy service would.
        with lock:
            first = path.endswith("-retry") and part == 2 and f"{path} 2 503" not in part_log
            if first:
                part_log.append(f"{path} 2 503")
        return first

    def blocks(self, path, query, data):
        # Azure's staged blocks: Put Block, Put Block List (of <Latest> ids), Get Blob.
        q = {k: urllib.parse.unquote(v) for k, v in (kv.partition("=")[::2] for kv in query.split("&") if kv)}
        if self.command == "PUT" and q.get("comp") == "block":
            part = int(base64.b64decode(q["blockid"]).decode().removeprefix("tern-")) + 1
            time.sleep(0.3)
            if self.fails_once(path, part):
                body = b"<?xml version=\"1.0\"?><Error><Code>ServerBusy</Code><Message>flaky-s3 says busy</Message></Error>"
                return self.reply(503, body, (("x-ms-error-code", "ServerBusy"),))
            part_log.append(f"{path} {part} 201")
            parts[(path, q["blockid"])] = data
            self.reply(201)
        elif self.command == "PUT" and q.get("comp") == "blocklist":
            ids = re.findall(r"<Latest>([^<]*)</Latest>", data.decode())
            store[path] = b"".join(parts[(path, i)] for i in ids)
            self.reply(201, b"", (("ETag", '"bl"'),))
        elif self.command == "GET" and path in store:
            self.reply(200, store[path], (("ETag", '"bl"'),))
        else:
            self.error(404, "BlobNotFound", (("x-ms-error-code", "BlobNotFound"),))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
timer = threading.Timer(120, srv.shutdown)
timer.daemon = True
timer.start()
srv.serve_forever()
sys.exit(0)
