"""`labs validate` against the real engine: a lab that works passes, and each way a lab can
be broken fails with the lab and the phase named.

The broken labs are the fixtures in tests/fixtures/labs (the scaffold with one thing wrong).
Every validation uses its own random instance; afterwards nothing labelled with those
instances may remain. About a minute and a half in all.
"""

from __future__ import annotations

import json
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.validate import PHASES, phase_title

from tests.conftest import labelled

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "labs"

# Labs whose own test file applies every shipped shortcut with a full check and names the
# objective that must reject it (stronger than validate's first-failure check): they are
# validated with `--skip shortcuts` in tests/test_validate_skipping.py, a file of its own so that
# another test worker takes that half of the work.
SHORTCUTS_PROVEN_BY_THEIR_TESTS = {"slow-postgres": "test_lab_slow_postgres.py", "nginx-misconfig": "test_nginx_misconfig.py"}

# fixture lab -> the phases validation must fail for it (and no others)
BROKEN = {
    "fx-passes-unbroken": {"negative-control", "reset"},
    "fx-unsolved": {"solution"},
    "fx-not-idempotent": {"idempotence"},
    "fx-reset-keeps-fix": {"reset"},
}


def _assert_nothing_left(engine, lab: str, instance: str | None) -> None:
    assert instance, f"{lab}: no instance was recorded"
    left = labelled(engine, instance=f"{lab}.{instance}")
    names = [r.name for kind in left.values() for r in kind]
    assert not names, f"{lab}.{instance} left resources behind: {names}"


def _cleanup(engine, lab: str, instance: str | None) -> None:
    """Remove what a failed test may have left, by its own instance label only."""
    if not instance:
        return
    left = labelled(engine, instance=f"{lab}.{instance}")
    for container in left["containers"]:
        container.remove(force=True)
    for network in left["networks"]:
        network.remove()
    for volume in left["volumes"]:
        volume.remove(force=True)
    for marker in Path(tempfile.gettempdir()).glob(f"labs-fixture-{lab}.{instance}"):
        marker.unlink()


def test_scaffold_validates_as_generated(engine, labs, tmp_path):
    new = labs("new", "demo", "--dir", str(tmp_path))
    assert new.returncode == 0, new.stderr
    result, report = labs.json("validate", "demo", env={"LABS_PATH": str(tmp_path)}, timeout=300)
    lab = report["labs"][0]
    try:
        assert result.returncode == 0, f"the scaffold must validate as generated:\n{json.dumps(report, indent=1)}\n{result.stderr}"
        assert report["ok"] and lab["ok"] and lab["folder"] == str(tmp_path / "demo")
        assert [p["phase"] for p in lab["phases"]] == list(PHASES)
        assert {p["status"] for p in lab["phases"]} == {"passed"}
        negative = next(p for p in lab["phases"] if p["phase"] == "negative-control")
        assert not all(negative["objectives"].values()), "before the fix some objective must fail"
        solved = next(p for p in lab["phases"] if p["phase"] == "solution")
        assert all(solved["objectives"].values()) and len(solved["objectives"]) == 3
        _assert_nothing_left(engine, "demo", lab["instance"])
    finally:
        _cleanup(engine, "demo", lab.get("instance"))


