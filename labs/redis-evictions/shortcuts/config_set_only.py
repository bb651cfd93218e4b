"""Shortcut: repair only the running Redis with CONFIG SET, leave redis.conf as it is.

Logins, eviction and the append-only file all work until Redis restarts; then
the file's loopback bind, allkeys-lru and disabled persistence come back and the
sessions are gone. The restart objective must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "redis":
    cli = f"REDISCLI_AUTH={host.data.values['redis_password']} redis-cli --no-auth-warning"
    server.shell(
        name="CONFIG SET on the running server only",
        commands=[
            f"{cli} CONFIG SET bind '* -::*'",
            f"{cli} CONFIG SET maxmemory-policy volatile-lru",
            f"{cli} CONFIG SET appendonly yes",
        ],
    )
