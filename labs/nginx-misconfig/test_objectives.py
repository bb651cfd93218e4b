"""Objectives for nginx-misconfig: the orders site works end to end through the proxy, for good.

Each test is one objective the learner reads in `labs check`. Failure messages say what the
probe saw and where to look, never the command that fixes it.

The learner is root in both containers, so nothing here trusts them: nginx -t runs from the
pristine nginx image on a copy of the proxy's /etc/nginx; the stylesheet is compared with the
file this lab ships, and a pristine nginx on the proxy's configuration must serve a brand-new
file of the static folder; the app container is compared with its image; every request
carries a fresh trace id that the real app's own log must show; persistence restarts every
container of the lab.
"""

import hashlib
import re
import time

from checks import eventually

PROXY_PORT = 80  # the proxy's container port, published on 127.0.0.1
APP_PORT = 8000  # where the app listens (its image says so)
STATIC_DIR = "/srv/orders/static"
STYLESHEET = f"{STATIC_DIR}/app.css"


def _nginx_says(stderr: str) -> str:
    """nginx's own complaint, without its timestamp and pid prefix."""
    lines = [line for line in stderr.splitlines() if "[emerg]" in line or "[error]" in line] or stderr.strip().splitlines() or ["(no output)"]
    return re.sub(r"^\S+ \S+ (\[\w+\]) \d+#\d+: ", r"\1 ", lines[0])[:240]


def _app_logged(lab, trace: str, since: float) -> bool:
    """Did the app service's own process log a request carrying ``trace``? (The engine's log:
    a process started by hand, or a copy elsewhere, does not write there.)"""
    deadline = time.monotonic() + 3
    while trace not in lab.logs("app", since=since):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _site_problem(lab):
    """Request the site through the published port with a fresh trace id; return a problem or None."""
    trace = lab.trace_id()
    since = time.time() - 5
    resp = lab.http("proxy", PROXY_PORT, f"/?probe={trace}")
    if resp.status is None:
        return f"GET / through the proxy got {resp.describe()}: nothing answers on the proxy's port {PROXY_PORT} — is nginx running, with a configuration it accepts?"
    if resp.status != 200:
        return f"GET / through the proxy got {resp.describe()} — look at /var/log/nginx/orders.error.log in the proxy"
    proof = hashlib.sha256(f"{lab.nonce}:{trace}".encode()).hexdigest()[:16]
    if lab.nonce not in resp.body or proof not in resp.body:
        return f"GET / answered 200 but not with this instance's live app page (saw {resp.describe()}) — the proxy must pass requests to the app"
    if not _app_logged(lab, trace, since):
        return ("GET / answered with the app's page, but the app service's own process never logged that request — "
                "something else answered for it; look at what listens where, in both containers")
    return None


def _stylesheet_problem(lab):
    """GET /static/app.css through the proxy must give the stylesheet this lab ships, and the
    proxy's configuration must serve /static/ from the static folder on disk."""
    truth = (lab.lab_dir / "files" / "app.css").read_bytes()  # the truth: never the file the learner can edit
    resp = lab.http("proxy", PROXY_PORT, "/static/app.css")
    if resp.status is None:
        return f"GET /static/app.css got {resp.describe()}: nothing answers on the proxy's port, so no stylesheet either — nginx is not running (see the objectives above)"
    if resp.status != 200:
        return f"GET /static/app.css got {resp.describe()} — look at how the /static/ location maps URIs to files on disk"
    on_disk = lab.read_file("proxy", STYLESHEET)  # through the engine, symlinks followed
    if on_disk is None or on_disk.kind != "file":
        return f"{STYLESHEET} is gone from the proxy container — the static files must stay where they are (labs reset starts over)"
    if on_disk.content != truth:
        return f"{STYLESHEET} is no longer the orders stylesheet (it was changed or emptied) — labs reset starts over"
    if resp.body.encode() != truth:
        return f"GET /static/app.css answered 200, but not with the orders stylesheet (saw {resp.describe()}) — look at which file the /static/ location serves"
    return _static_mapping_problem(lab)


def _static_mapping_problem(lab):
    """A file that did not exist a second ago, added to a copy of the static folder, must be
    served under /static/ by a pristine nginx running the proxy's configuration: so /static/
    maps to the folder itself (no copy, no pasted answer)."""
    fresh = lab.trace_id()
    script = (
        "rm -rf /etc/nginx && cp -a /probe/nginx /etc/nginx"
        f" && echo {fresh} > {STATIC_DIR}/{fresh}.css && chmod 644 {STATIC_DIR}/{fresh}.css"
        " && nginx 2>&1 >/dev/null || exit 3; "
        f"curl -s --max-time 5 http://127.0.0.1:{PROXY_PORT}/static/{fresh}.css"
    )
    result = lab.probe(["sh", "-c", script], image="nginx", copy={"/probe/nginx": "proxy:/etc/nginx", STATIC_DIR: f"proxy:{STATIC_DIR}"})
    if result.exit_code == 3:
        return f"nginx does not start with the proxy's configuration on disk: {_nginx_says(result.stdout + result.stderr)} — look at the file and line it names"
    if fresh not in result.stdout:
        return (f"the stylesheet answers, but a new file in {STATIC_DIR} is not served under /static/ by the proxy's configuration "
                "(a copy or a fixed answer serves app.css) — look at how the /static/ location maps URIs to files on disk")
    return None


def test_app_unmodified(lab):
    """The orders app is as shipped and still answers on its own port"""
    problems = lab.integrity("app", also=["/srv/app", "/etc"])  # the whole app: code, config, binaries, hooks
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    assert not problems, f"the app container differs from its image: {problems[0]}{more} — the fix belongs in the proxy, not the app (labs reset starts over)"
    direct = lab.probe(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", f"http://app:{APP_PORT}/healthz"], image="probe")
    assert direct.stdout == "200", f"the app does not answer on app:{APP_PORT} from the lab's network (curl said {direct.stdout or direct.stderr.strip()!r}) — is the app container running?"


def test_nginx_config_valid(lab):
    """nginx accepts its configuration (nginx -t passes)"""
    # The pristine nginx binary, on a copy of the proxy's /etc/nginx, in the proxy's network
    # namespace (so upstream names resolve as they do for the proxy): nothing in the proxy runs.
    result = lab.probe(
        ["sh", "-c", "rm -rf /etc/nginx && cp -a /probe/nginx /etc/nginx && exec nginx -t"],
        image="nginx", join="proxy", copy={"/probe/nginx": "proxy:/etc/nginx"},
    )
    assert result.ok, f"nginx -t fails: {_nginx_says(result.stderr)} — look at the file and line it names"


def test_site_through_proxy(lab):
    """The orders page is served by the app, through the proxy on its published port"""
    problem = _site_problem(lab)
    assert problem is None, problem


def test_static_assets(lab):
    """The stylesheet is served from disk under /static/"""
    problem = _stylesheet_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab):
    """The fix survives a restart of every container of the lab"""
    before = [p for p in (_site_problem(lab), _stylesheet_problem(lab)) if p]
    if before:  # not working yet: say what fails, never blame persistence for it
        raise AssertionError(f"the site does not work yet, so persistence is not tested: {before[0]}")
    lab.restart_all()
    problem = eventually(lambda: _site_problem(lab) or _stylesheet_problem(lab))
    assert problem is None, f"after restarting every container of the lab: {problem} (a fix made only in a running process is lost on restart; the configuration on disk is what comes back)"
