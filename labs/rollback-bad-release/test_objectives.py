"""Objectives for rollback-bad-release (a build lab): each test is one objective of `labs check`.

What is live is read from the shop's own answers through nginx's published port (they carry the
release and this instance's token). Release files are compared with the truth, rebuilt from the
pristine app read in a fresh container of the pristine image. The learner's rollback script is
run for real after the check ships two releases of its own.
"""

import http.client
import importlib.util
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("rollback_releases", Path(__file__).with_name("releases.py"))
releases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(releases)

SCRIPT = "/workspace/rollback"


def _get(lab, path: str) -> tuple[int | None, str]:
    conn = http.client.HTTPConnection("127.0.0.1", lab.port("web", 80), timeout=5)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        conn.close()


def _serving(lab) -> tuple[str | None, str | None]:
    """(release serving the shop, problem). A release serves when / and /orders both answer as
    this instance's shop."""
    status, body = _get(lab, f"/?t={lab.trace_id()}")
    words = body.split()
    if status != 200 or len(words) < 5 or words[4] != lab.values["token"]:
        return None, f"GET / through nginx got {f'HTTP {status}' if status else body[:80]} — is nginx up, and a release running behind it (`appctl status`)?"
    release = words[2]
    status, body = _get(lab, "/orders")
    if status != 200:
        return release, f"release {release} serves /, but GET /orders answers {f'HTTP {status}' if status else body[:80]} — customers still meet the bug"
    return release, None


def _current(lab) -> str | None:
    link = lab.read_file("web", "/srv/current", follow=False)
    return Path(link.link_target).name if link is not None and link.link_target else None


def _pristine(lab) -> str:
    result = lab.probe(["cat", releases.PRISTINE], service="web")
    assert result.exit_code == 0, f"could not read the pristine app from the web image: {result.stderr.strip()}"
    return result.stdout


def _truth(name: str, pristine: str) -> str | None:
    if name in releases.RELEASES:
        return releases.release_code(pristine, name)
    if name.startswith("9-") and name.endswith("-good"):
        return pristine
    if name.startswith("9-") and name.endswith("-bad"):
        return releases.bad_code(pristine)
    return None  # a release the learner made: nothing to compare it with


@pytest.mark.stage("rollback")
def test_previous_good_release_serves(lab):
    """A good earlier release serves the shop again, and /srv/current says so"""
    release, problem = _serving(lab)
    assert problem is None, problem
    assert release != releases.BAD, f"the shop still runs {release}, this morning's release"
    current = _current(lab)
    assert current == release, (f"the shop serves {release} but /srv/current points at {current or 'nothing'} — "
                                "a rollback goes through the release layout, so deploys and the next boot agree")


@pytest.mark.stage("rollback")
def test_releases_are_unmodified(lab):
    """Every release's files are as they were shipped (a rollback chooses a release, it never edits one)"""
    problems = lab.integrity("web")
    assert not problems, f"the web server's own programs were changed: {problems[0]}"
    pristine = _pristine(lab)
    for entry in lab.walk("web", "/srv/releases"):
        if entry.kind != "file" or not entry.path.endswith("/app.py"):
            continue
        name = Path(entry.path).parent.name
        truth = _truth(name, pristine)
        if truth is not None and entry.content.decode("utf-8", "replace") != truth:
            pytest.fail(f"release {name} was edited ({entry.path}) — releases are immutable: roll back by choosing another one")


@pytest.mark.stage("script")
@pytest.mark.budget(60)
def test_rollback_script_goes_back_one_release(lab):
    """/workspace/rollback takes the shop back one release, whatever the releases are called"""
    script = lab.read_file("web", SCRIPT)
    assert script is not None and script.kind == "file", f"there is no {SCRIPT} yet (see /workspace/README)"
    assert script.mode & 0o100, f"{SCRIPT} is not executable (mode {script.mode:o})"
    stamp = f"9-{int(time.time() * 1000)}"
    good, bad = f"{stamp}-a-good", f"{stamp}-b-bad"
    host = lab.host("web", deadline=60)
    shipped = host.run(
        f"mkdir /srv/releases/{good} /srv/releases/{bad}"
        f" && cp {releases.PRISTINE} /srv/releases/{good}/app.py && cp {releases.PRISTINE} /srv/releases/{bad}/app.py"
        f" && sed -i 's/{releases._BUG[0]}/{releases._BUG[1]}/' /srv/releases/{bad}/app.py"
        f" && deploy-release {good} && deploy-release {bad}"
    )
    assert shipped.rc == 0, f"the check could not ship its own releases with deploy-release: {(shipped.stderr or shipped.stdout).strip()[-200:]}"
    release, _ = _serving(lab)
    assert release == bad, f"after shipping {bad} the shop serves {release} — look at deploy-release and appctl"
    run = host.run(SCRIPT)
    assert run.rc == 0, f"`{SCRIPT}` exited with {run.rc}: {(run.stderr or run.stdout).strip()[-200:] or '(no output)'}"
    lab.wait_for(lambda: _serving(lab) == (good, None), what="waiting for the rolled-back release", seconds=10, every=0.3)
    release, problem = _serving(lab)
    assert problem is None and release == good, (f"after the check shipped {good} then {bad} and ran {SCRIPT}, the shop serves "
                                                 f"{release or 'nothing'} ({problem or 'not the release before the bad one'}) — the script must go back exactly one release")
    assert _current(lab) == good, f"the shop serves {good} but /srv/current points at {_current(lab)}"


@pytest.mark.stage("persist")
@pytest.mark.budget(40)
def test_rollback_survives_restart(lab):
    """The rolled-back release is still live after the server restarts"""
    before, problem = _serving(lab)
    assert problem is None and before != releases.BAD, f"nothing good is live yet, so there is nothing to keep: {problem or before}"
    lab.restart_all()
    after = lab.wait_for(lambda: _serving(lab)[0] if _serving(lab)[1] is None else None, what="waiting for the shop after the restart", seconds=15, every=0.5)
    assert after == before, (f"before the restart {before} served the shop; after it, {after or 'nothing that works'} — "
                             "at boot the server starts what /srv/current and /etc/shop/live-port say")
