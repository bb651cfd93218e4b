"""Rendering for the CLI: tables, verdicts, errors and progress, with Rich.

Results go to stdout; progress and errors go to stderr, so ``--json`` output
stays clean for machines.
"""

from __future__ import annotations

import contextlib
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error(message: str, fix: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if fix:
        err.print(f"[yellow]  what to do:[/] {escape(fix)}", soft_wrap=True)


@contextlib.contextmanager
def progress(title: str, quiet: bool = False):
    """A spinner on stderr; yields a callback that updates its text (no-op when quiet)."""
    if quiet or not err.is_terminal:
        def plain(text: str) -> None:
            if not quiet:
                err.print(f"[dim]… {escape(text)}[/]")

        yield plain
        return
    with err.status(escape(title)) as status:
        def update(text: str) -> None:
            status.update(escape(text))

        yield update


def lab_table(rows, running: set[str] | None) -> Table:
    table = Table(title="labs", title_justify="left")
    for column in ("id", "title", "difficulty", "minutes", "running"):
        table.add_column(column)
    for row in rows:
        state = "?" if running is None else ("yes" if row.id in running else "no")
        title = row.title if not row.problem else f"[red]{escape(row.problem)}[/]"
        table.add_row(row.id, title, row.difficulty, str(row.minutes), state)
    return table


def status_table(instances) -> Table:
    table = Table(title="running labs", title_justify="left")
    for column in ("lab", "instance", "state", "services", "ports"):
        table.add_column(column)
    colours = {"running": "green", "degraded": "yellow", "stopped": "dim"}
    for inst in instances:
        data = inst.to_dict()
        services = ", ".join(f"{s}:{st}" for s, st in data["services"].items())
        ports = ", ".join(p for plist in data["ports"].values() for p in plist)
        table.add_row(inst.lab_id, inst.instance, f"[{colours.get(inst.state, 'white')}]{inst.state}[/]", services, ports)
    return table


def check_table(report) -> Table:
    table = Table(title=f"checks for {report.instance}", title_justify="left", show_lines=True)
    table.add_column("", width=2)
    table.add_column("objective")
    table.add_column("what the check saw", overflow="fold")
    stage_titles = {stage["id"]: stage["title"] for stage in getattr(report, "stages", [])}
    for objective in report.objectives:
        if stage_titles and objective.stage in stage_titles:
            shown = f"[{stage_titles[objective.stage]}] {objective.title}"
        else:
            shown = objective.title
        mark = "[green]✓[/]" if objective.passed else ("[yellow]–[/]" if objective.outcome == "skipped" else "[red]✗[/]")
        table.add_row(mark, escape(shown), escape(objective.message))
    return table


def stage_lines(report) -> list[str]:
    """Where the learner is in a staged lab: the current stage and what comes next."""
    if not report.stages:
        return []
    current = report.current_stage
    if current is None:
        return [f"[green]every stage done[/] ({len(report.stages)} of {len(report.stages)})"]
    number = report.stages.index(current) + 1
    lines = [f"stage {number}/{len(report.stages)}: [bold]{escape(current['title'])}[/] ({current['passed']}/{current['total']} objectives pass)"]
    upcoming = report.next_stage
    if upcoming is not None:
        lines.append(f"[dim]next: {escape(upcoming['title'])}[/]")
    return lines


def findings_table(findings) -> Table:
    table = Table(title="labs doctor", title_justify="left")
    for column in ("", "check", "detail", "what to do"):
        table.add_column(column)
    for finding in findings:
        table.add_row("[green]✓[/]" if finding.ok else "[red]✗[/]", finding.check, escape(finding.detail), "" if finding.ok else escape(finding.fix))
    return table
