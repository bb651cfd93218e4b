"""Shortcut: fix reachability and eviction, leave persistence off.

Sessions are stored and survive the warm-up, but Redis keeps them only in
memory (`save ""`, `appendonly no`): after a restart every customer is logged
out. The restart objective must fail.
"""

from pyinfra import host
from pyinfra.operations import files, server

CONF = "/etc/redis/redis.conf"

if host.data.service == "redis":
    files.replace(name="Listen on every interface", path=CONF, text=r"^bind 127\.0\.0\.1 -::1$", replace="bind 0.0.0.0")
    files.replace(name="Evict only keys with an expiry", path=CONF, text=r"^maxmemory-policy allkeys-lru$", replace="maxmemory-policy volatile-ttl")
    server.shell(
        name="Restart Redis",
        commands=[
            "pkill -x redis-server; for i in $(seq 50); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done",
            "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid",
        ],
    )