def test_every_shipped_lab_validates(engine, labs, tmp_path):
    """`labs validate LAB... --jobs 3 --junit`: every shipped lab (but those validated in
    tests/test_validate_skipping.py) broken at start, fixed by its solution, idempotent,
    re-broken by reset, every shortcut rejected, and gone after stop."""
    shipped = sorted(p.name for p in (REPO / "labs").iterdir() if (p / "lab.yaml").is_file() and p.name not in SHORTCUTS_PROVEN_BY_THEIR_TESTS)
    junit = tmp_path / "labs-junit.xml"
    # Three labs side by side: much of a lab's validation waits (restarts, schedules, traffic).
    result, report = labs.json("validate", *shipped, "--jobs", "3", "--timeout", "2400", "--junit", str(junit), timeout=5400)
    try:
        # A lab without shortcuts/ has its shortcuts phase skipped; every other phase must pass.
        no_shortcuts = {name for name in shipped if not (REPO / "labs" / name / "shortcuts").is_dir()}
        failed = [(lab["lab"], p["phase"], p["message"]) for lab in report["labs"] for p in lab["phases"]
                  if p["status"] != "passed" and not (p["phase"] == "shortcuts" and p["status"] == "skipped" and lab["lab"] in no_shortcuts)]
        assert result.returncode == 0 and not failed, f"every shipped lab must validate: {failed}\n{result.stderr}"
        assert sorted(lab["lab"] for lab in report["labs"]) == shipped
        suites = {s.get("name"): s for s in ET.parse(junit).getroot().findall("testsuite")}
        assert set(suites) == set(shipped)
        kinds = {lab["lab"]: lab.get("kind", "repair") for lab in report["labs"]}
        for name, suite in suites.items():
            expected = [phase_title(p, kinds[name]) for p in PHASES]
            assert [c.get("name") for c in suite.findall("testcase") if c.get("classname") == f"labs.{name}"] == expected
            shortcuts = sorted(p.stem for p in (REPO / "labs" / name / "shortcuts").glob("[!_]*.py"))
            assert [c.get("name") for c in suite.findall(f"testcase[@classname='labs.{name}.shortcuts']")] == [f"shortcut {s}" for s in shortcuts]
        for lab in report["labs"]:
            assert lab["instance"].startswith("v") and lab["instance"] != "default"
            _assert_nothing_left(engine, lab["lab"], lab["instance"])
    finally:
        for lab in report.get("labs", []):
            _cleanup(engine, lab["lab"], lab.get("instance"))


def test_a_shortcut_that_passes_the_checks_fails_validation_naming_it(engine, labs, tmp_path):
    """The scaffold plus a "shortcut" that is really a valid fix: the checks accept it, so the
    shortcuts phase fails and names it; the scaffold's own shortcut is still rejected; each
    shortcut is a JUnit test case and a case in --json."""
    from orchestrator.scaffold import new_lab

    folder = new_lab("shortcut-demo", tmp_path)
    (folder / "shortcuts" / "really-a-fix.py").write_text((folder / "solution.py").read_text().replace(
        '"""The reference solution', '"""Not a shortcut at all: the reference solution under another name.\n\nThe reference solution', 1
    ).replace('Path(__file__).parent / "files"', 'Path(__file__).parent.parent / "files"'))
    junit = tmp_path / "junit.xml"
    result, report = labs.json("validate", str(folder), "--junit", str(junit), timeout=400)
    lab = report["labs"][0]
    try:
        assert result.returncode == 1 and not lab["ok"]
        statuses = {p["phase"]: p["status"] for p in lab["phases"]}
        assert statuses["shortcuts"] == "failed" and statuses["solution"] == "passed" and statuses["stop"] == "passed", statuses
        phase = next(p for p in lab["phases"] if p["phase"] == "shortcuts")
        assert "shortcut really-a-fix" in phase["message"] and "world-writable-page" not in phase["message"]
        cases = {c["name"]: c for c in phase["cases"]}
        assert cases["really-a-fix"]["status"] == "failed" and cases["really-a-fix"]["caught_by"] == []
        assert cases["world-writable-page"]["status"] == "passed" and cases["world-writable-page"]["caught_by"] == ["test_page_not_world_writable"]
        suite = ET.parse(junit).getroot().find("testsuite")
        junit_cases = {c.get("name"): c for c in suite.findall("testcase")}
        assert junit_cases["shortcut really-a-fix"].find("failure") is not None
        assert junit_cases["shortcut world-writable-page"].find("failure") is None
        _assert_nothing_left(engine, "shortcut-demo", lab["instance"])
    finally:
        _cleanup(engine, "shortcut-demo", lab.get("instance"))


