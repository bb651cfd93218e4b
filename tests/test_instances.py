"""Instances a learner can trust: a named instance keeps its port, its briefing and commands fit it,
it remembers the folder its lab came from, and nothing outside that folder joins its checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

SHIPPED = Path(__file__).resolve().parent.parent / "labs"
LAB = "nginx-misconfig"


def _proxy_port(labs, instance_name) -> str:
    result, status = labs.json("status", LAB)
    assert result.returncode == 0, result.stderr
    (inst,) = [i for i in status["instances"] if i["instance"] == instance_name]
    (port,) = inst["ports"]["proxy"]
    return port  # 127.0.0.1:HOST->80


def test_a_labs_dir_instance_keeps_its_port_fits_its_briefing_and_remembers_its_folder(labs, engine, lab_instance, instance_name, tmp_path, state_dir):
    outer = tmp_path / "course"
    (outer / "labs").mkdir(parents=True)
    marker = outer / "stray-conftest-imported"
    # A conftest.py above the lab folder, as a course repository might hold for its own tests.
    (outer / "conftest.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n")
    shutil.copytree(SHIPPED / LAB, outer / "labs" / LAB)  # same id as the shipped lab: shadows it
    labs_dir = outer / "labs"

    started = lab_instance(LAB, "--labs-dir", str(labs_dir))
    assert started.returncode == 0, started.stderr
    port = _proxy_port(labs, instance_name)
    host_port = re.match(r"127\.0\.0\.1:(\d+)->80$", port).group(1)
    assert host_port != "8080"
    # The briefing speaks of this instance: its real address and commands that reach it.
    assert f"http://127.0.0.1:{host_port}/" in started.stdout and "127.0.0.1:8080" not in started.stdout
    assert f"labs shell {LAB} --instance {instance_name} --labs-dir {labs_dir}" in started.stdout
    assert f"labs check {LAB} --instance {instance_name}" in started.stdout
    shown = labs("info", LAB, "--instance", instance_name)
    assert shown.returncode == 0 and f"http://127.0.0.1:{host_port}/" in shown.stdout, shown.stdout + shown.stderr

    # A restart by the engine (what checks do) keeps the port.
    container = engine.containers.get(f"labs-{LAB}-{instance_name}-proxy")
    container.restart(timeout=2)
    assert _proxy_port(labs, instance_name) == port

    # Check without --labs-dir: the lab is found through the instance's folder, and the shipped
    # lab of the same id is named as the one not used; the stray conftest.py is never imported.
    result, report = labs.json("check", LAB, "--instance", instance_name)
    assert result.returncode == 1 and report["schema"] == "labs.check/1", result.stderr
    assert report["lab"] == LAB and report["instance"] == instance_name and report["key"] == f"{LAB}.{instance_name}"
    assert f"using {LAB} from {outer / 'labs' / LAB}" in result.stderr
    assert not marker.exists(), "a conftest.py above the lab folder was imported by labs check"
    assert _proxy_port(labs, instance_name) == port, "the port changed across a check"

    # Narrow and piped output keeps the full port string.
    for columns in ("60", "80"):
        shown = labs("status", LAB, env={"COLUMNS": columns})
        assert port in shown.stdout, shown.stdout

    # `labs shell LAB -- CMD` runs in the main service.
    ran = labs("shell", LAB, "--instance", instance_name, "--", "cat", "/etc/hostname")
    assert ran.returncode == 0 and ran.stdout.strip() == "proxy", ran.stdout + ran.stderr

    # A reset keeps the port too.
    reset = labs("reset", LAB, "--instance", instance_name)
    assert reset.returncode == 0, reset.stderr
    assert _proxy_port(labs, instance_name) == port

    # Stopping removes the instance's lock file; stopping again names the instance.
    lock = state_dir / "locks" / f"{LAB}.{instance_name}.lock"
    assert lock.exists()
    assert labs("stop", LAB, "--instance", instance_name).returncode == 0
    assert not lock.exists()
    again = labs("stop", LAB, "--instance", instance_name)
    assert again.returncode == 0 and f"instance {instance_name} of {LAB} was not running" in again.stdout


def test_hint_for_an_instance_never_started_says_so(labs, instance_name):
    result = labs("hint", LAB, "--instance", instance_name)
    assert result.returncode == 0 and "hint 1/3" in result.stdout
    assert f"{LAB}.{instance_name} is not running" in result.stderr and f"labs start {LAB} --instance {instance_name}" in result.stderr


def test_a_labs_path_entry_that_does_not_exist_is_reported(labs, tmp_path):
    missing = tmp_path / "no-such-folder"
    result = labs("info", LAB, env={"LABS_PATH": str(missing)})
    assert result.returncode == 0
    assert f"LABS_PATH names {missing}" in result.stderr
