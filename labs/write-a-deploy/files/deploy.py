"""The orders web server, from a bare Debian host: the orders app as its own user under runit,
nginx (also under runit) serving the site and proxying /api/ to the app. Run it with
`pyinfra -y inventory.py deploy.py` from /workspace; a second run changes nothing."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, runit, server
from pyinfra.operations.util import any_changed

TOKEN = host.data.orders_token
PORT = int(host.data.orders_port)
SERVER_NAME = host.data.server_name
SVDIR = "/etc/service"  # what runsvdir supervises on this host

# --- the app, as its own user, supervised
server.group(name="orders group", group="orders", system=True)
server.user(name="orders user", user="orders", group="orders", system=True, shell="/usr/sbin/nologin")
files.directory(name="App folder", path="/opt/orders", user="root", group="root", mode="755")
app = files.put(name="App code", src="files/orders.py", dest="/opt/orders/orders.py", user="root", group="root", mode="644")
files.directory(name="Config folder", path="/etc/orders", user="root", group="orders", mode="750")
config = files.put(name="App config", src=StringIO(f"port = {PORT}\ntoken = {TOKEN}\n"),
                   dest="/etc/orders/orders.conf", user="root", group="orders", mode="640")
files.directory(name="App service", path="/etc/sv/orders", mode="755")
run = files.put(name="App run script", src=StringIO(
    "#!/bin/sh\nexec 2>&1\nexec chpst -u orders:orders python3 -u /opt/orders/orders.py\n"),
    dest="/etc/sv/orders/run", mode="755")
runit.service(name="App supervised and running", service="orders", running=True, enabled=True, svdir=SVDIR)
runit.service(name="Restart the app on change", service="orders", restarted=True, svdir=SVDIR,
              _if=any_changed(app, config, run))

# --- nginx in front, supervised
files.directory(name="Site folder", path="/srv/orders", mode="755")
page = files.template(name="Front page", src="files/index.html.j2", dest="/srv/orders/index.html",
                      mode="644", server_name=SERVER_NAME)
site = files.template(name="nginx site", src="files/orders-site.j2", dest="/etc/nginx/sites-available/orders",
                      mode="644", server_name=SERVER_NAME, port=PORT)
enabled = files.link(name="Enable the site", path="/etc/nginx/sites-enabled/orders",
                     target="/etc/nginx/sites-available/orders")
files.directory(name="nginx service", path="/etc/sv/nginx", mode="755")
nginx_run = files.put(name="nginx run script", src=StringIO(
    "#!/bin/sh\nexec 2>&1\nexec nginx -g 'daemon off;'\n"), dest="/etc/sv/nginx/run", mode="755")
runit.service(name="nginx supervised and running", service="nginx", running=True, enabled=True, svdir=SVDIR)
runit.service(name="Reload nginx on change", service="nginx", reloaded=True, svdir=SVDIR,
              _if=any_changed(site, enabled, nginx_run))
