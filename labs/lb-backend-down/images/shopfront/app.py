"""shop app: the page each web node serves behind the load balancer.

GET /         JSON naming the node (SHOP_NODE), the shop's per-instance token (SHOP_TOKEN)
              and the request's X-Trace-Id
GET /healthz  "ok" — the app is up and can write its access log
Each request is appended to SHOP_LOG and printed to stdout (the container's log).
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE = os.environ.get("SHOP_NODE", "unknown")
TOKEN = os.environ.get("SHOP_TOKEN", "unset")
PORT = int(os.environ.get("SHOP_PORT", "8000"))
ACCESS_LOG = open(os.environ.get("SHOP_LOG", "/var/log/shopfront/access.log"), "a", buffering=1)  # noqa: SIM115


class Handler(BaseHTTPRequestHandler):
    server_version = "shop/4.1"

    def do_GET(self):
        trace = (self.headers.get("X-Trace-Id") or "-")[:80]
        if self.path == "/healthz":
            body, kind = "ok\n", "text/plain"
        elif self.path.split("?", 1)[0] == "/":
            body, kind = json.dumps({"node": NODE, "shop": TOKEN, "trace": trace}) + "\n", "application/json"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        line = f"node={NODE} trace={trace} {self.command} {self.path}"
        ACCESS_LOG.write(line + "\n")
        print(line, flush=True)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    print(f"shop app on {NODE} listening on 127.0.0.1:{PORT}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
