"""plugin_http.py: the base of a plugin test's loopback HTTP server (plugin_server in plugin-test-lib.sh): JSON answers, no log lines, its port told."""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body, headers=()):
        """body: JSON, or bytes as they are (a server that answers what is not JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def serve(handler):
    """On a free loopback port, written to argv[2] whole (renamed into place: the test waits for it)."""
    s = http.server.HTTPServer(("127.0.0.1", 0), handler)
    open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    s.serve_forever()
