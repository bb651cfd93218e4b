"""orders: a small web application that lab proxies sit in front of.

GET /          an HTML page naming this lab instance (LAB_NONCE) and, for a
               ?probe=VALUE query, the proof sha256("NONCE:VALUE")[:16]
GET /healthz   "ok"
Every request is logged to stdout, as an access log.
"""

import hashlib
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NONCE = os.environ.get("LAB_NONCE", "unset")
PORT = int(os.environ.get("APP_PORT", "8000"))


def proof(probe: str) -> str:
    return hashlib.sha256(f"{NONCE}:{probe}".encode()).hexdigest()[:16]


class Handler(BaseHTTPRequestHandler):
    server_version = "orders/1.0"

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, "text/plain", "ok\n")
            return
        if url.path != "/":
            self._send(404, "text/plain", "not found\n")
            return
        probe = parse_qs(url.query).get("probe", [""])[0][:64]
        body = (
            "<!doctype html><html><head><title>Orders</title>"
            '<link rel="stylesheet" href="/static/app.css"></head><body>'
            "<h1>Orders dashboard</h1>"
            f'<p>instance: <code id="instance">{NONCE}</code></p>'
            f'<p>probe-answer: <code id="probe">{proof(probe) if probe else "-"}</code></p>'
            "</body></html>\n"
        )
        self._send(200, "text/html; charset=utf-8", body)

    def _send(self, status, content_type, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s - %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
