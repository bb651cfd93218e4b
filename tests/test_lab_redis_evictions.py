"""The redis-evictions lab end to end on the real engine, through the real `labs` command.

Broken → logins, the cap and memory pressure fail → the reference solution passes
and is idempotent; two other valid repairs (no bind line with volatile-ttl and
snapshots; CONFIG SET persisted with CONFIG REWRITE) pass; every shortcut fails.
"""

from __future__ import annotations

import pytest
from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "redis-evictions"
RESTART_REDIS = (
    "pkill -x redis-server; for i in $(seq 80); do pgrep -x redis-server >/dev/null || break; sleep 0.1; done; "
    "runuser -u redis -- redis-server /etc/redis/redis.conf --daemonize yes --pidfile /run/redis/redis-server.pid"
)
CLI = "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' /etc/redis/redis.conf) redis-cli --no-auth-warning"


@pytest.fixture
def flow(labs, lab_instance, instance_name):
    return LabDriver(labs, LAB, instance_name, lab_instance)


def test_no_bind_line_volatile_ttl_and_snapshots_pass(flow):
    flow.alternative_passes([("redis", (
        "sed -i -e '/^bind 127.0.0.1 -::1$/d' -e 's/^maxmemory-policy allkeys-lru$/maxmemory-policy volatile-ttl/' "
        "-e 's/^save \"\"$/save 60 1/' /etc/redis/redis.conf && " + RESTART_REDIS
    ))])


def test_config_set_then_rewrite_passes(flow):
    flow.alternative_passes([("redis", (
        f"{CLI} CONFIG SET bind '* -::*' && {CLI} CONFIG SET maxmemory-policy volatile-lfu && {CLI} CONFIG SET maxmemory 32mb && "
        f"{CLI} CONFIG SET appendonly yes && {CLI} CONFIG REWRITE"
    ))])


