"""Reference solution for redis-evictions (pyinfra deploy). Gives the answer away.

All three fixes go into /etc/redis/redis.conf, where a restart keeps them:

1. listen on the lab network, not only on loopback (the password still guards it);
2. keep the memory cap, but evict only keys that carry an expiry (the report
   cache), never the sessions (`volatile-lru`);
3. persistence back on: the append-only file, plus Debian's default snapshots.

Redis is restarted only when the file changed, so a second run changes nothing.
"""

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

CONF = "/etc/redis/redis.conf"

if host.data.service == "redis":
    changes = [
        files.replace(name="Listen on every interface (password-protected)", path=CONF, text=r"^bind 127\.0\.0\.1 -::1$", replace="bind * -::*"),
        files.replace(name="Evict only keys with an expiry (the cache)", path=CONF, text=r"^maxmemory-policy allkeys-lru$", replace="maxmemory-policy volatile-lru"),
        files.replace(name="Snapshots back to Debian's defaults", path=CONF, text=r'^save ""$', replace="save 3600 1 300 100 60 10000"),
        files.replace(name="Append-only file on", path=CONF, text=r"^appendonly no$", replace="appendonly yes"),
    ]
    server.shell(
        name="Restart Redis with the repaired file",
        commands=[
            "pkill -x redis-server; for i in $(seq 50); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done",
            "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid",
        ],
        _if=any_changed(*changes),
    )
