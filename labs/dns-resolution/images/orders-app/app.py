"""orders-app: records orders in the orders database, which it reaches by name.

POST /orders   (or GET /orders/new)  records an order carrying the request's X-Trace-Id
               (or ?trace=) and answers JSON: the new row's id, the trace id, this
               instance, the database host name it used and the server's address.
               503 with the database error when the database cannot be reached.
GET  /healthz  "ok" (the process is up; it does not touch the database)
The database comes from the libpq environment (PGHOST, PGDATABASE, PGUSER, PGPASSWORD).
Every request is logged to stdout (the container's log).
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg2

NONCE = os.environ.get("LAB_NONCE", "unset")
PORT = int(os.environ.get("APP_PORT", "8000"))


def record(trace: str) -> dict:
    with psycopg2.connect("") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (trace) VALUES (%s) RETURNING id, host(inet_server_addr())", (trace,))
        row_id, server = cur.fetchone()
    conn.close()
    return {"id": row_id, "trace": trace, "instance": NONCE, "db_host": os.environ.get("PGHOST", ""), "db_server": server}


class Handler(BaseHTTPRequestHandler):
    server_version = "orders-app/3.2"

    def _order(self):
        url = urlsplit(self.path)
        trace = (self.headers.get("X-Trace-Id") or parse_qs(url.query).get("trace", ["-"])[0])[:80]
        try:
            self._send(200, record(trace))
        except psycopg2.Error as err:
            self._send(503, {"error": f"database unavailable: {str(err).strip()}", "db_host": os.environ.get("PGHOST", "")})
        print(f"order trace={trace}", flush=True)

    def do_POST(self):
        if urlsplit(self.path).path == "/orders":
            return self._order()
        self._send(404, {"error": "not found"})

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/healthz":
            return self._send(200, {"status": "ok"})
        if path == "/orders/new":
            return self._order()
        self._send(404, {"error": "not found"})

    def _send(self, status, payload):
        data = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write("%s - %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    print(f"orders-app listening on :{PORT}, database {os.environ.get('PGHOST')}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
