"""session-app: the storefront's login sessions and report cache, kept in Redis.

POST /api/login         JSON {"user": ..., "note": ...}: a new session; the answer carries
                        its id and sets the cookie `sid`. Sessions live until logout, so
                        they are stored without an expiry (key session:<id>).
GET  /api/me            the session named by the `sid` cookie: 200 with its JSON, 401 when
                        Redis no longer has it ("logged out"), 503 when Redis cannot answer.
POST /api/logout        ends the session.
GET  /api/report/<n>    report n (about 256 KiB), cached for ten minutes (key cache:report:<n>).
POST /api/cache/warm?count=N
                        builds and caches reports 1..N (N <= 400), like the nightly warm-up.
GET  /healthz           "ok" (the process is up; it does not touch Redis)

Redis comes from REDIS_HOST, REDIS_PORT and REDIS_PASSWORD. Every request is logged to
stdout with its status and, on failure, what Redis said.
"""

import hashlib
import json
import os
import re
import secrets
import sys
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PORT = int(os.environ.get("APP_PORT", "8000"))
REPORT_TTL = 600
REPORT_BYTES = 256 * 1024
MAX_WARM = 400
REPORT = re.compile(r"^/api/report/(\d{1,6})$")

_pool = redis.ConnectionPool(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    password=os.environ.get("REDIS_PASSWORD") or None,
    socket_timeout=3,
    socket_connect_timeout=3,
    decode_responses=True,
)


def db() -> redis.Redis:
    return redis.Redis(connection_pool=_pool)


def build_report(n: int) -> str:
    """A deterministic report body of about REPORT_BYTES (the expensive part, in real life)."""
    block = "".join(f"{i:04d},{hashlib.sha256(f'report-{n}-{i}'.encode()).hexdigest()[:43]},{n}\n" for i in range(64))
    return f"report {n}\n" + block * (REPORT_BYTES // len(block))


class Handler(BaseHTTPRequestHandler):
    server_version = "session-app/1.4"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return self._send(200, "ok\n", "text/plain")
        if path == "/api/me":
            return self._guard(self._me)
        if match := REPORT.match(path):
            return self._guard(lambda: self._report(int(match.group(1))))
        return self._json(404, {"error": "not found"})

    def do_POST(self):
        path, _, query = self.path.partition("?")
        if path == "/api/login":
            return self._guard(self._login)
        if path == "/api/logout":
            return self._guard(self._logout)
        if path == "/api/cache/warm":
            count = re.search(r"(?:^|&)count=(\d{1,4})(?:&|$)", query)
            return self._guard(lambda: self._warm(min(int(count.group(1)) if count else 50, MAX_WARM)))
        return self._json(404, {"error": "not found"})

    # --- routes -----------------------------------------------------------------------------

    def _login(self):
        try:
            body = json.loads(self._body() or b"{}")
            user, note = str(body["user"])[:64], str(body.get("note", ""))[:256]
        except (ValueError, KeyError, TypeError):
            return self._json(400, {"error": "expected JSON {\"user\": ..., \"note\": ...}"})
        sid = secrets.token_urlsafe(18)
        session = {"user": user, "note": note, "created": datetime.now(timezone.utc).isoformat()}
        db().set(f"session:{sid}", json.dumps(session))
        return self._json(200, {"session": sid, **session}, cookie=f"sid={sid}; Path=/; HttpOnly")

    def _me(self):
        sid = self._sid()
        raw = db().get(f"session:{sid}") if sid else None
        if raw is None:
            return self._json(401, {"error": "no session: please log in again"})
        return self._json(200, json.loads(raw))

    def _logout(self):
        sid = self._sid()
        if sid:
            db().delete(f"session:{sid}")
        return self._json(200, {"logged_out": bool(sid)})

    def _report(self, n: int):
        key = f"cache:report:{n}"
        conn = db()
        body = conn.get(key)
        cached = body is not None
        if not cached:
            body = build_report(n)
            try:
                conn.set(key, body, ex=REPORT_TTL)
            except redis.exceptions.ResponseError as err:
                # A cache that cannot take more is not fatal for one report: serve it uncached.
                self.log_note = f"cache write refused: {err}"
        return self._send(200, body, "text/csv", extra={"X-Cache": "hit" if cached else "miss"})

    def _warm(self, count: int):
        conn = db()
        written, refused = 0, None
        for n in range(1, count + 1):
            try:
                conn.set(f"cache:report:{n}", build_report(n), ex=REPORT_TTL)
                written += 1
            except redis.exceptions.ResponseError as err:
                refused = str(err)
                break
        if refused:
            return self._json(507, {"warmed": written, "requested": count, "error": refused})
        return self._json(200, {"warmed": written, "requested": count})

    # --- plumbing ---------------------------------------------------------------------------

    def _guard(self, route):
        self.log_note = ""
        try:
            return route()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            self.log_note = f"redis unreachable: {err}"
            return self._json(503, {"error": "session store unavailable", "detail": str(err)[:200]})
        except redis.exceptions.ResponseError as err:
            self.log_note = f"redis refused: {err}"
            return self._json(503, {"error": "session store refused the request", "detail": str(err)[:200]})

    def _sid(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "sid" and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", value):
                return value
        return None

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, 64 * 1024)) if length else b""

    def _json(self, status: int, payload: dict, cookie: str | None = None):
        return self._send(status, json.dumps(payload) + "\n", "application/json", extra={"Set-Cookie": cookie} if cookie else None)

    def _send(self, status: int, body: str, content_type: str, extra: dict | None = None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_request(self, code="-", size="-"):
        note = getattr(self, "log_note", "")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sys.stdout.write(f"{stamp} {self.command} {self.path.split('?', 1)[0]} {code}{' ' + note if note else ''}\n")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()
