"""Objectives for write-a-deploy (a build lab): each test is one objective of `labs check`.

The check never looks at the lab's own target (the learner may have prepared it by hand) and never
runs the learner's deploy on this machine. It copies /workspace into a FRESH container of the
pristine workstation image (so the pyinfra that runs is the image's own), starts a FRESH target
from the pristine target image with a key made for this check, and runs `pyinfra -y` there with
an inventory of its own: host data with values made up on every check. The site is asked from a
pristine probe on the lab network (first of the lab's own target, where the learner tries it), with a fresh request id the orders app must sign with the
token (a canned answer cannot); the change counts are pyinfra's own results table.
"""

import functools
import json
import secrets

import pytest

DEPLOY = "/workspace/deploy.py"
TRY_NAME = "orders.lab.internal"  # the server_name in the inventory setup.py writes
PYINFRA = "/opt/pyinfra/bin/pyinfra"  # the workstation image's own, in a fresh container
RUN_TIMEOUT = 150

RUN_SCRIPT = r"""
umask 077
mkdir -p /tmp/labs-check
printf '%s' "$LABS_KEY" > /tmp/labs-check/key
printf '%s' "$LABS_INVENTORY" > /tmp/labs-check/inventory.py
cd /workspace || exit 90
exec "$LABS_PYINFRA" -y /tmp/labs-check/inventory.py deploy.py
"""

SITE_PROBE = r"""
import json, sys, urllib.error, urllib.request
host, name, trace = sys.argv[1:4]
out = {}
for path in ("/", "/api/orders"):
    request = urllib.request.Request("http://" + host + path, headers={"Host": name, "X-Request-Id": trace})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            out[path] = [answer.status, answer.read(65536).decode("utf-8", "replace")]
    except urllib.error.HTTPError as err:
        out[path] = [err.code, err.read(4096).decode("utf-8", "replace")]
    except Exception as err:
        out[path] = [None, type(err).__name__ + ": " + str(err)]
print(json.dumps(out))
"""


def _key_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public + " labs-check\n"


