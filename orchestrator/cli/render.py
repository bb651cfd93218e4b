"""Rendering for the CLI: tables, verdicts, errors and progress, with Rich.

Results go to stdout; progress and errors go to stderr, so ``--json`` output
stays clean for machines.

Lab text (titles, briefings, hints, verdicts) and container output are untrusted: they are
never parsed as Rich markup, and their control characters (ESC and the rest: OSC/CSI
sequences that could retitle, recolour or rewrite the learner's terminal) are shown visibly
as ``\x1b`` and the like. Only ``labs shell`` passes bytes through untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character rendered visibly (``\x1b``), so it cannot act on
    the terminal; Windows line ends become plain newlines."""
    text = str(text).replace("\r\n", "\n")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def safe(text: str) -> str:
    """Untrusted text to embed in a markup string: control characters visible, markup escaped."""
    return escape(visible(text))


def plain(text: str):
    """Untrusted text as a Rich renderable that is never parsed as markup."""
    from rich.text import Text

    return Text(visible(text))


def markdown(text: str):
    """A lab's briefing rendered as Markdown (never as Rich markup), control characters visible."""
    from rich.markdown import Markdown

    return Markdown(visible(text))


class LogWriter:
    """Container output for the terminal: decoded incrementally (a character split across chunks
    stays whole), control characters visible."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, chunk: bytes, final: bool = False) -> None:
        text = self.decoder.decode(chunk, final)
        if text:
            self.stream.write(visible(text))
            self.stream.flush()


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error(message: str, fix: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {safe(message)}", soft_wrap=True)
    if fix:
        err.print(f"[yellow]  what to do:[/] {safe(fix)}", soft_wrap=True)


@contextlib.contextmanager
def progress(title: str, quiet: bool = False):
    """A spinner on stderr; yields a callback that updates its text (no-op when quiet)."""
    if quiet or not err.is_terminal:
        def plain(text: str) -> None:
            if not quiet:
                err.print(f"[dim]… {safe(text)}[/]")

        yield plain
        return
    with err.status(safe(title)) as status:
        def update(text: str) -> None:
            status.update(safe(text))

        yield update


def lab_table(rows, running: set[str] | None) -> Table:
    table = Table(title="labs", title_justify="left")
    for column in ("id", "title", "difficulty", "minutes", "running"):
        table.add_column(column)
    for row in rows:
        state = "?" if running is None else ("yes" if row.id in running else "no")
        title = plain(row.title) if not row.problem else f"[red]{safe(row.problem)}[/]"
        table.add_row(plain(row.id), title, plain(row.difficulty), plain(str(row.minutes)), state)
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
        table.add_row(plain(inst.lab_id), plain(inst.instance), f"[{colours.get(inst.state, 'white')}]{safe(inst.state)}[/]", plain(services), plain(ports))
    return table


def check_table(report) -> Table:
    table = Table(title=f"checks for {safe(report.instance)}", title_justify="left", show_lines=True)
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
        table.add_row(mark, plain(shown), plain(objective.message))
    return table


def stage_lines(report) -> list[str]:
    """Where the learner is in a staged lab: the current stage and what comes next."""
    if not report.stages:
        return []
    current = report.current_stage
    if current is None:
        return [f"[green]every stage done[/] ({len(report.stages)} of {len(report.stages)})"]
    number = report.stages.index(current) + 1
    lines = [f"stage {number}/{len(report.stages)}: [bold]{safe(current['title'])}[/] ({current['passed']}/{current['total']} objectives pass)"]
    upcoming = report.next_stage
    if upcoming is not None:
        lines.append(f"[dim]next: {safe(upcoming['title'])}[/]")
    return lines


def findings_table(findings) -> Table:
    table = Table(title="labs doctor", title_justify="left")
    for column in ("", "check", "detail", "what to do"):
        table.add_column(column)
    for finding in findings:
        table.add_row("[green]✓[/]" if finding.ok else "[red]✗[/]", plain(finding.check), plain(finding.detail), "" if finding.ok else plain(finding.fix))
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _when(at: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def progress_table(rows) -> Table:
    """`labs progress`: one row per lab instance from the history of attempts."""
    table = Table(box=None, pad_edge=False)
    for column in ("lab", "instance", "solved", "time to solve", "attempts", "hints", "checks", "best", "last activity"):
        table.add_column(column)
    for row in rows:
        solved = "[green]✓[/] " + _when(row.solved_at) + (" [yellow](solution applied)[/]" if row.used_solution else "") if row.solved else "[red]✗[/]"
        table.add_row(row.lab, row.instance, solved, _duration(row.seconds_to_solve), str(row.attempts), str(row.hints_total),
                      str(row.checks), row.best, _when(row.last_activity))
    return table
