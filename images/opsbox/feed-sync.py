"""feed-sync: the legacy supplier-feed importer (replaced by the new catalogue service).

It locks the shop's catalogue (SHOP_DB) for writing, pulls the supplier feed from its
upstream, and merges it. Its upstream was switched off with the old catalogue, so it retries
in a tight loop until its retry budget is spent, then gives up with an error.
"""

import hashlib
import os
import sqlite3
import sys
import time

DB = os.environ.get("SHOP_DB", "/var/lib/shop/shop.db")
UPSTREAM = os.environ.get("FEED_UPSTREAM", "feeds.legacy-catalogue.internal:7000")
RETRY_SECONDS = float(os.environ.get("FEED_RETRY_SECONDS", "4"))


def pull_feed(attempt: int) -> bytes:
    # The old client library's "connection": it resolves, gets nothing back and retries at
    # once. (The lab never sends traffic anywhere: the failure is simulated.)
    digest = hashlib.sha256(f"{UPSTREAM}/{attempt}".encode()).digest()
    for _ in range(2000):
        digest = hashlib.sha256(digest).digest()
    raise ConnectionError(f"no route to {UPSTREAM}")


print(f"feed-sync: starting (pid {os.getpid()}), locking {DB} for the merge", flush=True)
conn = sqlite3.connect(DB, timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
deadline = time.monotonic() + RETRY_SECONDS
attempt = 0
error = None
while time.monotonic() < deadline:
    attempt += 1
    try:
        pull_feed(attempt)
    except ConnectionError as err:
        error = err
print(f"feed-sync: giving up after {attempt} attempts: {error}", file=sys.stderr, flush=True)
raise SystemExit(1)
