"""The pytest plugin every lab suite runs under: it provides the ``lab`` fixture.

``labs check`` loads it in-process; it can also be loaded by hand::

    pytest -p checks.plugin --labs-instance nginx-misconfig labs/nginx-misconfig/test_objectives.py

``--labs-backend cli`` makes ``lab.host()`` use testinfra's own ``docker://``
backend instead of the SDK one (for comparison runs).
"""

from __future__ import annotations

import pytest

# Set by an in-process runner (orchestrator.check_runner) to hand over a ready LabContext.
CONTEXT_KEY = pytest.StashKey[object]()


def pytest_configure(config):
    config.addinivalue_line("markers", "stage(id): the objective belongs to this stage of the lab (lab.yaml `stages:`)")
    config.addinivalue_line("markers", "budget(seconds): a slow objective: how long it may wait (shown while it runs)")
    config.addinivalue_line(
        "markers",
        "discovery(verdict): a search objective (every place a secret leaks, every copy); when it fails "
        "the learner reads only the verdict, e.g. 'a secret is still served over HTTP', never the list of places",
    )


def pytest_addoption(parser):
    group = parser.getgroup("labs")
    group.addoption("--labs-instance", help="the instance key of the running lab to check (as `labs status` shows it)")
    group.addoption("--labs-backend", choices=["sdk", "cli"], default="sdk", help="how lab.host() runs commands")


@pytest.fixture(scope="session")
def lab(request):
    given = request.config.stash.get(CONTEXT_KEY, None)
    if given is not None:
        return given
    return _context_from_options(request.config)


def _context_from_options(config):
    from pathlib import Path

    from checks.context import LabContext
    from orchestrator.catalog import Catalog
    from orchestrator.engine import open_engine
    from orchestrator.errors import LabsError

    from orchestrator.spec import load_lab

    key = config.getoption("--labs-instance")
    if not key:
        pytest.exit("no lab instance given: pass --labs-instance KEY (see `labs status`)", returncode=2)
    engine = open_engine()
    found = engine.instances(key=key)
    if not found:
        pytest.exit(f"lab instance {key} is not running", returncode=3)
    instance = found[0]
    spec = None
    try:
        folder = Path(instance.folder)
        spec = load_lab(folder) if folder.is_dir() else Catalog.from_env().get(instance.lab_id)
    except LabsError:
        pass
    return LabContext(engine.client, instance, spec, config.getoption("--labs-backend"))
