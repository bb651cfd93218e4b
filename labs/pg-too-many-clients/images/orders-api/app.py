"""orders-api: the order summary the shop's dashboards poll.

GET /api/orders/summary?ref=REF
    JSON: the number of orders, their total, and proof = md5("REF:<count>") computed by
    PostgreSQL (the report query takes a few hundred milliseconds). 503 when no database
    connection can be had.
GET /healthz
    "ok" (the process is up; it does not touch the database)

Connections come from a small pool of the app's own, configured in /etc/orders-api/orders.ini
([database] and [pool]); the password from ORDERS_DB_PASSWORD. Every request is logged with
its status and, on failure, what the database said.
"""

import configparser
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

PORT = int(os.environ.get("APP_PORT", "8000"))
CONFIG = os.environ.get("ORDERS_CONFIG", "/etc/orders-api/orders.ini")
REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SUMMARY = "SELECT count(*), coalesce(sum(total_cents), 0), md5(%s || ':' || count(*)), pg_sleep(0.3)::text FROM orders"


class PoolTimeout(Exception):
    pass


class Pool:
    """A minimal connection pool: reuse idle connections, open new ones up to max_size (0: no
    limit), close those idle for longer than idle_timeout seconds (0: never)."""

    def __init__(self, dsn: dict, max_size: int, idle_timeout: float, acquire_timeout: float):
        self.dsn, self.max_size, self.idle_timeout, self.acquire_timeout = dsn, max_size, idle_timeout, acquire_timeout
        self.idle: list[tuple[float, object]] = []
        self.open = 0
        self.cond = threading.Condition()
        if idle_timeout > 0:
            threading.Thread(target=self._reap, daemon=True).start()

    def acquire(self):
        deadline = time.monotonic() + self.acquire_timeout
        with self.cond:
            while True:
                if self.idle:
                    return self.idle.pop()[1]
                if self.max_size <= 0 or self.open < self.max_size:
                    self.open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolTimeout(f"no free connection within {self.acquire_timeout:g} s ({self.open} open, pool max {self.max_size})")
                self.cond.wait(left)
        try:
            conn = psycopg2.connect(**self.dsn, connect_timeout=5, application_name="orders-api")
            conn.autocommit = True
            return conn
        except Exception:
            self._forget()
            raise

    def release(self, conn, broken: bool = False):
        if broken or conn.closed:
            try:
                conn.close()
            finally:
                self._forget()
            return
        with self.cond:
            self.idle.append((time.monotonic(), conn))
            self.cond.notify()

    def _forget(self):
        with self.cond:
            self.open -= 1
            self.cond.notify()

    def _reap(self):
        while True:
            time.sleep(max(0.5, min(self.idle_timeout / 2, 5)))
            now = time.monotonic()
            with self.cond:
                stale = [c for t, c in self.idle if now - t > self.idle_timeout]
                self.idle = [(t, c) for t, c in self.idle if now - t <= self.idle_timeout]
                self.open -= len(stale)
                self.cond.notify_all()
            for conn in stale:
                try:
                    conn.close()
                except Exception:
                    pass


def load_pool() -> Pool:
    config = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    if not config.read(CONFIG):
        sys.exit(f"orders-api: cannot read {CONFIG}")
    db, pool = config["database"], config["pool"]
    dsn = {
        "host": db.get("host", "db"), "port": db.getint("port", 5432), "dbname": db.get("dbname", "shop"),
        "user": db.get("user", "orders_app"), "password": os.environ.get("ORDERS_DB_PASSWORD", ""),
    }
    made = Pool(dsn, pool.getint("max_size", 10), pool.getfloat("idle_timeout", 60), pool.getfloat("acquire_timeout", 15))
    print(f"orders-api: database {dsn['user']}@{dsn['host']}:{dsn['port']}/{dsn['dbname']}, pool max_size={made.max_size} "
          f"idle_timeout={made.idle_timeout:g} acquire_timeout={made.acquire_timeout:g}", flush=True)
    return made


POOL = load_pool()


def summary(ref: str) -> dict:
    for attempt in (1, 2):
        conn = POOL.acquire()
        try:
            with conn.cursor() as cur:
                cur.execute(SUMMARY, (ref,))
                count, total, proof, _ = cur.fetchone()
            POOL.release(conn)
            return {"ref": ref, "orders": count, "total_cents": int(total), "proof": proof}
        except psycopg2.OperationalError:
            POOL.release(conn, broken=True)
            if attempt == 2:
                raise  # a pooled connection may have been closed by the server: retry once on a fresh one
    raise AssertionError("unreachable")


class Handler(BaseHTTPRequestHandler):
    server_version = "orders-api/3.1"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path, _, query = self.path.partition("?")
        note = ""
        if path == "/healthz":
            status, body = 200, "ok\n"
        elif path == "/api/orders/summary":
            ref = dict(p.partition("=")[::2] for p in query.split("&") if p).get("ref", "none")
            if not REF.match(ref):
                status, body = 400, json.dumps({"error": "ref must be 1-64 letters, digits, - or _"}) + "\n"
            else:
                try:
                    status, body = 200, json.dumps(summary(ref)) + "\n"
                except (psycopg2.Error, PoolTimeout) as err:
                    note = " ".join(str(err).split())[:300] or type(err).__name__
                    status, body = 503, json.dumps({"error": "database unavailable", "detail": note}) + "\n"
        else:
            status, body = 404, json.dumps({"error": "not found"}) + "\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if path != "/healthz" else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        self._note = note

    def log_request(self, code="-", size="-"):
        note = getattr(self, "_note", "")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sys.stdout.write(f"{stamp} GET {self.path.split('?', 1)[0]} {code}{' ' + note if note else ''}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: a rush of dashboards must queue, not be dropped


if __name__ == "__main__":
    Server(("0.0.0.0", PORT), Handler).serve_forever()
