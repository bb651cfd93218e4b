"""shop: the shop's price API (Python standard library only), over a SQLite catalogue.

    GET /api/quote?sku=SKU   JSON: the item's name and price, read from SHOP_DB
    GET /healthz             200 "ok" (no database)

It waits for the database as long as SQLite's busy timeout allows (DB_TIMEOUT seconds) when
another process holds a lock on it.
"""

import json
import os
import sqlite3
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DB = os.environ.get("SHOP_DB", "/var/lib/shop/shop.db")
PORT = int(os.environ.get("PORT", "8000"))
TIMEOUT = float(os.environ.get("DB_TIMEOUT", "20"))


class Handler(BaseHTTPRequestHandler):
    server_version = "shop/3.2"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, payload):
        body = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self._send(200, {"ok": True})
        if url.path != "/api/quote":
            return self._send(404, {"error": "not found"})
        sku = (parse_qs(url.query).get("sku") or [""])[0]
        started = time.monotonic()
        try:
            conn = sqlite3.connect(DB, timeout=TIMEOUT)
            try:
                row = conn.execute("SELECT name, price_cents FROM items WHERE sku = ?", (sku,)).fetchone()
            finally:
                conn.close()
        except sqlite3.Error as err:
            print(f"shop: quote {sku}: database error after {time.monotonic() - started:.1f} s: {err}", flush=True)
            return self._send(503, {"error": f"database: {err}"})
        waited = time.monotonic() - started
        if waited > 1:
            print(f"shop: quote {sku} waited {waited:.1f} s for the database", flush=True)
        if row is None:
            return self._send(404, {"error": f"no item {sku}"})
        return self._send(200, {"sku": sku, "name": row[0], "price_cents": row[1]})


print(f"shop: serving {DB} on port {PORT}", flush=True)
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
