"""The shop app, one release of it: answers with its version after a warm-up.

Usage: app.py PORT. The release (its folder name) and the instance token come from the
environment the release was started with. Until its caches are warm (WARMUP seconds) it
refuses to serve: /healthz answers 503, and so does every page.
"""

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
RELEASE = os.environ.get("RELEASE", "unknown")
TOKEN = os.environ.get("LAB_TOKEN", "unset")
PRICE_FORMAT = "{amount:.2f} {currency}"  # how /orders shows a price
READY_AT = time.monotonic() + float(os.environ.get("WARMUP", "1.5"))


class Handler(BaseHTTPRequestHandler):
    server_version = "shop"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        warm = time.monotonic() >= READY_AT
        if self.path == "/healthz":
            self._send(200 if warm else 503, "ok\n" if warm else "warming up\n")
        elif not warm:
            self._send(503, "warming up\n")
        elif self.path.startswith("/orders"):
            try:
                price = PRICE_FORMAT.format(amount=12.5, currency="EUR")
            except (KeyError, IndexError, ValueError) as err:
                sys.stderr.write(f"release {RELEASE}: error rendering /orders: {err!r}\n")
                self._send(500, "internal server error\n")
                return
            self._send(200, f"shop release {RELEASE} token {TOKEN} orders: 1 open, total {price}\n")
        else:
            self._send(200, f"shop release {RELEASE} token {TOKEN} path {self.path}\n")

    def _send(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