def test_broken_labs_fail_naming_lab_and_phase(engine, labs, tmp_path):
    """Four broken labs at once (--jobs 2): each fails exactly its phase; JUnit lists every phase."""
    junit = tmp_path / "out" / "labs-junit.xml"
    result = labs("validate", *BROKEN, "--jobs", "2", "--junit", str(junit), env={"LABS_PATH": str(FIXTURES)}, timeout=400)
    instances: dict[str, str] = {}
    try:
        assert junit.is_file(), f"no JUnit written:\n{result.stdout}\n{result.stderr}"
        root = ET.parse(junit).getroot()
        suites = {s.get("name"): s for s in root.findall("testsuite")}
        assert set(suites) == set(BROKEN)
        for lab, expected in BROKEN.items():
            suite = suites[lab]
            instances[lab] = suite.find("properties/property[@name='instance']").get("value")
            cases = {c.get("name"): c for c in suite.findall("testcase")}
            assert list(cases) == list(PHASES), f"{lab}: JUnit must list every phase"
            failed = {name for name, case in cases.items() if case.find("failure") is not None}
            assert failed == expected, f"{lab}: failed {failed}, expected {expected}"
            for name in failed:
                assert cases[name].find("failure").get("message"), f"{lab}/{name}: a failure needs a message"
        assert root.get("failures") == str(sum(len(v) for v in BROKEN.values()))

        assert result.returncode == 1, f"validation failed, so the exit code is 1:\n{result.stdout}\n{result.stderr}"
        out = " ".join(result.stdout.split())
        assert "validation failed: 4 of 4 lab(s)" in out
        for lab, expected in BROKEN.items():
            for phase in expected:
                assert re.search(rf"{lab}\s*│\s*{phase}\s*│", result.stdout), f"the summary must name {lab} and {phase}:\n{result.stdout}"
        assert "all 3 objectives pass right after start, before any fix" in out
        assert "after solution.py, 2/3 objectives still fail" in out
        assert "a second run of solution.py changed 1 of" in out
        assert "after reset, all 3 objectives pass" in out
        for lab in BROKEN:
            _assert_nothing_left(engine, lab, instances[lab])
    finally:
        for lab, instance in instances.items():
            _cleanup(engine, lab, instance)


def test_keep_leaves_the_failed_instance_for_inspection(engine, labs):
    result, report = labs.json("validate", "fx-unsolved", "--keep", env={"LABS_PATH": str(FIXTURES)}, timeout=300)
    lab = report["labs"][0]
    key = f"fx-unsolved.{lab['instance']}"
    try:
        assert result.returncode == 1
        statuses = {p["phase"]: p["status"] for p in lab["phases"]}
        assert statuses["solution"] == "failed"
        assert statuses["idempotence"] == statuses["reset"] == statuses["stop"] == "skipped", "--keep stops at the first failure"
        assert lab["kept"]
        assert f"labs stop fx-unsolved --instance {lab['instance']}" in result.stderr
        running = labelled(engine, instance=key)["containers"]
        assert [c.status for c in running] == ["running"], "the instance is kept as it failed"
        check = labs("check", "fx-unsolved", "--instance", lab["instance"], env={"LABS_PATH": str(FIXTURES)})
        assert check.returncode == 1 and "403" in check.stdout, "the kept instance shows the same failure"
    finally:
        labs("stop", "fx-unsolved", "--instance", lab["instance"])
        _cleanup(engine, "fx-unsolved", lab["instance"])
    _assert_nothing_left(engine, "fx-unsolved", lab["instance"])


