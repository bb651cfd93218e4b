"""Shortcut: stop evictions with `maxmemory-policy noeviction`.

No session is evicted any more, but once the warm-up fills the cap Redis refuses
every write: the warm-up fails and new customers cannot log in. The memory
pressure objective must fail. Bind and persistence are repaired in redis.conf.
"""

from pyinfra import host
from pyinfra.operations import files, server

CONF = "/etc/redis/redis.conf"

if host.data.service == "redis":
    files.replace(name="Listen on every interface", path=CONF, text=r"^bind 127\.0\.0\.1 -::1$", replace="bind * -::*")
    files.replace(name="Never evict", path=CONF, text=r"^maxmemory-policy allkeys-lru$", replace="maxmemory-policy noeviction")
    files.replace(name="Append-only file on", path=CONF, text=r"^appendonly no$", replace="appendonly yes")
    server.shell(
        name="Restart Redis",
        commands=[
            "pkill -x redis-server; for i in $(seq 50); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done",
            "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid",
        ],
    )
