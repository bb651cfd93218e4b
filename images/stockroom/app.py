"""stockroom: warehouse stock levels, served from PostgreSQL.

Configuration is read once, at start, from /etc/stockroom/stockroom.env
(STOCKROOM_CONFIG names another file), one KEY=VALUE a line:

    DATABASE_URL=postgresql://USER:PASSWORD@HOST:PORT/DBNAME
    LOG_LEVEL=info        debug, info, warning or error
    LISTEN_PORT=8000

GET /            the stock table as an HTML page
GET /api/items   the stock table as JSON
GET /healthz     "ok" while the process is up (does not touch the database)

Logs go to stdout: under runit that is the container's log.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VERSION = "2.3.1"
CONFIG_PATH = os.environ.get("STOCKROOM_CONFIG", "/etc/stockroom/stockroom.env")
NOTICE = 35  # start-up and shutdown lines: shown at every level but error
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

log = logging.getLogger("stockroom")


def load_config(path: str = CONFIG_PATH) -> dict[str, str]:
    """The settings in ``path``: KEY=VALUE lines; blank lines, comments and ``export`` are ignored."""
    settings: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            settings[key.strip()] = value
    return settings


def redact(url: str) -> str:
    """The URL with its password masked, for log lines."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def connect(url: str):
    """A connection to the database named by ``url`` (as the app opens them)."""
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=3, application_name="stockroom")
    conn.autocommit = True
    return conn


class Database:
    """One shared connection, reopened when the server went away."""

    def __init__(self, url: str):
        self.url = url
        self.conn = None
        self.lock = threading.Lock()

    def _open(self):
        log.debug("connecting to %s", self.url)
        conn = connect(self.url)
        log.info("connected to %s", redact(self.url))
        return conn

    def rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        import psycopg2

        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = self._open()
                    with self.conn.cursor() as cur:
                        cur.execute(sql, args)
                        return cur.fetchall()
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    if self.conn is not None:
                        try:
                            self.conn.close()
                        except Exception:
                            pass
                    self.conn = None
                    if attempt == 2:
                        raise
        return []


DB: Database | None = None


def stock() -> list[dict]:
    rows = DB.rows("SELECT sku, name, qty FROM items ORDER BY sku")
    return [{"sku": sku, "name": name, "qty": qty} for sku, name, qty in rows]


def page(items: list[dict]) -> str:
    lines = "".join(
        f"<tr><td><code>{html.escape(i['sku'])}</code></td><td>{html.escape(i['name'])}</td><td>{i['qty']}</td></tr>"
        for i in items
    )
    return (
        "<!doctype html><html><head><title>Stockroom</title>"
        '<link rel="stylesheet" href="/static/stockroom.css"></head><body>'
        f"<h1>Stockroom</h1><table><tr><th>SKU</th><th>Item</th><th>Qty</th></tr>{lines}</table>"
        f"<footer>stockroom {VERSION}</footer></body></html>\n"
    )


class Handler(BaseHTTPRequestHandler):
    server_version = f"stockroom/{VERSION}"

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send(200, "text/plain", "ok\n")
            return
        if path not in ("/", "/api/items"):
            self._send(404, "text/plain", "not found\n")
            return
        try:
            items = stock()
        except Exception as err:  # the database is down or refuses us
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("database unavailable: %s", reason)
            self._send(503, "text/plain", "stock database unavailable\n")
            return
        if path == "/api/items":
            self._send(200, "application/json", json.dumps({"items": items}) + "\n")
        else:
            self._send(200, "text/html; charset=utf-8", page(items))

    def _send(self, status: int, content_type: str, body: str):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        log.info("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, fmt, *args):
        log.info(fmt, *args)


def main() -> None:
    global DB
    logging.addLevelName(NOTICE, "NOTICE")
    logging.basicConfig(stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    waited = False
    while not os.path.exists(CONFIG_PATH):
        if not waited:
            log.log(NOTICE, "waiting for %s", CONFIG_PATH)
            waited = True
        time.sleep(0.5)
    settings = load_config()
    level = settings.get("LOG_LEVEL", "info").strip().lower()
    log.setLevel(LEVELS.get(level, logging.INFO))
    if level not in LEVELS:
        log.warning("unknown LOG_LEVEL %r, using info", level)
    log.debug("settings from %s:", CONFIG_PATH)
    for key, value in sorted(settings.items()):
        log.debug("  %s=%s", key, value)
    if "DATABASE_URL" not in settings:
        log.error("no DATABASE_URL in %s", CONFIG_PATH)
        sys.exit(1)
    DB = Database(settings["DATABASE_URL"])
    try:
        DB.rows("SELECT 1")
    except Exception as err:
        log.warning("database not reachable yet: %s", str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
    port = int(settings.get("LISTEN_PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    log.log(NOTICE, "stockroom %s listening on :%d (log level %s)", VERSION, port, logging.getLevelName(log.level).lower())
    server.serve_forever()


if __name__ == "__main__":
    main()
