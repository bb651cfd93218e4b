"""A briefing rendered for one instance: placeholders and the literal default-instance forms."""

from __future__ import annotations

from pathlib import Path

from orchestrator.briefing import render_briefing
from orchestrator.spec import load_lab

LAB = load_lab(Path(__file__).resolve().parent.parent / "labs" / "nginx-misconfig")


def test_placeholders_and_literal_forms_fit_a_named_instance():
    text = (
        "Open ${url:proxy:80} (port ${port:proxy:80}, ${address:proxy:80}); `${labs:shell} app`.\n"
        "Also at <http://127.0.0.1:8080/>. `labs check nginx-misconfig` and `labs hint nginx-misconfig`.\n"
        "Not this one: labs check nginx-misconfig-2, nor 127.0.0.1:9999.\n"
    )
    shown = render_briefing(LAB, text, instance="alice", host_ports={"proxy:80": 32776}, labs_dir=Path("/course/labs"))
    flags = "--instance alice --labs-dir /course/labs"
    assert "Open http://127.0.0.1:32776/ (port 32776, 127.0.0.1:32776)" in shown
    assert f"`labs shell nginx-misconfig {flags} app`" in shown
    assert "<http://127.0.0.1:32776/>" in shown and "8080" not in shown
    assert f"`labs check nginx-misconfig {flags}` and `labs hint nginx-misconfig {flags}`" in shown
    assert "labs check nginx-misconfig-2," in shown and "127.0.0.1:9999" in shown


def test_the_default_instance_reads_as_written_and_a_remote_engine_gets_its_host():
    text = "At <http://127.0.0.1:8080/>; `labs shell nginx-misconfig`; ${url:proxy:80}"
    assert render_briefing(LAB, text) == "At <http://127.0.0.1:8080/>; `labs shell nginx-misconfig`; http://127.0.0.1:8080/"
    remote = render_briefing(LAB, text, host_ports={"proxy:80": 8080}, host="engine.lan")
    assert remote == "At <http://engine.lan:8080/>; `labs shell nginx-misconfig`; http://engine.lan:8080/"


def test_docs_json_md_holds_the_current_json_schemas():
    from orchestrator.outputs import json_docs

    shipped = (Path(__file__).resolve().parent.parent / "docs" / "json.md").read_text(encoding="utf-8")
    assert shipped == json_docs(), "docs/json.md is stale: run `python -m orchestrator.outputs > docs/json.md`"


def test_the_check_shape_takes_every_field_the_check_runner_reports():
    """The runner's report and the documented shape must not drift apart (extra keys are refused)."""
    import dataclasses

    from orchestrator.check_runner import CheckReport, Objective
    from orchestrator.outputs import CheckOutput

    fields = {f.name for f in dataclasses.fields(Objective)}
    objective = Objective(**{name: value for name, value in {"id": "test_x", "title": "X", "passed": False, "outcome": "failed"}.items() if name in fields})
    report = CheckReport("lab", "lab.alice", [objective])
    shape = CheckOutput(**{**report.to_dict(), "key": "lab.alice", "instance": "alice"}).dump()
    assert shape["schema"] == "labs.check/1" and set(shape["objectives"][0]) >= fields
