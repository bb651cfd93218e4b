"""statement-api: the customer statement the support portal shows.

GET /api/customers/<id>/statement
    JSON: the customer, their order summary, spend per year, and their twenty most
    recent orders with their lines. 404 for an unknown customer, 503 when the
    database cannot answer.
GET /healthz
    "ok" (the process is up; it does not touch the database)
GET /
    a short usage text

The database comes from the libpq environment (PGHOST, PGDATABASE, PGUSER,
PGPASSWORD, PGAPPNAME): one connection per request, autocommit, so no
transaction is ever left open. Every request is logged with its duration to
stdout and to /var/log/statement-api/access.log.
"""

import json
import os
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

PORT = int(os.environ.get("APP_PORT", "8000"))
ACCESS_LOG = os.environ.get("ACCESS_LOG", "/var/log/statement-api/access.log")
STATEMENT_TIMEOUT_MS = 20000
ROUTE = re.compile(r"^/api/customers/(\d{1,9})/statement/?$")

# Revenue counts every order that was not cancelled or refunded.
Q_CUSTOMER = "SELECT id, name, email, country, created_at FROM customers WHERE id = %s"
Q_SUMMARY = (
    "SELECT count(*), coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0), max(placed_at) "
    "FROM orders WHERE customer_id = %s"
)
Q_BY_YEAR = (
    "SELECT extract(year FROM placed_at)::int AS year, count(*), "
    "coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0) "
    "FROM orders WHERE customer_id = %s GROUP BY 1 ORDER BY 1"
)
Q_RECENT = (
    "SELECT id, placed_at, status, channel, total_cents FROM orders "
    "WHERE customer_id = %s ORDER BY placed_at DESC LIMIT 20"
)
Q_ITEMS = "SELECT line_no, sku, quantity, unit_price_cents FROM order_items WHERE order_id = %s ORDER BY line_no"

_log_lock = threading.Lock()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def statement(customer_id: int) -> dict | None:
    conn = psycopg2.connect(connect_timeout=5, options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(Q_CUSTOMER, (customer_id,))
            row = cur.fetchone()
            if row is None:
                return None
            customer = {"id": row[0], "name": row[1], "email": row[2], "country": row[3], "customer_since": row[4].date().isoformat()}
            cur.execute(Q_SUMMARY, (customer_id,))
            count, spend, last = cur.fetchone()
            cur.execute(Q_BY_YEAR, (customer_id,))
            by_year = [{"year": y, "orders": n, "spend_cents": s} for y, n, s in cur.fetchall()]
            cur.execute(Q_RECENT, (customer_id,))
            recent = [
                {"id": oid, "placed_at": _iso(placed), "status": status, "channel": channel, "total_cents": total}
                for oid, placed, status, channel, total in cur.fetchall()
            ]
            # One query per order, as the ORM of the original version did.
            for order in recent:
                cur.execute(Q_ITEMS, (order["id"],))
                order["lines"] = [
                    {"line": line, "sku": sku, "quantity": qty, "unit_price_cents": price}
                    for line, sku, qty, price in cur.fetchall()
                ]
    finally:
        conn.close()
    return {
        "customer": customer,
        "summary": {"orders": count, "lifetime_spend_cents": spend, "last_order_at": _iso(last)},
        "by_year": by_year,
        "recent_orders": recent,
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "statement-api/2.3"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        status = 500
        try:
            if path == "/healthz":
                status = self._send(200, "text/plain", "ok\n")
            elif path == "/":
                status = self._send(200, "text/plain", "statement-api: GET /api/customers/<id>/statement\n")
            elif match := ROUTE.match(path):
                status = self._statement(int(match.group(1)), started)
            else:
                status = self._json(404, {"error": "not found"})
        finally:
            self._log(path, status, (time.perf_counter() - started) * 1000)

    def _statement(self, customer_id: int, started: float) -> int:
        try:
            body = statement(customer_id)
        except psycopg2.Error as err:
            reason = " ".join(str(err).split())[:300] or type(err).__name__
            return self._json(503, {"error": "database unavailable", "detail": reason})
        if body is None:
            return self._json(404, {"error": f"no customer {customer_id}"})
        body["generated_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return self._json(200, body)

    def _json(self, status: int, payload: dict) -> int:
        return self._send(status, "application/json", json.dumps(payload) + "\n")

    def _send(self, status: int, content_type: str, body: str) -> int:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True
        return status

    def _log(self, path: str, status: int, ms: float) -> None:
        line = f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')} {self.client_address[0]} GET {path} {status} {ms:.1f}ms\n"
        with _log_lock:
            sys.stdout.write(line)
            try:
                with open(ACCESS_LOG, "a", encoding="utf-8") as log:
                    log.write(line)
            except OSError:
                pass

    def log_message(self, fmt, *args):
        pass  # _log writes the access log


if __name__ == "__main__":
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()
