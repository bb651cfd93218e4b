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


# Below this width (or when not printing to a terminal) results are shown as lists, never as
# tables: a table squeezed to fit cuts ports, ids and paths, and a file gets no terminal width.
TABLE_MIN_WIDTH = 100


def print_json(data) -> None:
    if hasattr(data, "dump"):
        data = data.dump()
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def as_table(console: Console = out) -> bool:
    return console.is_terminal and console.width >= TABLE_MIN_WIDTH


def warn(message: str) -> None:
    err.print(f"[yellow]note:[/] {safe(message)}", soft_wrap=True)


def markdown(text: str) -> None:
    """A briefing: rendered as Markdown on a terminal (never as Rich markup), as written (full
    lines, nothing cut) elsewhere; control characters visible either way."""
    if out.is_terminal:
        from rich.markdown import Markdown

        out.print(Markdown(visible(text)))
    else:
        out.print(visible(text).rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def error(message: str, fix: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {safe(message)}", soft_wrap=True)
    if fix:
        err.print(f"[yellow]  what to do:[/] {safe(fix)}", soft_wrap=True)


@contextlib.contextmanager
def progress(title: str, quiet: bool = False, verbose: bool = False):
    """A spinner on stderr showing the current step (a build's step, its elapsed time and last
    output lines); yields a callback that updates it (no-op when quiet). On a file or pipe, each
    new step is one plain line. ``verbose`` streams every line of build output as well."""
    if quiet or not err.is_terminal:
        shown = {"last": None}

        def plain(text: str) -> None:
            head = text.splitlines()[0].rsplit(" (", 1)[0] if text else text
            if not quiet and head != shown["last"]:
                shown["last"] = head
                err.print(f"[dim]… {safe(text.splitlines()[0] if text else text)}[/]", soft_wrap=True)

        if verbose and not quiet:
            plain.verbose = lambda line: err.print(visible(line), markup=False, highlight=False, soft_wrap=True)
        yield plain
        return
    with err.status(safe(title)) as status:
        def update(text: str) -> None:
            status.update(safe(text))

        if verbose:
            update.verbose = lambda line: err.print(visible(line), markup=False, highlight=False, soft_wrap=True)
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
        table.add_column(column, overflow="fold")
    colours = {"running": "green", "degraded": "yellow", "stopped": "dim"}
    for inst in instances:
        data = inst.to_dict()
        services = ", ".join(f"{s}:{st}" for s, st in data["services"].items())
        ports = ", ".join(p for plist in data["ports"].values() for p in plist)
        table.add_row(plain(inst.lab_id), plain(inst.instance), f"[{colours.get(inst.state, 'white')}]{safe(inst.state)}[/]", plain(services), plain(ports))
    return table


def status(instances) -> None:
    if as_table():
        out.print(status_table(instances))
        return
    for inst in instances:
        data = inst.to_dict()
        name = inst.lab_id if inst.instance == "default" else f"{inst.lab_id} (instance {inst.instance})"
        out.print(f"{safe(name)}: {inst.state}", soft_wrap=True)
        out.print(f"  key:      {safe(inst.key)}", soft_wrap=True)
        out.print("  services: " + ", ".join(f"{s} {st}" for s, st in data["services"].items()), soft_wrap=True)
        for service, ports in data["ports"].items():
            out.print(f"  ports:    {service} {', '.join(ports)}", soft_wrap=True)
        out.print("  containers: " + ", ".join(data["containers"].values()), soft_wrap=True)


def _mark(objective) -> str:
    return "[green]✓[/]" if objective.passed else ("[yellow]–[/]" if objective.outcome == "skipped" else "[red]✗[/]")


def check_report(report) -> None:
    if as_table():
        out.print(check_table(report))
        return
    out.print(f"checks for {safe(report.instance)}", soft_wrap=True)
    for objective in report.objectives:
        out.print(f"{_mark(objective)} {safe(objective.title)}", soft_wrap=True)
        for line in objective.message.splitlines():
            out.print(f"    {safe(line)}", soft_wrap=True)


def findings(found) -> None:
    if as_table():
        out.print(findings_table(found))
        return
    for finding in found:
        out.print(f"{'[green]✓[/]' if finding.ok else '[red]✗[/]'} {safe(finding.check)}: {safe(finding.detail)}", soft_wrap=True)
        if not finding.ok and finding.fix:
            out.print(f"    what to do: {safe(finding.fix)}", soft_wrap=True)


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
