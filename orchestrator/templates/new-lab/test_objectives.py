"""Objectives for __LAB_ID__: each test function is one objective of `labs check`.

- The docstring's first line is what the learner reads; the assertion message is the
  verdict when it fails: what the probe saw, and where to look. Never the command that
  fixes it (that is what hints are for).
- Test behaviour, the way users meet the service (a real request through the published
  port), so any valid fix passes; add a guard objective only to refuse fixes that are
  wrong (here: a world-writable page).
- Trust nothing inside the containers: the learner is root there. The ``lab`` fixture's
  probes do not depend on it: ``lab.http`` (a real request from outside),
  ``lab.read_file``/``lab.walk`` (files read through the engine: mode, owner, ACLs),
  ``lab.probe`` (a tool run from a pristine image), ``lab.integrity`` (binaries as the image
  shipped them), ``lab.restart_all`` (nothing hand-started survives). See docs/authoring.md.
- Checks must fail right after `labs start`, pass after `labs solve`, fail for every file in
  shortcuts/ (known wrong fixes), and need no internet.
"""

from checks import eventually  # poll a probe for a short grace period (after a restart)

WEB_PORT = 80  # the container port; lab.http finds the host port it is published on
PAGE = "/srv/status/index.html"


def _page_problem(lab):
    """GET / through the published port; return what is wrong, or None."""
    resp = lab.http("web", WEB_PORT, "/")
    if resp.status is None:
        return f"GET / got {resp.describe()}: nothing answers on port {WEB_PORT} of the web container — which port does nginx listen on, and which file says so?"
    if resp.status != 200:
        return f"GET / got {resp.describe()} — look at /var/log/nginx/status.error.log in the web container"
    if lab.values["page_token"] not in resp.body:
        return f"GET / answered 200 but not with this lab's status page ({resp.describe()}) — the site must serve {PAGE}"
    return None


def test_page_served(lab):
    """The status page is served on the published port"""
    problem = _page_problem(lab)
    assert problem is None, problem


def test_page_not_world_writable(lab):
    """The status page is not writable by everyone"""
    page = lab.read_file("web", PAGE)  # through the engine: no command runs in the container
    assert page is not None, f"{PAGE} is gone from the web container (`labs reset` starts over)"
    assert not page.mode & 0o002, f"{PAGE} has mode {page.mode:o}: anyone on the machine can rewrite the status page — readable is enough"


def test_survives_restart(lab):
    """The status page still works after every container restarts"""
    problem = _page_problem(lab)
    if problem is not None:  # not working yet: say so, without blaming persistence
        raise AssertionError(f"the page does not work yet, so persistence is not tested: {problem}")
    lab.restart_all()  # every service: a process started by hand anywhere does not survive
    problem = eventually(lambda: _page_problem(lab))
    assert problem is None, f"after restarting the lab's containers: {problem} (a fix made only in the running nginx is lost on restart)"
