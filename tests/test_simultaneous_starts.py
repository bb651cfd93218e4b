"""Seats of a classroom started at the same instant: `labs serve` runs each start in a thread of
one process, and every start applies its lab's break with pyinfra. Both must end running, and
each broken by its own deploy, never by the other's.

pyinfra keeps "the current deploy" in one process-wide slot: two deploys at once collected each
other's operations (a seat started unbroken, or its start failed). The lab here is the scaffold
with a break that takes seconds to collect its operations, so the two deploys always overlap.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import Labs
from tests.test_web_browser import Server, finished, seat_link

pytestmark = pytest.mark.docker

LAB = "twin-start"
STEP = 300  # seconds any one step may take on a loaded machine


@pytest.fixture
def twin_lab(tmp_path):
    """The scaffold, its break slow to collect (plain Python runs while pyinfra collects)."""
    from orchestrator.scaffold import new_lab

    folder = new_lab(LAB, tmp_path / "labs")
    deploy = folder / "break.py"
    text = deploy.read_text()
    deploy.write_text(text.replace("from pyinfra import host\n", "import time\n\nfrom pyinfra import host\n\ntime.sleep(3)\n", 1))
    return folder


def test_two_seats_started_at_once_are_each_broken_by_their_own_deploy(engine, twin_lab, tmp_path):
    import httpx

    state = tmp_path / "state"
    state.mkdir()
    cli = Labs(state, env={"LABS_PATH": str(twin_lab.parent)})
    server = Server(state, "--seats", "2", "--lab", LAB, env=cli.env)
    seats = ["seat-1", "seat-2"]
    try:
        browsers = {}
        for number, seat in enumerate(seats, 1):
            token = seat_link(server, number)
            browsers[seat] = httpx.Client(base_url=server.base, follow_redirects=False, timeout=STEP)
            assert browsers[seat].get(f"/join/{token}").status_code == 303
        ops = {seat: browsers[seat].post(f"/api/labs/{LAB}/instances/{seat}/start").json() for seat in seats}  # both at once
        for seat in seats:
            op = finished(browsers[seat], ops[seat], server, STEP)
            assert op["state"] == "done", f"{seat}: {op.get('error')}\n{op.get('lines')}\n{server.output()[-3000:]}"

        for seat in seats:
            # Its own page, from its own values: the break ran in this seat, for this seat.
            network = engine.networks.list(filters={"label": [f"io.labs.instance={LAB}.{seat}"]})
            assert len(network) == 1, network
            token = json.loads(network[0].attrs["Labels"]["io.labs.values"])["page_token"]
            page = cli("shell", LAB, "--instance", seat, "--", "cat", "/srv/status/index.html", timeout=STEP)
            assert page.returncode == 0, page.stdout + page.stderr
            assert f"page {token}" in page.stdout, (seat, page.stdout)
            mode = cli("shell", LAB, "--instance", seat, "--", "stat", "-c", "%a %U", "/srv/status/index.html", timeout=STEP)
            assert mode.stdout.split() == ["600", "root"], mode.stdout + mode.stderr  # the fault this break leaves
            checked = browsers[seat].post(f"/api/labs/{LAB}/instances/{seat}/check")
            assert checked.status_code == 200, checked.text
            objectives = {o["id"]: o["passed"] for o in checked.json()["objectives"]}
            assert objectives and not all(objectives.values()), objectives  # broken as started
        assert "Traceback" not in server.output(), server.output()
    finally:
        server.stop()
        for seat in seats:
            cli("stop", LAB, "--instance", seat, timeout=STEP)
