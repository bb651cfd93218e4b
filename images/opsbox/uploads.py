"""uploads: a small upload service (Python standard library only).

    POST /upload?name=NAME   store the request body as UPLOAD_DIR/NAME (201, JSON with size and sha256)
    GET  /files/NAME         the stored file
    GET  /healthz            200 "ok"

With READ_ONLY=1 it only serves files (the publisher: another user reading what the upload
service wrote). Each request is logged to LOG_FILE (appended; reopened on SIGHUP, for log
rotation) or to standard output. A failed write answers 507 (no space) or 500 with the
operating system's error, the way a real service would.
"""

import errno
import hashlib
import json
import os
import re
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

UPLOAD_DIR = os.environ.get("UPLOAD_DIR", "/srv/uploads")
LOG_FILE = os.environ.get("LOG_FILE", "")
PORT = int(os.environ.get("PORT", "8000"))
READ_ONLY = os.environ.get("READ_ONLY", "") == "1"
VERBOSE = os.environ.get("LOG_VERBOSE", "") == "1"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
MAX_BODY = 64 * 1024 * 1024

_log = None


def _open_log(*_):
    global _log
    if not LOG_FILE:
        return
    try:
        fresh = open(LOG_FILE, "a", buffering=1, encoding="utf-8")
    except OSError as err:
        print(f"uploads: cannot open log {LOG_FILE}: {err}", file=sys.stderr, flush=True)
        return
    old, _log = _log, fresh
    if old is not None:
        old.close()


def log(line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    text = f"{stamp} {line}\n"
    if _log is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        _log.write(text)
    except OSError as err:
        print(f"uploads: cannot write log {LOG_FILE}: {err}", file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "uploads/1.4"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body, kind="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        extra = f" agent={self.headers.get('User-Agent', '-')!r} headers={dict(self.headers)!r}" if VERBOSE else ""
        log(f"{self.client_address[0]} {self.command} {self.path} {status} {len(data)}{extra}")

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self._send(200, b"ok\n", "text/plain")
        if url.path.startswith("/files/"):
            name = url.path[len("/files/"):]
            if not NAME.match(name):
                return self._send(400, {"error": "bad file name"})
            try:
                with open(os.path.join(UPLOAD_DIR, name), "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                return self._send(404, {"error": f"no file {name}"})
            except OSError as err:
                log(f"ERROR reading {name}: {err}")
                return self._send(500, {"error": f"cannot read {name}: {err.strerror}"})
            return self._send(200, data, "application/octet-stream")
        return self._send(404, {"error": "not found"})

    def do_POST(self):
        url = urlsplit(self.path)
        if READ_ONLY or url.path != "/upload":
            return self._send(404, {"error": "not found"})
        name = (parse_qs(url.query).get("name") or [""])[0]
        if not NAME.match(name):
            return self._send(400, {"error": "give a file name: /upload?name=NAME"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._send(413, {"error": "too large"})
        data = self.rfile.read(length)
        path = os.path.join(UPLOAD_DIR, name)
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except OSError as err:
            try:
                os.unlink(path)
            except OSError:
                pass
            log(f"ERROR storing {name} ({length} bytes): [Errno {err.errno}] {err.strerror}")
            status = 507 if err.errno in (errno.ENOSPC, errno.EDQUOT) else 500
            return self._send(status, {"error": f"cannot store {name}: {err.strerror}"})
        return self._send(201, {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def main():
    _open_log()
    signal.signal(signal.SIGHUP, _open_log)
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    role = "publisher (read-only)" if READ_ONLY else "uploads"
    print(f"{role}: serving {UPLOAD_DIR} on port {PORT} as uid {os.getuid()}", flush=True)
    log(f"{role} started on port {PORT}")
    server.serve_forever()


if __name__ == "__main__":
    main()
