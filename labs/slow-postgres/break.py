"""Break the shop database the way the maintenance night did (pyinfra deploy).

Loads the `shop` database from the instance's seed (40,000 customers, 1.2
million orders, about 2.4 million order lines), then leaves three faults at
once:

1. Migration "0042" rebuilt `orders` and `order_items` and did not recreate
   the indexes on `orders.customer_id` and `order_items.order_id`: every query
   of the statement endpoint reads a whole table.
2. The app's role `shop_app` carries planner overrides from an old incident
   (`enable_indexscan` and `enable_bitmapscan` off, set with ALTER ROLE): even
   with the right indexes, the app's sessions are planned as sequential scans.
   postgresql.conf and `SHOW` in a superuser session look perfectly normal.
3. A support engineer's psql session sits `idle in transaction` after an
   uncommitted one-row UPDATE on `orders`: it holds a ROW EXCLUSIVE lock, so
   CREATE INDEX (even CONCURRENTLY) on `orders` waits for it forever.
"""

import hashlib
import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"
N_ORDERS = 1_200_000


def generator(name: str, seed: str, ids: str = "") -> str:
    """A generator query from files/, for this instance's seed (letters and digits only)."""
    if not seed.isalnum():
        raise ValueError("the seed must be alphanumeric")
    text = (FILES / f"{name}.sql").read_text(encoding="utf-8")
    return text.replace("__SEED__", f"hashtext('{seed}')::bigint").replace("__IDS__", ids)


def load_sql(seed: str, app_password: str, support_password: str, admin_password: str) -> str:
    every_order = f"generate_series(1, {N_ORDERS})"
    return f"""
\\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- The checks log in over TCP as postgres from pristine probe containers.
ALTER ROLE postgres PASSWORD '{admin_password}';
CREATE ROLE shop_app LOGIN PASSWORD '{app_password}';
COMMENT ON ROLE shop_app IS 'statement-api and the nightly export';
CREATE ROLE support NOLOGIN;
CREATE ROLE m_kowalski LOGIN PASSWORD '{support_password}' IN ROLE support;
CREATE DATABASE shop;
\\connect shop
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL);
INSERT INTO schema_migrations VALUES
  ('0040', 'customers_country', now() - interval '41 days'),
  ('0041', 'orders_channel', now() - interval '12 days'),
  ('0042', 'rebuild_orders_for_invoicing', now() - interval '7 hours');

CREATE TABLE customers (
  id integer PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  country char(2) NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE orders (
  id bigint NOT NULL,
  customer_id integer NOT NULL,
  placed_at timestamptz NOT NULL,
  status text NOT NULL,
  channel text NOT NULL,
  currency char(3) NOT NULL,
  total_cents integer NOT NULL,
  shipping_country char(2) NOT NULL
);
CREATE TABLE order_items (
  id bigint NOT NULL,
  order_id bigint NOT NULL,
  line_no smallint NOT NULL,
  sku text NOT NULL,
  quantity smallint NOT NULL,
  unit_price_cents integer NOT NULL
);
INSERT INTO customers {generator("customers", seed)};
INSERT INTO orders {generator("orders", seed, every_order)};
INSERT INTO order_items {generator("order_items", seed, every_order)};
ALTER TABLE orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE order_items ADD CONSTRAINT order_items_pkey PRIMARY KEY (id);
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
VACUUM ANALYZE customers, orders, order_items;

GRANT CONNECT ON DATABASE shop TO shop_app, support;
GRANT SELECT ON customers, orders, order_items TO shop_app, support;
GRANT UPDATE (status) ON orders TO support;

-- Left over from an old incident: "make the nightly export stop using indexes".
ALTER ROLE shop_app SET enable_indexscan = off;
ALTER ROLE shop_app SET enable_bitmapscan = off;
SELECT pg_stat_statements_reset();
"""


if host.data.service == "db":
    values = host.data.values
    seed = values["seed"]
    digest = hashlib.sha256(f"{values['nonce']}:{seed}".encode()).hexdigest()
    support_password = digest[:24]
    stuck_order = 1_100_000 + int(digest[24:32], 16) % 90_000

    files.put(
        name="Statement statistics for the shop (pg_stat_statements)",
        src=io.StringIO("shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = top\n"),
        dest="/etc/postgresql/15/main/conf.d/20-observability.conf",
        mode="644",
    )
    server.shell(
        name="Restart PostgreSQL with the statistics library",
        commands=["pg_ctlcluster 15 main restart"],
    )
    files.put(
        name="Shop database script",
        src=io.StringIO(load_sql(seed, values["db_password"], support_password, values["admin_password"])),
        dest="/tmp/labs-shop.sql",
        mode="644",
    )
    server.shell(
        name="Load the shop database (migration 0042 left it without its indexes)",
        commands=[
            "runuser -u postgres -- psql -X -q -f /tmp/labs-shop.sql >/tmp/labs-shop.log 2>&1 || { cat /tmp/labs-shop.log >&2; exit 1; }",
            "rm -f /tmp/labs-shop.sql /tmp/labs-shop.log",
        ],
        _timeout=600,  # 3.6 M rows: far longer than one command's default on a busy machine
    )
    # The support engineer's "quick refund" from yesterday, never committed:
    # their psql ran the UPDATE and then sat in a shell escape, so the session
    # stays open, idle in transaction, holding its locks.
    session = (
        "BEGIN;\n"
        f"/* SUP-2231 refund approved by finance */ UPDATE orders SET status = 'refunded' WHERE id = {stuck_order};\n"
        "\\! sleep infinity\n"
    )
    files.put(name="The support engineer's psql input", src=io.StringIO(session), dest="/tmp/sup-2231.sql", mode="600")
    server.shell(
        name="Leave a support session open in its transaction",
        commands=[
            f"PGPASSWORD={support_password} setsid psql -h 127.0.0.1 -U m_kowalski shop </tmp/sup-2231.sql >/dev/null 2>&1 &",
            "for i in $(seq 100); do "
            "n=$(runuser -u postgres -- psql -XAt -d shop -c \"SELECT count(*) FROM pg_stat_activity WHERE usename = 'm_kowalski' AND state = 'idle in transaction'\"); "
            "[ \"$n\" = 1 ] && break; sleep 0.1; done; rm -f /tmp/sup-2231.sql; [ \"$n\" = 1 ] || { echo 'the support session did not open' >&2; exit 1; }",
        ],
    )
