"""Commands for lab authors, instructors and CI: ``validate``, ``new``, ``lint``, ``schema``.

Registered on the main app by importing this module at the end of ``cli/app.py``.
Only typer is imported at module level, so ``labs --help`` stays instant; the core
(``orchestrator.validate``, ``orchestrator.lint``, ``orchestrator.scaffold``) is
imported inside each command, and does the work without knowing about the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli.app import Json, LabsDir, app, handles_errors
from orchestrator.errors import ExitCode

LabsArg = Annotated[Optional[list[str]], typer.Argument(help="lab ids (see `labs list`) or lab folders", show_default=False)]

_SHORT = {
    "lint": "lint",
    "build": "build",
    "start": "start",
    "negative-control": "neg",
    "solution": "solve",
    "idempotence": "idem",
    "reset": "reset",
    "shortcuts": "short",
    "stop": "stop",
}


class _Display:
    """Progress of a validation on stderr: a live table on a terminal, plain lines elsewhere (CI logs)."""

    def __init__(self, quiet: bool):
        import threading

        from orchestrator.cli import render

        self.quiet = quiet
        self.console = render.err
        self.live = None
        self.lock = threading.Lock()
        self.rows: dict[str, tuple[str, str, str | None]] = {}  # lab -> (phase, text, status)

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, event) -> None:
        if self.quiet:
            return
        with self.lock:
            self.rows[event.lab] = (event.phase, event.text, event.status)
            if self.live is not None:
                self.live.update(self._table())
            else:
                self._plain(event)

    def _plain(self, event) -> None:
        from orchestrator.cli.render import safe

        if event.status is None:
            self.console.print(f"[dim]… {safe(event.lab)}: {safe(event.phase)}: {safe(event.text)}[/]", soft_wrap=True)
            return
        colour = {"passed": "green", "failed": "red"}.get(event.status, "yellow")
        line = event.text.splitlines()[0] if event.text else ""
        self.console.print(f"[{colour}]{event.status}[/] {safe(event.lab)}: {safe(event.phase)}: {safe(line[:300])}", soft_wrap=True)

    def _table(self):
        from orchestrator.cli.render import safe
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table(title="labs validate", title_justify="left", show_edge=False, box=None)
        table.add_column("", width=1, no_wrap=True)
        table.add_column("lab", no_wrap=True, min_width=max((len(lab) for lab in self.rows), default=3))
        table.add_column("phase", no_wrap=True, min_width=len("negative-control"))
        table.add_column("now", no_wrap=True, overflow="ellipsis", ratio=1)
        for lab, (phase, text, status) in self.rows.items():
            if status is None:
                mark = Spinner("dots", style="cyan")
            else:
                mark = {"passed": "[green]✓[/]", "failed": "[red]✗[/]"}.get(status, "[yellow]–[/]")
            table.add_row(mark, safe(lab), safe(phase), safe((text.splitlines() or [""])[0][:100]))
        return table


def _mark(phase) -> str:
    if phase is None:
        return ""
    return {"passed": "[green]✓[/]", "failed": "[red]✗[/]"}.get(phase.status, "[dim]–[/]")


def _summary(report, console) -> None:
    from orchestrator.cli.render import safe
    from rich.table import Table

    from rich import box

    from orchestrator.validate import PHASES, phase_title

    table = Table(title="validation", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("lab", no_wrap=True, min_width=min(30, max((len(lab.lab) for lab in report.labs), default=3)))
    for name in PHASES:
        table.add_column(_SHORT[name], justify="center", no_wrap=True, min_width=len(_SHORT[name]))
    table.add_column("time", justify="right", no_wrap=True, min_width=4)
    for lab in report.labs:
        name = f"[green]{safe(lab.lab)}[/]" if lab.ok else f"[bold red]{safe(lab.lab)}[/]"
        table.add_row(name, *(_mark(lab.phase(n)) for n in PHASES), f"{lab.seconds:.0f}s")
    console.print(table)
    console.print("[dim]neg: the checks fail before the fix (a build lab: a fresh environment is not already built) · idem: a second solve changes nothing · short: every known wrong fix (shortcuts/) is rejected[/]")
    failures = [(lab, phase) for lab in report.labs for phase in lab.failures]
    if failures:
        console.print()
        detail = Table(title="what failed", title_justify="left", show_lines=True)
        detail.add_column("lab")
        detail.add_column("phase")
        detail.add_column("what failed", overflow="fold")
        for lab, phase in failures:
            detail.add_row(safe(lab.lab), safe(phase_title(phase.phase, lab.kind)), safe(" ".join(phase.message.split())))
        console.print(detail)


def _kept_help(lab) -> list[str]:
    from orchestrator.paths import shipped_labs_dir

    folder = Path(lab.folder)
    extra = "" if folder.parent == shipped_labs_dir() else f" --labs-dir {folder.parent}"
    flag = f"--instance {lab.instance}"
    return [
        f"kept {lab.key} running for inspection:",
        f"  labs status {lab.lab}",
        f"  labs shell {lab.lab} {flag}",
        f"  labs check {lab.lab} {flag}{extra}",
        f"  labs stop {lab.lab} {flag}      (when you are done)",
    ]


@app.command()
@handles_errors
def validate(
    labs: LabsArg = None,
    all_labs: Annotated[bool, typer.Option("--all", help="validate every lab on the search path")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, help="labs validated side by side, each in its own process")] = 1,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here (one testcase per lab and phase, and per shortcut)", show_default=False)] = None,
    keep: Annotated[bool, typer.Option("--keep", help="stop at a lab's first failed phase and leave its instance running as it failed, to inspect it")] = False,
    skip: Annotated[Optional[list[str]], typer.Option("--skip", metavar="PHASE", help="leave out a phase: idempotence, reset or shortcuts (repeatable; reported as skipped)", show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=30, help="seconds one lab's validation may take before it is stopped")] = 900,
    shard: Annotated[Optional[str], typer.Option("--shard", help="only shard K of N (K/N): a stable split with the longest labs spread evenly, for CI matrices")] = None,
    changed: Annotated[Optional[str], typer.Option("--changed", metavar="REF", help="only labs whose folder or shared images changed since git REF (all labs when labs' own code changed)")] = None,
    labs_dir: LabsDir = None,
    as_json: Json = False,
):
    """Prove labs work, for CI: lint, start broken, checks fail, solution passes and is idempotent, reset re-breaks, every shortcut is rejected, stop leaves nothing.

    Each lab runs in its own instance and process. Exits 0 only when every phase of every
    lab passed, 1 when validation failed.
    """
    from orchestrator.cli import render
    from orchestrator.errors import UsageError
    from orchestrator.validate import changed_folders, resolve_folders, select_shard, validate as run_validation, write_junit

    if not labs and not all_labs:
        raise UsageError("give lab ids (or folders) to validate, or --all", "for example `labs validate nginx-misconfig` or `labs validate --all --jobs 2`")
    folders = resolve_folders(labs or [], all_labs, labs_dir)
    if changed is not None:
        folders, why = changed_folders(folders, changed)
        render.err.print(f"[dim]--changed {changed}: {why}[/]")
    if shard is not None:
        folders = select_shard(folders, shard)
        render.err.print(f"[dim]--shard {shard}: {', '.join(f.name for f in folders) or 'no labs'}[/]")
    if not folders:
        render.err.print("nothing to validate")
        return
    with _Display(quiet=as_json) as display:
        report = run_validation(folders, jobs=jobs, keep=keep, skip=tuple(skip or ()), timeout=timeout, progress=display)
    if junit is not None:
        write_junit(report, junit)
    console = render.err if as_json else render.out
    if as_json:
        from orchestrator.outputs import ValidateOutput

        render.print_json(ValidateOutput(**report.to_dict()))
    else:
        _summary(report, console)
    for lab in report.labs:
        if lab.kept:
            for line in _kept_help(lab):
                render.err.print(render.visible(line), markup=False, soft_wrap=True)
    if not as_json:
        failed = report.failed
        if failed:
            console.print(f"[bold red]validation failed[/]: {len(failed)} of {len(report.labs)} lab(s) ({', '.join(lab.lab for lab in failed)}) in {report.seconds:.1f} s")
        else:
            console.print(f"[bold green]all {len(report.labs)} lab(s) passed validation[/] in {report.seconds:.1f} s")
        if junit is not None:
            console.print(f"[dim]JUnit XML written to {junit}[/]")
    if not report.ok:
        raise typer.Exit(int(ExitCode.CHECKS_FAILED))


@app.command()
@handles_errors
def lint(labs: LabsArg = None, labs_dir: LabsDir = None, as_json: Json = False):
    """Check lab folders without Docker: the spec, its files, the deploys and the suite, with file and line for each problem.

    With no lab given, lints every lab on the search path. Exits 2 when a lab has errors
    (warnings alone exit 0).
    """
    from orchestrator.cli.render import safe

    from orchestrator.cli import render
    from orchestrator.lint import lint_folder
    from orchestrator.validate import resolve_folders

    folders = resolve_folders(labs or [], all_labs=not labs, labs_dir=labs_dir)
    results = [lint_folder(folder) for folder in folders]
    if as_json:
        from orchestrator.outputs import LintOutput

        render.print_json(LintOutput(ok=all(r.ok for r in results), labs=[r.to_dict() for r in results]))
    else:
        for result in results:
            if result.ok:
                warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
                render.out.print(f"[green]✓[/] {safe(result.lab_id)}: {len(result.objectives)} objective(s){warned}")
            else:
                render.out.print(f"[red]✗[/] {safe(result.lab_id)}: {len(result.errors)} error(s), {len(result.warnings)} warning(s)")
            for problem in result.problems:
                colour = "red" if problem.severity == "error" else "yellow"
                text = safe(str(problem)).replace(f": {problem.severity}: ", f": [{colour}]{problem.severity}[/]: ", 1)
                render.out.print(f"  {text}", soft_wrap=True)
                if problem.fix:
                    render.out.print(f"    [dim]fix: {safe(problem.fix)}[/]", soft_wrap=True)
    if not all(r.ok for r in results):
        raise typer.Exit(int(ExitCode.USAGE))


@app.command()
@handles_errors
def new(
    lab_id: Annotated[str, typer.Argument(help="the new lab's id: lowercase letters, digits, dashes", show_default=False)],
    directory: Annotated[Path, typer.Option("--dir", help="the folder to create the lab folder in")] = Path("."),
    kind: Annotated[str, typer.Option("--kind", help="repair (the learner fixes what break.py broke) or build (the learner ships what the ticket asks, from what setup.py prepared)")] = "repair",
):
    """Create a complete, working example lab to edit: spec, briefing, break (or setup), solution, checks."""
    from orchestrator.cli import render
    from orchestrator.scaffold import new_lab, template_files

    folder = new_lab(lab_id, directory, kind)
    render.out.print(f"[green]created {folder}[/] ({kind} lab)")
    for relative in template_files(kind):
        render.out.print(f"  {relative}")
    where = directory.resolve()
    render.out.print("\nnext:")
    render.out.print(f"  labs lint {folder}                     fast checks of the spec and files, no Docker")
    cycle = "prepared, not already built, built by the reference, idempotent, reset, stopped" if kind == "build" else "broken, solved, idempotent, reset, stopped"
    render.out.print(f"  labs validate {lab_id} --labs-dir {where}   the full cycle: {cycle}")
    render.out.print(f"  labs start {lab_id} --labs-dir {where}      play it as a learner")
    render.out.print("  docs/authoring.md explains every file.")


@app.command()
@handles_errors
def schema():
    """Print the JSON Schema of lab.yaml (for editors and other tools)."""
    import sys

    from orchestrator.lint import schema_text

    sys.stdout.write(schema_text())
