"""Shared fixtures for the project's own tests.

End-to-end tests use the real engine and real labs through the real `labs`
command. When CI=true a missing engine is an error, never a skip. Every test
instance gets a unique ``--instance`` name, so tests never touch a learner's
default instance and can run beside each other; whatever a test starts is
removed by label afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine():
    """A Docker client for the real engine (fails in CI when there is none; skips elsewhere)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means no engine
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a Docker engine and none answers: {err}")
        pytest.skip(f"no Docker engine: {err}")
    return client


# The suite loads a 2-core machine with several labs at once: an engine that takes more than the
# user-facing 5 s to list containers is busy, not hung. Tests of a hung engine set their own.
os.environ.setdefault("LABS_ENGINE_DEADLINE", "30")
# The suite never asks a registry for anything (no packet leaves the machine): bases are built.
os.environ.setdefault("LABS_NO_PULL", "1")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("labs-state")


class Labs:
    """Runs the real `labs` command (a fresh process each time, as a user would)."""

    def __init__(self, state_dir: Path, env: dict | None = None):
        self.env = {**os.environ, "LABS_STATE_DIR": str(state_dir), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}

    def __call__(self, *args: str, timeout: float = 600, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            input=input,
        )

    def deploy(self, lab_id: str, instance: str, path: Path, *, timeout: float = 600) -> subprocess.CompletedProcess:
        """Apply a pyinfra deploy (a shortcut, an alternative fix) to a running instance, as `labs solve` applies the solution."""
        code = (
            "import sys; from pathlib import Path; from orchestrator.catalog import Catalog; from orchestrator.lifecycle import solve_lab; "
            "solve_lab(Catalog.from_env().get(sys.argv[1]), sys.argv[2], deploy=Path(sys.argv[3]))"
        )
        return subprocess.run([sys.executable, "-c", code, lab_id, instance, str(path)], capture_output=True, text=True, timeout=timeout, env=self.env)

    def shortcut_verdicts(self, lab_id: str, instance: str, shortcuts: list[Path]) -> dict[str, tuple[int, dict, str]]:
        """Each shortcut applied to the broken instance in turn (reset in between), then checked:
        name -> (exit code of `labs check`, objectives by id, its output)."""
        verdicts = {}
        for n, shortcut in enumerate(shortcuts):
            if n:
                reset = self("reset", lab_id, "--instance", instance, timeout=900)
                assert reset.returncode == 0, reset.stdout + reset.stderr
            applied = self.deploy(lab_id, instance, shortcut)
            assert applied.returncode == 0, f"{shortcut.stem}: {applied.stdout}{applied.stderr}"
            result, report = self.json("check", lab_id, "--instance", instance, timeout=900)
            verdicts[shortcut.stem] = (result.returncode, {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr)
        return verdicts

    def json(self, *args: str, **kwargs):
        result = self(*args, "--json", **kwargs)
        try:
            return result, json.loads(result.stdout)
        except ValueError:
            raise AssertionError(f"`labs {' '.join(args)} --json` printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}") from None


@pytest.fixture
def labs(state_dir):
    return Labs(state_dir)


def labelled(engine, **labels) -> dict[str, list]:
    """Every labs resource carrying the given label values (key -> list)."""
    wanted = ["io.labs.managed=true"] + [f"io.labs.{k}={v}" for k, v in labels.items()]
    selector = {"label": wanted}
    return {
        "containers": engine.containers.list(all=True, filters=selector, ignore_removed=True),
        "networks": engine.networks.list(filters=selector),
        "volumes": engine.volumes.list(filters=selector),
    }


@pytest.fixture
def cpu_load():
    """A context manager: busy loops on both cores for at most ``seconds`` (killed on exit), so a
    test can prove verdicts hold on a loaded machine without asserting any timing. They run
    niced, so the engine itself keeps its share. (Lab containers that lost their DNS names under
    this load were the swarm tests' doing, not the load's: leaving a swarm wipes the engine's
    DNS records of every container, so scripts/test runs those tests alone.)"""

    @contextlib.contextmanager
    def load(seconds: float = 60, workers: int = 2):
        burn = f"import os, time\nos.nice(10)\nend = time.time() + {min(seconds, 60)}\nwhile time.time() < end:\n    pass\n"
        workers_started = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(workers)]
        try:
            yield
        finally:
            for worker in workers_started:
                worker.kill()
                worker.wait()

    return load


@pytest.fixture
def instance_name():
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def lab_instance(engine, labs, instance_name):
    """Yields a starter for a test instance of a lab; removes the instance by label afterwards."""
    started = []

    def start(lab_id: str, *extra: str) -> subprocess.CompletedProcess:
        started.append(lab_id)
        return labs("start", lab_id, "--instance", instance_name, *extra)

    yield start
    for lab_id in started:
        labs("stop", lab_id, "--instance", instance_name)
        key = f"{lab_id}.{instance_name}"
        leftovers = labelled(engine, instance=key)
        for container in leftovers["containers"]:
            container.remove(force=True)
        for network in leftovers["networks"]:
            network.remove()


# The longest files first, so that with several workers (scripts/test runs pytest -n) the run
# is not held up at its end by a long file started last: validating every lab, then the labs'
# own end-to-end files, then the rest in their usual order.
_LONG_FIRST = ("test_lab_slow_postgres.py", "test_validate", "test_lab_", "test_swarm.py", "test_cluster", "test_nginx_misconfig.py", "test_reliability.py", "test_web_browser.py", "test_builds.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return next((n for n, prefix in enumerate(_LONG_FIRST) if name.startswith(prefix)), len(_LONG_FIRST))

    items.sort(key=rank)


def signal_after_line(process: subprocess.Popen, line: str, signum: int, delay: float = 0.0, timeout: float = 300) -> str:
    """Read the command's progress (stderr) until ``line`` appears, wait ``delay``, send ``signum``;
    returns what was read. Fails if the command ended first or took too long (bounded)."""
    import queue
    import threading
    import time

    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(text) for text in iter(process.stderr.readline, "")] + [lines.put(None)], daemon=True).start()
    seen, deadline = "", time.monotonic() + timeout
    while line not in seen:
        try:
            text = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {line!r} within {timeout:g} s:\n{seen}") from None
        assert text is not None, f"the command ended before {line!r}:\n{seen}"
        seen += text
    time.sleep(delay)
    assert process.poll() is None, f"the command ended before the signal:\n{seen}"
    process.send_signal(signum)
    rest = []
    while (text := lines.get(timeout=120)) is not None:
        rest.append(text)
    return seen + "".join(rest)


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` for a command a test interrupts with SIGINT, as Ctrl-C in a terminal would:
    a suite started in the background by a non-interactive shell (`scripts/test &`) inherits
    SIGINT ignored, and so would every command it runs (Python keeps an inherited "ignore")."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
