"""Prepare the database server as the ticket finds it: the shop database with this instance's
customers and orders, a superuser password for the ops tooling, an empty /backups, and the
ticket's README in the workspace. No backup exists and nothing is scheduled."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "db":
    values = host.data.values
    files.put(name="The shop schema and data", src=str(FILES / "shop.sql"), dest="/var/lib/postgresql/shop.sql", mode="644")
    files.put(
        name="This instance's own customer",
        src=StringIO(f"INSERT INTO customers (name, email) VALUES ('Instance {values['token']}', '{values['token']}@example.test');\n"),
        dest="/var/lib/postgresql/instance.sql",
        mode="644",
    )
    server.shell(
        name="Create the shop database",
        commands=[
            "runuser -u postgres -- createdb shop",
            "runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d shop -f /var/lib/postgresql/shop.sql",
            "runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d shop -f /var/lib/postgresql/instance.sql",
            f"runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \"ALTER ROLE postgres PASSWORD '{values['pg_password']}'\"",
            "rm -f /var/lib/postgresql/shop.sql /var/lib/postgresql/instance.sql",
        ],
    )
    files.directory(name="Where the dumps go", path="/backups", user="postgres", group="postgres", mode="750")
    files.directory(name="The learner's workspace", path="/workspace", mode="755")
    files.put(name="The ticket's README", src=str(FILES / "README"), dest="/workspace/README", mode="644")
