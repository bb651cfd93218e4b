"""notes: a tiny HTTP service (Python standard library only) to be shipped as a container image.

Environment:
  PORT         where it listens (default 8080)
  DATA_DIR     where notes are stored (default /var/lib/notes); must exist and be writable
  INSTANCE_ID  a name for this deployment, echoed in every answer (set at run time)
  ADMIN_TOKEN  the token the operators' tooling sends to /admin/* (set at run time)

Endpoints:
  GET  /healthz          200 "ok" while the service is healthy, 503 when it is not
  GET  /hello?name=X     {"hello": X, "instance": INSTANCE_ID}
  POST /notes            stores the body, 201 {"id": ID}
  GET  /notes/ID         the stored body
  POST /admin/maintenance  (header X-Admin-Token) every answer becomes 503 until a restart
"""

import json
import os
import secrets
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(os.environ.get("PORT", "8080"))
DATA_DIR = os.environ.get("DATA_DIR", "/var/lib/notes")
INSTANCE_ID = os.environ.get("INSTANCE_ID", "unnamed")
ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN", "")
STATE = {"maintenance": False}


class Handler(BaseHTTPRequestHandler):
    server_version = "notes/1.0"

    def _send(self, status, body, kind="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _unavailable(self):
        if STATE["maintenance"] and not self.path.startswith("/admin/"):
            self._send(503, {"error": "in maintenance"})
            return True
        return False

    def do_GET(self):
        if self._unavailable():
            return
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif url.path == "/hello":
            name = parse_qs(url.query).get("name", ["world"])[0]
            self._send(200, {"hello": name, "instance": INSTANCE_ID})
        elif url.path.startswith("/notes/"):
            note = url.path[len("/notes/"):]
            path = os.path.join(DATA_DIR, note + ".txt")
            if not note.isalnum() or not os.path.isfile(path):
                self._send(404, {"error": "no such note"})
            else:
                with open(path, "rb") as handle:
                    self._send(200, handle.read(), "text/plain")
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        if self._unavailable():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/notes":
            note = secrets.token_hex(6)
            with open(os.path.join(DATA_DIR, note + ".txt"), "wb") as handle:
                handle.write(body)
            self._send(201, {"id": note})
        elif self.path == "/admin/maintenance":
            if not ADMIN_TOKEN or self.headers.get("X-Admin-Token") != ADMIN_TOKEN:
                self._send(403, {"error": "bad token"})
                return
            STATE["maintenance"] = True
            self._send(202, {"maintenance": True})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stderr.write("notes: " + (fmt % args) + "\n")


def main():
    if not os.path.isdir(DATA_DIR) or not os.access(DATA_DIR, os.W_OK):
        sys.exit(f"notes: {DATA_DIR} is missing or not writable by uid {os.getuid()}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop at once when the container stops
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    print(f"notes: {INSTANCE_ID} listening on :{PORT}, storing in {DATA_DIR}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
