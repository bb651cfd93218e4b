"""Authoring tools without Docker: `labs new`, `labs lint`, `labs schema`, JUnit output.

Every invalid lab here is the scaffold with one thing wrong, and every problem must be
reported with its file, line and field. All of it runs in about ten seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.lint import json_schema, schema_text
from orchestrator.scaffold import new_lab, template_files
from orchestrator.spec import load_lab
from orchestrator.validate import FAILED, PASSED, PHASES, SKIPPED, LabValidation, PhaseResult, ValidationReport, junit_xml

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "labs"


# --------------------------------------------------------------------------- schema


def test_shipped_schema_is_up_to_date():
    shipped = (REPO / "schema" / "lab.schema.json").read_text(encoding="utf-8")
    assert shipped == schema_text(), "schema/lab.schema.json is stale: run `labs schema > schema/lab.schema.json`"


def test_schema_command_prints_the_schema(labs):
    result = labs("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == json_schema()
    assert "folder" not in schema["properties"], "the internal folder field must not be in the schema"
    assert {"id", "title", "services", "hints", "break"} <= set(schema["properties"])
    port_forms = schema["$defs"]["Port"]["anyOf"]
    assert {form.get("type") for form in port_forms} == {"object", "string", "integer"}, "ports accept \"8080:80\", 80 and the mapping"


# --------------------------------------------------------------------------- labs new


def test_new_writes_a_lab_that_loads_and_lints(labs, tmp_path):
    result = labs("new", "my-first-lab", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "my-first-lab"
    written = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert written == template_files()
    assert {"lab.yaml", "briefing.md", "break.py", "solution.py", "SOLUTION.md", "test_objectives.py"} <= {str(p) for p in written}
    for path in folder.rglob("*"):
        if path.is_file():
            assert "__LAB_ID__" not in path.read_text(), f"{path} still holds the placeholder"
    lab = load_lab(folder)
    assert lab.id == "my-first-lab" and lab.services["web"].image == "nginx"
    lint = labs("lint", str(folder), "--json")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    [report] = json.loads(lint.stdout)["labs"]
    # Only the reminders to write the lab's own texts: the scaffold itself is a valid lab.
    assert report["ok"] and all("still the text `labs new` wrote" in p["message"] for p in report["problems"]), report["problems"]
    assert {Path(p["file"]).name for p in report["problems"]} == {"briefing.md", "SOLUTION.md"}
    assert [o["name"] for o in report["objectives"]] == ["test_page_served", "test_page_not_world_writable", "test_survives_restart"]
    assert f"labs validate my-first-lab --labs-dir {tmp_path}" in " ".join(result.stdout.split())


def test_new_refuses_to_overwrite(labs, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = labs("new", "taken", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "already exists" in result.stderr and "not overwriting" in result.stderr
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("bad_id", ["Bad_Id", "1lab", "lab--x", "a" * 41, "-x"])
def test_new_refuses_an_invalid_id(labs, tmp_path, bad_id):
    result = labs("new", "--dir", str(tmp_path), "--", bad_id)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not a valid lab id" in result.stderr
    assert not any(tmp_path.iterdir()), "nothing may be written for an invalid id"


# --------------------------------------------------------------------------- labs lint


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# Each case: the scaffold with one thing wrong, and what lint must say:
# (file name, the line holding this text, field or None, a phrase of the message).
CASES = {
    "typo-field": (lambda f: _edit(f / "lab.yaml", "main: web", "main: web\ntitel: oops"), ("lab.yaml", "titel: oops", "titel", "did you mean 'title'")),
    "bad-difficulty": (lambda f: _edit(f / "lab.yaml", "difficulty: beginner", "difficulty: easy"), ("lab.yaml", "difficulty: easy", "difficulty", "'beginner', 'intermediate' or 'advanced'")),
    "bad-port": (lambda f: _edit(f / "lab.yaml", '["8090:80"]', '["8090:80:1"]'), ("lab.yaml", "8090:80:1", "services.web.ports.0", "is not a port")),
    "image-typo": (lambda f: _edit(f / "lab.yaml", "image: nginx", "image: ngnix"), ("lab.yaml", "image: ngnix", "services.web.image", "did you mean 'nginx'")),
    "undeclared-env": (
        lambda f: _edit(f / "lab.yaml", "    limits: {memory: 64m", '    env: {TOKEN: "${tokn}"}\n    limits: {memory: 64m'),
        ("lab.yaml", "TOKEN:", "services.web.env.TOKEN", "${tokn} is not a declared value"),
    ),
    "missing-suite": (lambda f: (f / "test_objectives.py").unlink(), ("lab.yaml", "suite: test_objectives.py", "suite", "does not exist")),
    "duplicate-key": (lambda f: _edit(f / "lab.yaml", "minutes: 10", "minutes: 10\nminutes: 12"), ("lab.yaml", "minutes: 12", "minutes", "appears twice")),
    "bad-yaml": (lambda f: _edit(f / "lab.yaml", "tags: [nginx, permissions]", "tags: [nginx, permissions"), ("lab.yaml", None, None, "invalid YAML")),
    "break-syntax": (lambda f: _edit(f / "break.py", 'if host.data.service == "web":', 'if host.data.service == "web"'), ("break.py", 'if host.data.service == "web"', None, "does not compile")),
    "undeclared-value": (
        lambda f: _edit(f / "solution.py", 'path="/srv/status/index.html"', 'path=host.data.values["page"]'),
        ("solution.py", 'values["page"]', None, "'page', which lab.yaml does not declare"),
    ),
    "unknown-fixture": (
        lambda f: _edit(f / "test_objectives.py", "def test_page_served(lab):", "def test_page_served(labb):"),
        ("test_objectives.py", "def test_page_served(labb):", None, "fixture 'labb', which does not exist"),
    ),
    "no-objectives": (
        lambda f: (f / "test_objectives.py").write_text('"""No objectives yet."""\n\n\ndef helper(lab):\n    return lab\n'),
        ("test_objectives.py", None, None, "collects no objectives"),
    ),
    "suite-import-error": (
        lambda f: _edit(f / "test_objectives.py", 'WEB_PORT = 80', 'import no_such_module_here\nWEB_PORT = 80'),
        ("test_objectives.py", "import no_such_module_here", None, "No module named 'no_such_module_here'"),
    ),
}


@pytest.fixture(scope="module")
def linted(tmp_path_factory, state_dir):
    """Every case linted in one `labs lint --json` run (one process, about a second)."""
    base = tmp_path_factory.mktemp("lint-cases")
    folders = []
    for case, (mutate, _) in CASES.items():
        folder = new_lab(case, base)
        mutate(folder)
        folders.append(str(folder))
    import os

    env = {**os.environ, "LABS_STATE_DIR": str(state_dir), "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "orchestrator", "lint", "--json", *folders], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, f"lint must exit 2 on errors:\n{result.stdout}\n{result.stderr}"
    return base, {entry["folder"].rsplit("/", 1)[-1]: entry for entry in json.loads(result.stdout)["labs"]}


@pytest.mark.parametrize("case", list(CASES))
def test_lint_reports_file_line_and_field(linted, case):
    base, reports = linted
    report = reports[case]
    file_name, line_of, field, phrase = CASES[case][1]
    assert not report["ok"], f"{case}: lint passed an invalid lab"
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    matching = [p for p in errors if phrase in p["message"] or phrase in (p["fix"] or "")]
    assert matching, f"{case}: no error mentions {phrase!r}; got {[p['message'] for p in errors]}"
    problem = matching[0]
    assert problem["file"] == str(base / case / file_name)
    if line_of is not None:
        assert problem["line"] == _line(base / case / file_name, line_of), f"{case}: wrong line in {problem}"
    else:
        assert file_name != "lab.yaml" or problem["line"], f"{case}: a lab.yaml problem needs a line: {problem}"
    if field is not None:
        assert problem["field"] == field


def test_lint_text_output_and_exit_codes(labs, tmp_path):
    folder = new_lab("wrong-one", tmp_path)
    _edit(folder / "lab.yaml", "difficulty: beginner", "difficulty: easy")
    bad = labs("lint", str(folder))
    assert bad.returncode == 2
    assert f"{folder / 'lab.yaml'}:{_line(folder / 'lab.yaml', 'difficulty: easy')}: error: difficulty:" in bad.stdout
    good = labs("lint", "nginx-misconfig")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "nginx-misconfig" in good.stdout


def test_lint_warns_about_an_unguarded_shell_in_the_solution(labs):
    result = labs("lint", "--json", str(FIXTURES / "fx-not-idempotent"))
    assert result.returncode == 0, "warnings alone do not fail lint"
    [report] = json.loads(result.stdout)["labs"]
    [warning] = [p for p in report["problems"] if p["severity"] == "warning" and "still the text" not in p["message"]]
    assert "_if=" in warning["message"] and warning["file"].endswith("solution.py") and warning["line"]


def test_fixture_labs_are_valid_specs():
    """The validate fixtures are wrong in behaviour only: their specs must load."""
    names = sorted(p.name for p in FIXTURES.iterdir() if (p / "lab.yaml").is_file())
    assert names == ["fx-not-idempotent", "fx-passes-unbroken", "fx-reset-keeps-fix", "fx-unsolved"]
    for name in names:
        assert load_lab(FIXTURES / name).id == name


# --------------------------------------------------------------------------- labs validate, without Docker


def test_validate_usage_errors(labs):
    none = labs("validate")
    assert none.returncode == 2 and "--all" in none.stderr
    both = labs("validate", "nginx-misconfig", "--all")
    assert both.returncode == 2
    missing = labs("validate", "no-such-lab-here")
    assert missing.returncode == 3 and "no lab named 'no-such-lab-here'" in missing.stderr


def test_junit_xml_lists_every_phase():
    ok = LabValidation("good", "/labs/good", "v1", [PhaseResult(p, PASSED, "fine", 1.0) for p in PHASES], seconds=8)
    bad_phases = [PhaseResult(p, PASSED, "", 0.5) for p in PHASES[:4]]
    bad_phases += [PhaseResult("solution", FAILED, "after solution.py, 1/3 objectives still fail: test_x: <saw 403> & more", 2.0)]
    bad_phases += [PhaseResult(p, SKIPPED, "not run") for p in PHASES[5:]]
    bad = LabValidation("bad", "/labs/bad", "v2", bad_phases, seconds=4)
    root = ET.fromstring(junit_xml(ValidationReport([ok, bad], jobs=2, seconds=9)))
    assert root.tag == "testsuites" and root.get("tests") == str(2 * len(PHASES)) and root.get("failures") == "1"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"good", "bad"}
    for name, suite in suites.items():
        assert [c.get("name") for c in suite.findall("testcase")] == list(PHASES)
        assert {c.get("classname") for c in suite.findall("testcase")} == {f"labs.{name}"}
    failure = suites["bad"].find("testcase[@name='solution']/failure")
    assert failure is not None and "<saw 403> & more" in failure.get("message") and "test_x" in failure.text
    assert len(suites["bad"].findall("testcase/skipped")) == len(PHASES[5:])


def test_junit_xml_has_a_test_case_per_shortcut():
    cases = [
        {"name": "shim-nginx", "doc": "a shim answers nginx -t", "status": PASSED, "message": "rejected by test_config", "seconds": 3.0, "caught_by": ["test_config"]},
        {"name": "static-copy", "doc": "a copy of the page", "status": FAILED, "message": "every objective passes after this wrong fix", "seconds": 4.0, "caught_by": []},
    ]
    phases = [PhaseResult(p, PASSED, "fine", 1.0) for p in PHASES if p != "shortcuts"]
    phases.insert(PHASES.index("shortcuts"), PhaseResult("shortcuts", FAILED, "shortcut static-copy: every objective passes", 7.0, cases=cases))
    root = ET.fromstring(junit_xml(ValidationReport([LabValidation("lab-a", "/labs/lab-a", "v1", phases, seconds=20)])))
    suite = root.find("testsuite")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == [*PHASES[:PHASES.index("shortcuts") + 1], "shortcut shim-nginx", "shortcut static-copy", "stop"]
    assert suite.get("tests") == str(len(PHASES) + 2) and suite.get("failures") == "2"
    failing = suite.find("testcase[@name='shortcut static-copy']/failure")
    assert failing is not None and "a copy of the page" in failing.text
    assert suite.find("testcase[@name='shortcut shim-nginx']/failure") is None


SHORTCUT_LINT = {
    "no-docstring": ("import os\n", "the shortcut has no docstring"),
    "bad-syntax": ('"""Broken."""\nif True\n', "does not compile"),
    "undeclared": ('"""Uses a value."""\nfrom pyinfra import host\nx = host.data.values["secret_x"]\n', "'secret_x', which lab.yaml does not declare"),
}


def test_lint_knows_the_shortcuts_folder_statically(tmp_path):
    """Every shortcut is read with ast, never run: a docstring is required, syntax and values are checked."""
    from orchestrator.lint import lint_folder, read_shortcuts

    folder = new_lab("with-shortcuts", tmp_path)
    marker = tmp_path / "executed"
    for name, (source, _) in SHORTCUT_LINT.items():
        (folder / "shortcuts" / f"{name}.py").write_text(source.replace("import os", f"import os\nopen({str(marker)!r}, 'w')"))
    (folder / "shortcuts" / "notes.txt").write_text("not a deploy")
    (folder / "shortcuts" / "_helpers.py").write_text("X = 1\n")  # helpers (leading _) are not shortcuts
    result = lint_folder(folder)
    assert not marker.exists(), "lint must never execute a lab's shortcut"
    for name, (_, phrase) in SHORTCUT_LINT.items():
        assert any(p.file.endswith(f"shortcuts/{name}.py") and phrase in p.message and p.severity == "error" for p in result.problems), (name, [str(p) for p in result.problems])
    assert any(p.file.endswith("notes.txt") and p.severity == "warning" for p in result.problems)
    assert sorted(result.shortcuts) == sorted([*SHORTCUT_LINT, "world-writable-page"])
    assert [s.name for s in read_shortcuts(folder)] == sorted([*SHORTCUT_LINT, "world-writable-page"])
    summary = next(s for s in read_shortcuts(folder) if s.name == "world-writable-page").summary
    assert summary.startswith("Shortcut: make the page readable with chmod 666")


def test_new_scaffolds_a_shortcut_that_lints(tmp_path):
    from orchestrator.lint import lint_folder

    folder = new_lab("fresh-one", tmp_path)
    assert (folder / "shortcuts" / "world-writable-page.py").is_file()
    result = lint_folder(folder)
    assert result.ok and result.shortcuts == ["world-writable-page"], [str(p) for p in result.problems]


def test_help_stays_light():
    """Registering the authoring commands must not import the heavy libraries."""
    code = "import sys; import orchestrator.cli.app; heavy = [m for m in ('docker', 'pytest', 'pyinfra', 'pydantic', 'yaml') if m in sys.modules]; print(heavy)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
