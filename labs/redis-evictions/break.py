"""Break the storefront's session store the way last night's change did (pyinfra deploy).

Three faults at once, all in /etc/redis/redis.conf (Debian's file, edited by hand):

1. The package's default `bind 127.0.0.1 -::1` came back with the new file: Redis
   listens on loopback only, so the app (another host on the lab network) gets
   "connection refused" and every login fails with 503.
2. A memory cap with `maxmemory-policy allkeys-lru`: when the report cache fills
   the 8 MB, Redis evicts whatever was least recently used, sessions included.
3. Persistence off (`save ""`, `appendonly no`), "because snapshots made the box
   swap": whatever is in memory is gone when Redis restarts.

The password (`requirepass`) is this instance's own; the app has it in its environment.
"""

from pyinfra import host
from pyinfra.operations import server

CONF = "/etc/redis/redis.conf"

if host.data.service == "redis":
    password = host.data.values["redis_password"]
    server.shell(
        name="Edit redis.conf: memory cap with allkeys-lru, snapshots off, a password",
        commands=[
            f"sed -i 's|^# save \"\"$|# OPS-1182: snapshots made the box swap during the sale; off until we resize.\\nsave \"\"|' {CONF}",
            f"sed -i 's|^# maxmemory <bytes>$|# maxmemory <bytes>\\n# OPS-1182: cap Redis so the cache cannot take the box down.\\nmaxmemory 8mb|' {CONF}",
            f"sed -i 's|^# maxmemory-policy noeviction$|# maxmemory-policy noeviction\\nmaxmemory-policy allkeys-lru|' {CONF}",
            f"sed -i 's|^# requirepass foobared$|# requirepass foobared\\nrequirepass {password}|' {CONF}",
            f"grep -qx 'save \"\"' {CONF} && grep -qx 'maxmemory 8mb' {CONF} && grep -qx 'maxmemory-policy allkeys-lru' {CONF} && grep -qx 'requirepass {password}' {CONF} && grep -qx 'appendonly no' {CONF} && grep -q '^bind 127.0.0.1 -::1$' {CONF}",
        ],
    )
    server.shell(
        name="Restart Redis with the edited file",
        commands=[
            "pkill -x redis-server; for i in $(seq 50); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done",
            "rm -f /var/lib/redis/dump.rdb; rm -rf /var/lib/redis/appendonlydir",
            "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid",
        ],
    )
