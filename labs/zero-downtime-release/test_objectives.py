"""Objectives for zero-downtime-release (a build lab): each test is one objective of `labs check`.

The check runs the learner's own release script for real, inside the web server (it is theirs
to run), while this machine keeps requesting the shop through nginx's published port and counts
every failed request. What is live is read from the shop's answers (which carry the release and
this instance's token), never from files the script could write.
"""

import http.client
import secrets
import threading
import time

import pytest

SCRIPT = "/workspace/release"
PORT = 80


def _get(lab, timeout: float = 3.0) -> tuple[int | None, str]:
    conn = http.client.HTTPConnection("127.0.0.1", lab.port("web", PORT), timeout=timeout)
    try:
        conn.request("GET", f"/?t={secrets.token_hex(4)}", headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        conn.close()


def _live(lab) -> str | None:
    """The release the shop serves now (None when it does not answer as this instance's shop)."""
    status, body = _get(lab)
    words = body.split()
    if status != 200 or len(words) < 5 or words[:2] != ["shop", "release"] or words[4] != lab.values["token"]:
        return None
    return words[2]


class _Traffic:
    """Requests in a loop from this machine until stopped (bounded to ``limit`` seconds)."""

    def __init__(self, lab, limit: float = 90.0):
        self.lab, self.limit = lab, limit
        self.done, self.failures, self.releases = 0, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            status, body = _get(self.lab)
            self.done += 1
            if status != 200:
                self.failures.append(f"HTTP {status}: {body.strip()[:60]}" if status else body[:80])
            else:
                words = body.split()
                if len(words) > 2 and (not self.releases or self.releases[-1] != words[2]):
                    self.releases.append(words[2])

    def __enter__(self):
        self._thread.start()
        time.sleep(0.5)  # traffic flows before the release begins
        return self

    def __exit__(self, *exc):
        time.sleep(1.0)  # and for a moment after it ends
        self._stop.set()
        self._thread.join(timeout=10)


def _release_under_traffic(lab, release: str) -> str | None:
    """Run the learner's script for ``release`` under traffic; return what went wrong, or None."""
    script = lab.read_file("web", SCRIPT)
    if script is None or script.kind != "file":
        return f"there is no {SCRIPT} yet — the ticket asks for a release script there (see /workspace/README)"
    if not script.mode & 0o100:
        return f"{SCRIPT} is not executable (mode {script.mode:o})"
    if _live(lab) is None:
        return "the shop does not answer through nginx before the release even starts — look at nginx and `appctl status`"
    host = lab.host("web", deadline=60)
    with _Traffic(lab) as traffic:
        run = host.run(f"{SCRIPT} {release}")
    if run.rc != 0:
        said = (run.stderr or run.stdout).strip().splitlines()[-3:]
        return f"`{SCRIPT} {release}` exited with {run.rc}: {' / '.join(said) or '(no output)'}"
    if traffic.failures:
        return (f"{len(traffic.failures)} of {traffic.done} requests failed during the release to {release} "
                f"(first: {traffic.failures[0]}) — customers saw errors while it switched")
    if traffic.done < 10:
        return f"only {traffic.done} requests got through during the release — the shop is too slow to judge it"
    served = _live(lab)
    if served != release:
        return f"after `{SCRIPT} {release}` the shop serves {served or 'nothing recognisable'}, not {release}"
    return None


def _new_release(lab) -> str:
    """A release the check makes: a copy of v2 under a fresh name, so nothing can be prepared for it."""
    name = f"r{secrets.token_hex(3)}"
    made = lab.host("web").run(f"mkdir /srv/releases/{name} && cp /usr/local/share/releasebox/app.py /srv/releases/{name}/app.py")
    assert made.rc == 0, f"could not make a new release to roll forward to: {made.stderr.strip()}"
    return name


@pytest.mark.stage("release")
@pytest.mark.budget(60)
def test_release_v2_without_dropping_requests(lab):
    """Your release script makes v2 live with no failed request"""
    problem = _release_under_traffic(lab, "v2")
    assert problem is None, problem


@pytest.mark.stage("again")
@pytest.mark.budget(60)
def test_rolls_forward_again(lab):
    """It rolls forward again, to a new release the check makes, with no failed request"""
    if _live(lab) != "v2":
        problem = _release_under_traffic(lab, "v2")
        assert problem is None, f"getting to v2 first: {problem}"
    problem = _release_under_traffic(lab, _new_release(lab))
    assert problem is None, f"the second release: {problem}"


@pytest.mark.stage("persist")
@pytest.mark.budget(40)
def test_last_release_survives_restart(lab):
    """The last release is still live after the web server restarts"""
    before = _live(lab)
    assert before not in (None, "v1"), "nothing has been released yet, so there is nothing to keep live"
    lab.restart_all()
    after = lab.wait_for(lambda: _live(lab), what="waiting for the shop after the restart", seconds=15, every=0.5)
    assert after == before, (f"before the restart the shop served {before}; after it, {after or 'nothing recognisable'} — "
                             "at boot the server starts what /srv/current and /etc/shop/live-port say (read labs-init)")