def _results(output: str) -> dict[str, tuple[str, str, str]] | None:
    """pyinfra's results table: operation -> (success, error, no change) counts ('-' for none);
    None when the run printed no table."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "--> Results:")
    except StopIteration:
        return None
    rows: dict[str, tuple[str, str, str]] = {}
    for line in lines[start + 2:]:
        cells = [cell for cell in line.strip().split("  ") if cell.strip()]
        if len(cells) < 5 or cells[0].strip() == "Grand total":
            break
        name = cells[0].strip()
        rows[name if name not in rows else f"{name} ({len(rows)})"] = tuple(c.strip() for c in cells[-3:])
    return rows


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(line.strip() for line in kept) or "(no output)"


def _site(lab, host: str, data: dict) -> str | None:
    """What is wrong with the orders site on ``host`` as a client on the lab network sees it
    (None: it answers as the orders web server with ``data``)."""
    trace = lab.trace_id()
    name = data["server_name"]
    probe = lab.probe(["python3", "-c", SITE_PROBE, host, name, trace], image="probe", timeout=30)
    try:
        seen = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the site probe failed: {_tail(probe.output)}"
    status, body = seen["/"]
    if status != 200:
        return f"GET http://{name}/ (port 80) answered {status or 'nothing'}: {body.strip()[:120]} — look at nginx's site for that name"
    if name not in body or "{{" in body:
        return f"GET http://{name}/ answered a page without the site's name in it ({body.strip()[:80]!r}…) — the front page is files/index.html.j2 rendered with server_name"
    status, body = seen["/api/orders"]
    if status != 200:
        return f"GET http://{name}/api/orders answered {status or 'nothing'}: {body.strip()[:120]} — is the orders app running, and does nginx pass /api/ to its port?"
    try:
        answer = json.loads(body)
    except ValueError:
        return f"GET http://{name}/api/orders did not answer JSON from the orders app: {body.strip()[:120]!r}"
    import hashlib
    import hmac

    token = data["orders_token"]
    proof = hmac.new(token.encode(), trace.encode(), hashlib.sha256).hexdigest()
    if answer.get("token") != token:
        return f"/api/orders answered token {answer.get('token')!r}, not the orders_token of the host data ({token[:6]}…) — the app's config comes from host data"
    if answer.get("request_id") != trace or answer.get("proof") != proof:
        return "/api/orders did not answer this request live from the orders app (its request id and proof do not match) — nginx must pass /api/ to the app"
    if answer.get("user") in (None, "root"):
        return f"the orders app runs as {answer.get('user') or 'an unknown user'}, not its own unprivileged user"
    return None


def _serves(lab, host: str, data: dict, seconds: float, what: str) -> str | None:
    """``_site`` until it is fine or ``seconds`` pass (the services may still be starting)."""
    problems = []

    def fine():
        problems.append(_site(lab, host, data))
        return problems[-1] is None

    lab.wait_for(fine, what=what, seconds=seconds, every=1.0)
    return problems[-1]


class _Deployment:
    """The learner's deploy tried on one fresh target, step by step as the objectives ask (so a
    check that stops at the first failure does no more): each step is what went wrong, or None."""

    def __init__(self, lab, target, private_key: str):
        self.lab, self.target, self.private_key = lab, target, private_key
        self.data = {
            "orders_token": secrets.token_hex(12),
            "orders_port": 8200 + secrets.randbelow(700),
            "server_name": f"orders-{secrets.token_hex(3)}.lab.internal",
        }
        self.changed: list[str] = []

    def _run(self) -> tuple[str | None, dict | None]:
        """Run the deploy once from a fresh workstation; (problem, results table)."""
        inventory = "hosts = [(%r, %r)]\n" % (self.target.name, {"ssh_user": "root", "ssh_key": "/tmp/labs-check/key", **self.data})
        run = self.lab.probe(
            ["sh", "-c", RUN_SCRIPT],
            image="workstation",
            service="workstation",
            copy={"/workspace": "workstation:/workspace"},
            env={"LABS_KEY": self.private_key, "LABS_INVENTORY": inventory, "LABS_PYINFRA": PYINFRA},
            timeout=RUN_TIMEOUT,
        )
        if run.timed_out:
            return f"`pyinfra -y INVENTORY deploy.py` did not finish within {RUN_TIMEOUT} s (last lines: {_tail(run.output)})", None
        table = _results(run.output)
        if run.exit_code != 0:
            return f"`pyinfra -y INVENTORY deploy.py` exited with {run.exit_code}: {_tail(run.output)}", table
        if table is None:
            return f"pyinfra printed no results table: {_tail(run.output)}", None
        failed = [name for name, (_, error, _) in table.items() if error != "-"]
        if failed:
            return f"pyinfra reports errors in: {', '.join(failed)}", table
        return None, table

    def _serves(self, seconds: float, what: str) -> str | None:
        return _serves(self.lab, self.target.name, self.data, seconds, what)

    @functools.cached_property
    def first(self) -> str | None:
        problem, _ = self._run()
        return problem or self._serves(15, "waiting for the site after the first run")

    @functools.cached_property
    def second(self) -> str | None:
        problem, table = self._run()
        if problem:
            return f"on the second run, {problem}"
        self.changed = [name for name, (success, _, _) in (table or {}).items() if success != "-"]
        if self.changed:
            return (f"the second run changed something: {', '.join(self.changed)} "
                    "(pyinfra's results table, Success column) — each of these runs every time")
        problem = self._serves(8, "waiting for the site after the second run")
        return problem and f"after the second run, {problem}"

    @functools.cached_property
    def after_restart(self) -> str | None:
        self.target.restart()
        problem = self._serves(15, "waiting for the site after the restart")
        return problem and (f"after the fresh host restarted, {problem} "
                            "— after a restart only runsvdir and sshd start")


@pytest.fixture(scope="module")
def deployment(lab):
    deploy = lab.read_file("workstation", DEPLOY)
    if deploy is None or deploy.kind != "file":
        yield f"there is no {DEPLOY} yet — the ticket asks for your pyinfra deploy there (see /workspace/README)"
        return
    private, public = _key_pair()
    with lab.fresh_service("target", files={"/root/.ssh/authorized_keys": (public.encode(), 0o600)}) as target:
        yield _Deployment(lab, target, private)


def _built(deployment) -> _Deployment:
    assert not isinstance(deployment, str), deployment
    assert deployment.first is None, f"on the first run on a fresh host, {deployment.first}"
    return deployment


@pytest.mark.stage("try")
@pytest.mark.budget(20)
def test_lab_target_built(lab):
    """Your deploy has built the lab's own target (with /workspace/inventory.py as the lab made it)"""
    data = {"server_name": TRY_NAME, "orders_token": lab.values["try_token"]}
    problem = _serves(lab, "target", data, 3, "asking the lab's target")
    assert problem is None, (f"on the lab's target, {problem} — run your deploy against it: "
                             "`cd /workspace && pyinfra -y inventory.py deploy.py`")


@pytest.mark.stage("build")
@pytest.mark.budget(120)
def test_first_run_builds_the_server(deployment):
    """One run of your deploy turns a fresh host into the orders web server"""
    _built(deployment)


@pytest.mark.stage("idempotent")
@pytest.mark.budget(40)
def test_second_run_changes_nothing(deployment):
    """A second run of your deploy changes nothing, and the site still answers"""
    problem = _built(deployment).second
    assert problem is None, problem


@pytest.mark.stage("persist")
@pytest.mark.budget(30)
def test_site_survives_restart(deployment):
    """The site comes back by itself after the host restarts"""
    problem = _built(deployment).after_restart
    assert problem is None, problem
