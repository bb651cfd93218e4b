"""stats: the warehouse stats API the nightly report reads (Python standard library only).

    GET /api/stats   JSON: a fresh token (logged, so a report can be traced to a real
                     request), the time it was issued and the order counters
    GET /healthz     200 "ok"

Every token it hands out is printed to standard output (the container's log).
"""

import json
import os
import secrets
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8000"))
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    server_version = "stats/2.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        elif self.path == "/api/stats":
            token = secrets.token_hex(12)
            now = time.time()
            minutes = int((now - STARTED) // 60)
            stats = {"token": token, "issued_at": round(now, 3), "orders_open": 40 + minutes % 17, "orders_shipped": 1200 + minutes * 3}
            print(f"stats: issued token {token} to {self.client_address[0]}", flush=True)
            body, kind = (json.dumps(stats) + "\n").encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print(f"stats: listening on 127.0.0.1:{PORT}", flush=True)
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
