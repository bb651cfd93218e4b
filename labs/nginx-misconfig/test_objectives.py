"""Objectives for nginx-misconfig: the orders site works end to end through the proxy, for good.

Each test is one objective the learner reads in `labs check`. Failure messages
say what the probe saw and where to look, never the command that fixes it.
"""

import hashlib
import re
import secrets

from orchestrator.paths import images_dir

PROXY_PORT = 80  # the proxy's container port, published on 127.0.0.1


def _nginx_says(stderr: str) -> str:
    """nginx's own complaint, without its timestamp and pid prefix."""
    lines = [line for line in stderr.splitlines() if "[emerg]" in line or "[error]" in line] or stderr.strip().splitlines() or ["(no output)"]
    return re.sub(r"^\S+ \S+ (\[\w+\]) \d+#\d+: ", r"\1 ", lines[0])[:240]


def _site_answers(lab):
    """Request the site through the published port with a fresh probe; return a problem or None."""
    probe = secrets.token_hex(8)
    resp = lab.http("proxy", PROXY_PORT, f"/?probe={probe}")
    if resp.status is None:
        return f"GET / through the proxy got {resp.describe()}: nothing is serving behind port 80 of the proxy — look at nginx -t and whether nginx is running"
    if resp.status != 200:
        return f"GET / through the proxy got {resp.describe()} — look at /var/log/nginx/orders.error.log in the proxy"
    expected = hashlib.sha256(f"{lab.nonce}:{probe}".encode()).hexdigest()[:16]
    if lab.nonce not in resp.body or expected not in resp.body:
        return f"GET / answered 200 but not with this instance's live app page (saw {resp.describe()}) — the proxy must pass requests to the app"
    return None


def _stylesheet_served(lab):
    on_disk = lab.host("proxy").file("/srv/orders/static/app.css")
    if not on_disk.exists:
        return "/srv/orders/static/app.css is gone from the proxy container — restore the static files (labs reset starts over)"
    resp = lab.http("proxy", PROXY_PORT, "/static/app.css")
    if resp.status != 200:
        return f"GET /static/app.css got {resp.describe()} — look at how the /static/ location maps URIs to files"
    if resp.body != on_disk.content_string:
        return "GET /static/app.css answered, but not with /srv/orders/static/app.css — look at the /static/ location"
    return None


def test_app_unmodified(lab):
    """The orders app is unmodified and still answers on its own port"""
    app = lab.host("app")
    shipped = hashlib.sha256((images_dir() / "app" / "app.py").read_bytes()).hexdigest()
    running = app.run("sha256sum /srv/app/app.py").stdout.split()[:1]
    assert running == [shipped], "the app's code in the app container differs from the image's — the fix belongs in the proxy, not the app (labs reset starts over)"
    direct = lab.host("proxy").run("curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://app:8000/healthz")
    assert direct.stdout == "200", f"the app did not answer on app:8000 from the proxy (curl said {direct.stdout or direct.stderr.strip()!r}) — is the app container running?"


def test_nginx_config_valid(lab):
    """nginx accepts its configuration (nginx -t passes)"""
    result = lab.host("proxy").run("nginx -t")
    assert result.rc == 0, f"nginx -t fails: {_nginx_says(result.stderr)} — look at the file and line it names"


def test_site_through_proxy(lab):
    """The orders page is served through the proxy on its published port"""
    problem = _site_answers(lab)
    assert problem is None, problem


def test_static_assets(lab):
    """The stylesheet is served from disk under /static/"""
    problem = _stylesheet_served(lab)
    assert problem is None, problem


def test_survives_reload(lab):
    """The site keeps working after an nginx reload"""
    result = lab.host("proxy").run("nginx -s reload")
    assert result.rc == 0, f"nginx -s reload failed: {_nginx_says(result.stderr)} — is nginx running, with a valid config?"
    problem = _site_answers(lab)
    assert problem is None, f"after a reload: {problem}"


def test_survives_restart(lab):
    """The fix survives a restart of the proxy container"""
    lab.restart("proxy")
    problems = [p for p in (_site_answers(lab), _stylesheet_served(lab)) if p]
    assert not problems, f"after restarting the proxy container: {problems[0]} (a fix made only in the running process is lost on restart)"
