"""report-api: uploads and reports for the finance team, behind the lab's nginx.

POST /api/uploads          the request body is a statement file; answers JSON with its
                           size and sha256, the instance and the request's X-Trace-Id.
                           413 above MAX_UPLOAD_MB MiB.
GET  /api/reports/monthly  builds the monthly report: it really takes 40 s, as in
                           production; JSON with the instance and trace id.
GET  /api/reports/daily    the same, for one day: about a second.
GET  /healthz              "ok"
Every request is logged to stdout (the container's log) with its trace id.
"""

import hashlib
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NONCE = os.environ.get("LAB_NONCE", "unset")
PORT = int(os.environ.get("APP_PORT", "8000"))
MAX_UPLOAD_MB = int(os.environ.get("MAX_UPLOAD_MB", "64"))
REPORT_SECONDS = {"monthly": 40.0, "daily": 1.0}  # what the warehouse queries really take
CHUNK = 1 << 16


class Handler(BaseHTTPRequestHandler):
    server_version = "report-api/2.3"
    protocol_version = "HTTP/1.1"

    def _trace(self):
        return (self.headers.get("X-Trace-Id") or "-")[:80]

    def do_GET(self):
        if self.path == "/healthz":
            return self._send(200, {"status": "ok"})
        kind = self.path.split("?", 1)[0].removeprefix("/api/reports/")
        if kind not in REPORT_SECONDS or not self.path.startswith("/api/reports/"):
            return self._send(404, {"error": "not found"})
        started = time.monotonic()
        time.sleep(REPORT_SECONDS[kind])  # the warehouse query behind the report
        took = round(time.monotonic() - started, 1)
        self._send(200, {"report": kind, "rows": 1284, "seconds": took, "instance": NONCE, "trace": self._trace()})

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/api/uploads":
            return self._send(404, {"error": "not found"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._send(411, {"error": "Content-Length required"})
        if length > MAX_UPLOAD_MB * 1024 * 1024:
            self._drain(length)
            return self._send(413, {"error": f"upload of {length} bytes exceeds this API's limit of {MAX_UPLOAD_MB} MiB (MAX_UPLOAD_MB)"})
        digest, left = hashlib.sha256(), length
        while left:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                return self._send(400, {"error": "body shorter than Content-Length"})
            digest.update(chunk)
            left -= len(chunk)
        self._send(200, {"bytes": length, "sha256": digest.hexdigest(), "instance": NONCE, "trace": self._trace()})

    def _drain(self, length):
        """Read a refused body to its end, so the proxy sees the answer, not a reset."""
        while length > 0:
            chunk = self.rfile.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)

    def _send(self, status, payload):
        data = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s trace=%s %s\n" % (self.address_string(), self._trace(), fmt % args))


if __name__ == "__main__":
    print(f"report-api listening on :{PORT} (uploads up to {MAX_UPLOAD_MB} MiB)", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
