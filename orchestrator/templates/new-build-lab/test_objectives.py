"""Objectives for __LAB_ID__ (a build lab): each test is one objective of `labs check`.

Stages group objectives (``@pytest.mark.stage("id")``, ids from lab.yaml). Probe behaviour
from outside (a real request through the published port) so that any valid build passes,
and prove it lasts by restarting every service. See docs/authoring.md.
"""

import pytest

WEB_PORT = 80


def _page_problem(lab):
    resp = lab.http("web", WEB_PORT, "/")
    if resp.status != 200:
        return f"GET / got {resp.describe()} — which site does nginx serve on port {WEB_PORT}?"
    if f"Release {lab.values['release']}" not in resp.body:
        return f"GET / answered, but not with the release page from your workspace ({resp.describe()})"
    return None


def _health_problem(lab):
    resp = lab.http("web", WEB_PORT, "/healthz")
    if resp.status != 200:
        return f"GET /healthz got {resp.describe()} — the load balancer needs a 200 there"
    return None


@pytest.mark.stage("serve")
def test_release_page_served(lab):
    """The release page is served on the published port"""
    problem = _page_problem(lab)
    assert problem is None, problem


@pytest.mark.stage("serve")
def test_health_endpoint(lab):
    """/healthz answers 200 for the load balancer"""
    problem = _health_problem(lab)
    assert problem is None, problem


@pytest.mark.stage("persist")
@pytest.mark.budget(30)
def test_survives_restart(lab):
    """Both still work after every service restarts"""
    before = _page_problem(lab) or _health_problem(lab)
    assert before is None, f"not served yet, so nothing to keep: {before}"
    lab.restart("web")
    after = lab.wait_for(lambda: (_page_problem(lab) or _health_problem(lab)) is None, what="waiting for nginx to come back", seconds=10, every=0.3)
    assert after, f"after a restart: {_page_problem(lab) or _health_problem(lab)} — a change made only in the running nginx is lost on restart"
