"""`labs validate --skip shortcuts` on the real engine, for the shipped labs whose own test files
prove every shortcut (tests/test_validate.py SHORTCUTS_PROVEN_BY_THEIR_TESTS): every other phase
passes, the shortcuts phase is reported as skipped (never as passed), and nothing is left.

In a file of its own so that a second test worker validates these labs while the first
validates the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_validate import REPO, SHORTCUTS_PROVEN_BY_THEIR_TESTS, _assert_nothing_left, _cleanup

pytestmark = pytest.mark.docker


def test_each_skipped_lab_has_a_test_file_naming_every_shortcut():
    for lab, test_file in SHORTCUTS_PROVEN_BY_THEIR_TESTS.items():
        text = (Path(__file__).parent / test_file).read_text(encoding="utf-8")
        shipped = sorted(p.stem for p in (REPO / "labs" / lab / "shortcuts").glob("[!_]*.py"))
        assert shipped, f"{lab} ships no shortcuts"
        missing = [name for name in shipped if not re.search(rf"[\"']{re.escape(name)}[\"']", text)]
        assert not missing, f"{test_file} does not test {lab}'s shortcuts {missing}: validate them instead"


def test_labs_proving_their_shortcuts_elsewhere_validate_without_that_phase(engine, labs):
    names = sorted(SHORTCUTS_PROVEN_BY_THEIR_TESTS)
    result, report = labs.json("validate", *names, "--jobs", "2", "--skip", "shortcuts", "--timeout", "2400", timeout=5400)
    try:
        assert sorted(lab["lab"] for lab in report["labs"]) == names
        for lab in report["labs"]:
            status = {p["phase"]: (p["status"], p["message"]) for p in lab["phases"]}
            assert status.pop("shortcuts") == ("skipped", "not run: --skip shortcuts"), lab["lab"]
            failed = {phase: message for phase, (state, message) in status.items() if state != "passed"}
            assert not failed, f"{lab['lab']}: {failed}"
        assert result.returncode == 0 and report["ok"], result.stderr
        for lab in report["labs"]:
            _assert_nothing_left(engine, lab["lab"], lab["instance"])
    finally:
        for lab in report.get("labs", []):
            _cleanup(engine, lab["lab"], lab.get("instance"))
