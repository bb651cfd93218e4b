"""Objectives for containerize-app (a build lab): each test is one objective of `labs check`.

Nothing is taken on the learner's word. The workspace is read through the engine and built by
the engine with the network disabled, FROM the lab's base only; the image's USER, HEALTHCHECK
and size are read from the engine's image config; the container runs hardened on the lab
network with a fresh INSTANCE_ID and ADMIN_TOKEN, and is probed from a pristine client
container (answers that carry the check's own trace id, a note written and read back); its
processes' uids are read by a pristine probe in its pid namespace; its health is what the
engine reports, including after the check puts the service into maintenance; then it restarts.
"""

import json
import secrets

import pytest

from orchestrator.errors import LabsError

WORKSPACE = "/workspace"
BASE = "labs/appbase:bookworm"
BUDGET = 10 * 1024 * 1024  # bytes the image may add to the base
HEALTHY_WITHIN = 20
UNHEALTHY_WITHIN = 20

# Run in the pristine probe image, a client on the lab network: one call, several requests.
CLIENT = r"""
import json, sys, urllib.request, urllib.error
base = "http://candidate:8080"
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=4) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"
mode, arg = sys.argv[1], sys.argv[2]
out = {}
if mode == "answers":
    out["hello"] = call("GET", "/hello?name=" + arg)
    out["post"] = call("POST", "/notes", arg.encode())
    try:
        note = json.loads(out["post"][1])["id"]
        out["note_id"] = note
        out["note"] = call("GET", "/notes/" + note)
    except Exception:
        pass
elif mode == "note":
    out["note"] = call("GET", "/notes/" + arg)
    out["hello"] = call("GET", "/hello?name=again")
elif mode == "maintenance":
    out["maintenance"] = call("POST", "/admin/maintenance", b"", {"X-Admin-Token": arg})
print(json.dumps(out))
"""


def _client(lab, mode: str, arg: str) -> dict:
    result = lab.probe(["python3", "-c", CLIENT, mode, arg], image="probe", timeout=30)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": result.output.strip()[-300:]}


def _said(answer) -> str:
    if not answer:
        return "no answer"
    status, body = answer
    return f"HTTP {status}: {body.strip()[:160]}" if status else f"no answer ({body[:160]})"


@pytest.fixture(scope="module")
def app(lab):
    """Build the workspace and run the image once per check; removed afterwards."""
    run: dict = {"problem": None, "image": None, "running": None, "served": None}
    try:
        run["image"] = lab.build_image("workstation", WORKSPACE, bases={BASE: "appbase"})
    except LabsError as err:
        run["problem"] = err.message + (f" — {err.fix}" if err.fix else "")
    if run["image"] is not None:
        run["instance_id"] = lab.trace_id()
        run["admin_token"] = secrets.token_hex(12)
        run["running"] = lab.run_image(run["image"], alias="candidate",
                                       env={"INSTANCE_ID": run["instance_id"], "ADMIN_TOKEN": run["admin_token"]})
    try:
        yield run
    finally:
        lab.remove_built()


def _built(app, *, whole: bool = False):
    """The built image; else fail with why (in full for the build objective, its first line elsewhere)."""
    if app["image"] is None:
        said = app["problem"] if whole else app["problem"].splitlines()[0].removesuffix("; its last lines:") + " (the first objective shows how)"
        raise AssertionError(f"the image was not built: {said}")
    return app["image"]


def _exited(app) -> str | None:
    status = app["running"].health()
    if status in ("exited", "dead", "gone", "created"):
        return f"the container is {status}; its output ends: {app['running'].logs().strip()[-300:] or '(nothing)'}"
    return None


def _serving(lab, app) -> str | None:
    """Send requests only this run can answer; None when every answer is right, else what was seen."""
    if app["served"] is None:
        trace = lab.trace_id()
        def answered():
            seen = _client(lab, "answers", trace)
            return seen if (seen.get("hello") or [None])[0] else None
        seen = lab.wait_for(answered, what="waiting for the container to answer on 8080", seconds=20, every=1.0) or {}
        app["served"] = (trace, seen)
    trace, seen = app["served"]
    if "error" in seen:
        return f"the probe could not talk to the container: {seen['error']}"
    hello = seen.get("hello")
    if not hello or hello[0] is None:
        return (_exited(app) or f"nothing answered on port 8080 within 20 s ({_said(hello)})") + " — what does the container run, on which port?"
    try:
        body = json.loads(hello[1])
    except ValueError:
        body = None
    if hello[0] != 200 or body != {"hello": trace, "instance": app["instance_id"]}:
        return (f"GET /hello?name={trace} answered {_said(hello)}; the service answers with the name it is sent and "
                f"the INSTANCE_ID it runs with ({app['instance_id']}) — is it really app.py answering?")
    if seen.get("post", [None])[0] != 201 or seen.get("note", [None])[0] != 200 or seen["note"][1] != trace:
        return (f"storing a note failed: POST /notes answered {_said(seen.get('post'))}, reading it back {_said(seen.get('note'))} — "
                "look at the container's output and at who may write /var/lib/notes")
    return None


