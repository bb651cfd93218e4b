"""The orders service (Python standard library only).

It reads its settings from the file named by ORDERS_CONFIG (default /etc/orders/orders.conf):

    port = 8123          # the 127.0.0.1 port it listens on
    token = ...          # this deployment's token: every answer carries it

and answers GET /api/orders (the open orders, as JSON) and GET /healthz. Each answer echoes the
request's X-Request-Id header with a proof (an HMAC of it under the token), so whoever asks can
tell a live answer from a copy.
"""

import hmac
import json
import os
import pwd
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS = [
    {"id": 1041, "item": "espresso beans, 1 kg", "status": "packing"},
    {"id": 1042, "item": "grinder burrs", "status": "shipped"},
    {"id": 1043, "item": "milk jug, 600 ml", "status": "open"},
]


def settings(path):
    found = {}
    with open(path, encoding="utf-8") as config:
        for line in config:
            line = line.split("#", 1)[0].strip()
            if "=" in line:
                key, value = line.split("=", 1)
                found[key.strip()] = value.strip()
    missing = [key for key in ("port", "token") if not found.get(key)]
    if missing:
        sys.exit(f"orders: {path} has no {', '.join(missing)}")
    return found


class Orders(BaseHTTPRequestHandler):
    server_version = "orders/1.0"

    def do_GET(self):
        request_id = self.headers.get("X-Request-Id", "")
        if self.path == "/healthz":
            self.answer(200, {"status": "ok", "request_id": request_id})
        elif self.path.split("?")[0] in ("/api/orders", "/api/orders/"):
            self.answer(200, {"service": "orders", "token": CONFIG["token"], "request_id": request_id,
                              "proof": hmac.new(CONFIG["token"].encode(), request_id.encode(), "sha256").hexdigest(),
                              "user": pwd.getpwuid(os.getuid()).pw_name, "orders": ORDERS})
        else:
            self.answer(404, {"error": "no such page", "request_id": request_id})

    def answer(self, status, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("orders: " + (fmt % args) + "\n")


if __name__ == "__main__":
    CONFIG = settings(os.environ.get("ORDERS_CONFIG", "/etc/orders/orders.conf"))
    server = ThreadingHTTPServer(("127.0.0.1", int(CONFIG["port"])), Orders)
    print(f"orders: listening on 127.0.0.1:{CONFIG['port']}", flush=True)
    server.serve_forever()