def test_a_hung_lab_is_stopped_and_removed(engine, tmp_path, state_dir, monkeypatch):
    """A lab past its deadline: its worker is stopped, the phase it was in fails, nothing remains."""
    from orchestrator.scaffold import new_lab
    from orchestrator.validate import validate

    monkeypatch.setenv("LABS_STATE_DIR", str(state_dir))
    monkeypatch.setattr("orchestrator.validate._STOP_GRACE", 1.0)  # the hang blocks the worker: kill it soon
    folder = new_lab("slowpoke", tmp_path)
    (folder / "break.py").write_text((folder / "break.py").read_text() + '\n    server.shell(name="Hang", commands=["sleep 60"])\n')
    report = validate([folder], timeout=6)
    lab = report.labs[0]
    try:
        assert not report.ok
        statuses = {p.phase: p.status for p in lab.phases}
        assert statuses["start"] == "failed" and "timed out" in lab.phase("start").message
        assert statuses["solution"] == "skipped" and statuses["stop"] == "passed"
        _assert_nothing_left(engine, "slowpoke", lab.instance)
    finally:
        _cleanup(engine, "slowpoke", lab.instance)


def test_shards_split_every_lab_once_and_spread_the_longest(tmp_path):
    """--shard K/N: every lab lands in exactly one shard; the two longest labs never share one."""
    from orchestrator.validate import estimated_seconds, select_shard

    folders = []
    for i in range(7):
        folder = tmp_path / f"lab{i}"
        (folder / "shortcuts").mkdir(parents=True)
        services = "\n".join(f"  s{j}:\n    image: app" for j in range(1 + i % 3))
        (folder / "lab.yaml").write_text(f"id: lab{i}\nservices:\n{services}\n")
        for j in range(i):
            (folder / "shortcuts" / f"s{j}.py").write_text('"""fake"""\n')
        folders.append(folder)
    shards = [select_shard(folders, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(f.name for shard in shards for f in shard) == sorted(f.name for f in folders)
    assert shards == [select_shard(folders, f"{k}/3") for k in (1, 2, 3)]  # stable
    longest = sorted(folders, key=estimated_seconds, reverse=True)[:2]
    assert not any(set(longest) <= set(shard) for shard in shards)


def test_shard_and_changed_usage_errors(labs):
    bad = labs("validate", "--all", "--shard", "4/3")
    assert bad.returncode == 2 and "--shard" in bad.stderr and "Traceback" not in bad.stderr
    ref = labs("validate", "--all", "--changed", "no-such-ref-xyz")
    assert ref.returncode == 2 and "no-such-ref-xyz" in ref.stderr and "Traceback" not in ref.stderr


def test_changed_selects_labs_by_folder_and_shared_image(tmp_path):
    """--changed REF: a lab whose folder changed, and one using a changed shared image, are chosen;
    a change to labs' own code chooses every lab."""
    import subprocess

    from orchestrator.validate import changed_folders

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, timeout=30)

    for lab, image in (("alpha", "web"), ("beta", "db"), ("gamma", "web")):
        (tmp_path / "labs" / lab).mkdir(parents=True)
        (tmp_path / "labs" / lab / "lab.yaml").write_text(f"id: {lab}\nservices:\n  main:\n    image: {image}\n")
    for image in ("web", "db"):
        (tmp_path / "images" / image).mkdir(parents=True)
        (tmp_path / "images" / image / "Dockerfile").write_text("FROM debian:bookworm\n")
    (tmp_path / "orchestrator").mkdir()
    (tmp_path / "orchestrator" / "core.py").write_text("x = 1\n")
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base", "--allow-empty")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "labs")
    folders = sorted((tmp_path / "labs").iterdir())
    images = tmp_path / "images"
    assert changed_folders(folders, "HEAD", images)[0] == []
    (tmp_path / "images" / "web" / "Dockerfile").write_text("FROM debian:bookworm\nRUN true\n")
    git("add", "-A")
    touched, why = changed_folders(folders, "HEAD", images)
    assert [f.name for f in touched] == ["alpha", "gamma"] and "2 lab(s)" in why
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "change")
    (tmp_path / "labs" / "beta" / "briefing.md").write_text("again\n")
    assert [f.name for f in changed_folders(folders, "HEAD", images)[0]] == ["beta"]
    (tmp_path / "orchestrator" / "core.py").write_text("x = 2\n")
    touched, why = changed_folders(folders, "HEAD", images)
    assert len(touched) == 3 and "every lab" in why