@pytest.mark.stage("build")
def test_image_builds_offline(lab, app):
    """/workspace/Dockerfile builds with no network, FROM labs/appbase:bookworm"""
    _built(app, whole=True)


@pytest.mark.stage("harden")
def test_image_within_budget(lab, app):
    """The image adds at most 10 MiB to the base image"""
    image = _built(app)
    added = image.size - lab.image_size("appbase")
    assert added <= BUDGET, (f"the image is {image.size / 2**20:.1f} MiB, {added / 2**20:.1f} MiB more than the base (budget: "
                             f"{BUDGET / 2**20:.0f} MiB) — `docker history`-style: which layer rewrites or adds so much?")


@pytest.mark.stage("harden")
def test_runs_as_non_root(lab, app):
    """The image names a non-root USER, and every process in the container runs as non-root"""
    image = _built(app)
    user = image.user.split(":")[0]
    assert user and user not in ("root", "0"), (
        f"the image's configuration names {'no user' if not user else 'user ' + repr(image.user)}, so the container starts as root")
    exited = _exited(app)
    assert exited is None, f"the container does not stay up, so its processes cannot be seen: {exited}"
    processes = app["running"].processes()
    assert processes, "a probe in the container's pid namespace saw no process of it"
    rooted = [args for uid, args in processes if uid == 0]
    assert not rooted, f"a probe in the container's pid namespace sees processes running as uid 0: {rooted[0][:120]}"


@pytest.mark.stage("serve")
def test_answers_requests(lab, app):
    """The container answers requests only the real service can answer, and stores notes"""
    _built(app)
    problem = _serving(lab, app)
    assert problem is None, problem


def _health(lab, app, want: str, seconds: float, what: str) -> str:
    seen = lab.wait_for(lambda: (lambda s: s if s in (want, "exited", "dead", "gone") else None)(app["running"].health()),
                        what=what, seconds=seconds, every=1.0)
    return seen or app["running"].health()


@pytest.mark.stage("health")
@pytest.mark.budget(45)
def test_healthcheck_tells_the_truth(lab, app):
    """The engine reports the container healthy, and unhealthy once the service stops answering"""
    image = _built(app)
    assert image.healthcheck and image.healthcheck[0] != "NONE", "the image has no HEALTHCHECK, so the engine cannot tell whether it works"
    problem = _serving(lab, app)
    assert problem is None, f"the service does not answer yet, so its health cannot be judged: {problem}"
    status = _health(lab, app, "healthy", HEALTHY_WITHIN, "waiting for the engine to report the container healthy")
    log = app["running"].health_log()
    assert status == "healthy", (f"{HEALTHY_WITHIN} s after the start the engine reports the container {status}; "
                                 f"its last health checks: {log[-1] if log else 'none ran yet (look at --interval)'}")
    said = _client(lab, "maintenance", app["admin_token"]).get("maintenance")
    assert said and said[0] == 202, f"the check could not put the service into maintenance: {_said(said)}"
    status = _health(lab, app, "unhealthy", UNHEALTHY_WITHIN, "waiting for the engine to report the container unhealthy")
    assert status == "unhealthy", (f"the service answers every request with 503 now, yet after {UNHEALTHY_WITHIN} s the engine still "
                                   f"reports the container {status} — does the HEALTHCHECK ask the service, and fail on a 503?")


@pytest.mark.stage("persist")
@pytest.mark.budget(40)
def test_survives_restart(lab, app):
    """After a restart of the container it is healthy again and still has its notes"""
    _built(app)
    problem = _serving(lab, app)
    assert problem is None, f"the service does not answer yet, so a restart proves nothing: {problem}"
    trace, seen = app["served"]
    app["running"].restart(timeout=5)
    status = _health(lab, app, "healthy", HEALTHY_WITHIN, "waiting for the container to be healthy after the restart")
    exited = _exited(app)
    assert exited is None, f"after a restart {exited}"
    again = lab.wait_for(lambda: (lambda s: s if (s.get("note") or [None])[0] else None)(_client(lab, "note", seen["note_id"])),
                         what="waiting for the container to answer after the restart", seconds=15) or {}
    assert (again.get("note") or [None])[0] == 200 and again["note"][1] == trace, (
        f"after a restart the note stored before it is gone: GET /notes/{seen['note_id']} answered {_said(again.get('note'))} — "
        "where does the container keep its notes, and does that survive a restart?")
    assert status == "healthy", f"after the restart the engine reports the container {status}, not healthy"
