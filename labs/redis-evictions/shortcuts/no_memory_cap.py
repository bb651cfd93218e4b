"""Shortcut: remove the memory cap instead of choosing what Redis may evict.

With no maxmemory nothing is ever evicted, so sessions survive the warm-up, but
Redis grows until the kernel kills its container: the cap objective must fail.
Everything else is repaired properly (bind, persistence), in redis.conf.
"""

from pyinfra import host
from pyinfra.operations import files, server

CONF = "/etc/redis/redis.conf"

if host.data.service == "redis":
    files.replace(name="Listen on every interface", path=CONF, text=r"^bind 127\.0\.0\.1 -::1$", replace="bind * -::*")
    files.replace(name="No memory cap", path=CONF, text=r"^maxmemory 8mb$", replace="maxmemory 0")
    files.replace(name="Append-only file on", path=CONF, text=r"^appendonly no$", replace="appendonly yes")
    server.shell(
        name="Restart Redis",
        commands=[
            "pkill -x redis-server; for i in $(seq 50); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done",
            "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid",
        ],
    )
