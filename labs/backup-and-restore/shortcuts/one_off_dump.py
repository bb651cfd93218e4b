"""Run the backup once by hand and schedule nothing: /backups holds a good dump, but no new one
ever appears."""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "db":
    server.shell(name="One dump, by hand", commands=[
        "runuser -u postgres -- pg_dump -Fc -d shop -f /backups/shop-$(date -u +%Y%m%d-%H%M%S).dump"])
