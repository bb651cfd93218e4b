"""The ``labs`` commands. Each parses its options, calls one function of the core, and renders.

Heavy libraries (docker, pyinfra, pytest, pydantic) are imported inside the
commands that need them, so ``labs --help`` and ``labs list`` answer at once.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator import __version__
from orchestrator.errors import ExitCode, LabsError

app = typer.Typer(
    name="labs",
    help="Hands-on, broken-on-purpose lab environments for learning operations.\n\nStart a lab, get a shell inside, fix it with real tools, and let `labs check` prove it works end to end.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
    rich_markup_mode=None,
)

LabArg = Annotated[str, typer.Argument(help="the lab id (see `labs list`)", show_default=False)]
LabsDir = Annotated[Optional[Path], typer.Option("--labs-dir", help="an extra folder of lab folders (also: LABS_PATH)", show_default=False)]
Instance = Annotated[str, typer.Option("--instance", "-i", help="run several copies of a lab side by side under different names")]
Json = Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout")]


def _fail(err: LabsError, as_json: bool) -> None:
    from orchestrator.cli import render

    if as_json:
        render.print_json(err.to_dict())
    render.error(err.message, err.fix)
    raise typer.Exit(int(err.code))


def handles_errors(command):
    """Turn the core's errors and Ctrl-C into one message and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except LabsError as err:
            _fail(err, as_json)
        except KeyboardInterrupt:
            from orchestrator.cli import render

            render.error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


def _lab(lab_id: str, labs_dir: Path | None):
    from orchestrator.catalog import Catalog

    return Catalog.from_env(labs_dir).get(lab_id)


def _instance(name: str) -> str:
    from orchestrator.engine.instances import check_instance_name

    return check_instance_name(name)


def _flag(instance: str) -> str:
    return "" if instance == "default" else f" --instance {instance}"


def _version(value: bool):
    if value:
        typer.echo(f"labs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="show the version and exit")] = None,
):
    pass


@app.command("list")
@handles_errors
def list_labs(
    labs_dir: LabsDir = None,
    tag: Annotated[Optional[str], typer.Option("--tag", help="only labs with this tag (e.g. nginx, deployment)")] = None,
    difficulty: Annotated[Optional[str], typer.Option("--difficulty", help="only labs of this difficulty: beginner, intermediate or advanced")] = None,
    kind: Annotated[Optional[str], typer.Option("--kind", help="only labs of this kind: repair or build")] = None,
    as_json: Json = False,
):
    """List the labs you can start, and which are running."""
    from orchestrator.catalog import Catalog, summaries
    from orchestrator.engine.quick import running_instance_keys

    rows = summaries(Catalog.from_env(labs_dir), tag=tag, difficulty=difficulty, kind=kind)
    running = running_instance_keys()
    running_labs = None if running is None else {key.split(".")[0] for key in running}
    if as_json:
        from orchestrator.cli import render

        render.print_json([
            {"id": r.id, "title": r.title, "summary": r.summary, "kind": r.kind, "difficulty": r.difficulty, "minutes": r.minutes,
             "tags": r.tags, "folder": str(r.folder), "running": None if running_labs is None else r.id in running_labs, "problem": r.problem}
            for r in rows
        ])
        return
    from orchestrator.cli import render

    render.out.print(render.lab_table(rows, running_labs))
    if running is None:
        render.err.print("[dim](engine not reachable: running state unknown; see `labs doctor`)[/]")


@app.command()
@handles_errors
def info(lab_id: LabArg, labs_dir: LabsDir = None, as_json: Json = False):
    """Show a lab's briefing: the incident ticket you start from."""
    lab = _lab(lab_id, labs_dir)
    from orchestrator.cli import render

    if as_json:
        render.print_json({**lab.model_dump(mode="json", by_alias=True, exclude={"hints"}), "briefing_text": lab.briefing_text, "hints": len(lab.hints)})
        return
    from rich.markdown import Markdown

    render.out.print(f"[bold]{lab.title}[/]  [dim]({lab.id} · {lab.difficulty} · ~{lab.minutes} min)[/]")
    render.out.print(Markdown(lab.briefing_text))


@app.command()
@handles_errors
def start(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Start a lab, broken: build what is needed, start its services, break them, show the briefing."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import start_lab

    lab = _lab(lab_id, labs_dir)
    with render.progress(f"starting {lab.id}", quiet=as_json) as update:
        inst = start_lab(lab, _instance(instance), progress=update)
    if as_json:
        render.print_json({**inst.to_dict(), "already_running": inst.already_running, "resumed": inst.resumed})
        return
    flag = _flag(inst.instance)
    if inst.already_running:
        render.out.print(f"[yellow]{inst.key} is already running[/]: nothing changed. `labs reset {lab.id}{flag}` starts it over.")
        return
    if inst.resumed:
        render.out.print(f"[green]{inst.key} resumed[/]: its stopped services are running again, with your changes. `labs info {lab.id}` shows the briefing.")
        return
    from rich.markdown import Markdown

    render.out.print(Markdown(lab.briefing_text))
    render.out.print()
    render.out.print(f"[bold green]{inst.key} is running, and broken.[/]")
    for service, ports in inst.ports().items():
        render.out.print(f"  {service}: {', '.join(ports)}")
    render.out.print(f"  get in:   labs shell {lab.id}{flag}   (services: {', '.join(inst.services)})")
    render.out.print(f"  check:    labs check {lab.id}{flag}")
    render.out.print(f"  stuck?    labs hint {lab.id}{flag}")
    render.out.print(f"  done:     labs stop {lab.id}{flag}")


@app.command()
@handles_errors
def status(lab_id: Annotated[Optional[str], typer.Argument(help="only this lab")] = None, as_json: Json = False):
    """Show running labs, found by their labels (works even if a lab folder is gone)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import lab_status

    instances = lab_status(lab_id)
    if as_json:
        render.print_json([i.to_dict() for i in instances])
        return
    if not instances:
        render.out.print("no labs running. `labs list` shows what you can start.")
        return
    render.out.print(render.status_table(instances))


@app.command()
@handles_errors
def shell(
    lab_id: LabArg,
    service: Annotated[Optional[str], typer.Argument(help="the service to enter (default: the lab's main one)")] = None,
    command: Annotated[Optional[list[str]], typer.Argument(help="a command to run instead of a shell (after --)")] = None,
    instance: Instance = "default",
):
    """Open a root shell inside a lab's container."""
    from orchestrator.cli.attach import run_shell
    from orchestrator.lifecycle import running_instance

    inst = running_instance(lab_id, _instance(instance))
    if service is not None and service not in inst.containers and command:
        raise LabsError(
            f"lab {inst.key} has no service {service!r} (services: {', '.join(inst.services)})",
            f"to run a command, name the service first: labs shell {lab_id} {inst.main} -- {service} {' '.join(command)}",
            code=ExitCode.NOT_FOUND,
        )
    status = inst.service_status(service)
    if status != "running":
        raise LabsError(f"service {service or inst.main} of {inst.key} is {status}", f"`labs reset {lab_id}` recreates it", code=ExitCode.NOT_FOUND)
    argv = list(command) if command else ["/bin/bash", "-l"]
    raise typer.Exit(run_shell(inst, service, argv))


@app.command()
@handles_errors
def logs(
    lab_id: LabArg,
    service: Annotated[Optional[str], typer.Argument(help="the service (default: the lab's main one)")] = None,
    tail: Annotated[int, typer.Option("--tail", "-n", help="how many lines from the end")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines (Ctrl-C to stop)")] = False,
    instance: Instance = "default",
):
    """Show a service's container log (what its processes print)."""
    from orchestrator.lifecycle import running_instance

    inst = running_instance(lab_id, _instance(instance))
    if follow:
        for chunk in inst.follow_logs(service, tail=tail):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return
    sys.stdout.buffer.write(inst.logs(service, tail=tail))


@app.command()
@handles_errors
def check(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Check the lab end to end: one verdict per objective, and what each failing probe saw."""
    from orchestrator.check_runner import run_checks
    from orchestrator.cli import render
    from orchestrator.lifecycle import running_instance

    lab = _lab(lab_id, labs_dir)
    inst = running_instance(lab.id, _instance(instance))
    with render.progress(f"checking {inst.key}", quiet=as_json):
        report = run_checks(lab, inst)
    if as_json:
        render.print_json(report.to_dict())
    else:
        render.out.print(render.check_table(report))
        done = len(report.objectives) - len(report.failed)
        flag = _flag(inst.instance)
        if report.passed:
            render.out.print(f"[bold green]all {done} objectives pass.[/] Well done. `labs stop {lab.id}{flag}` when you are finished.")
        else:
            render.out.print(f"[bold]{done}/{len(report.objectives)} objectives pass.[/] Stuck? `labs hint {lab.id}{flag}`")
    if not report.passed:
        raise typer.Exit(int(ExitCode.CHECKS_FAILED))


@app.command()
@handles_errors
def hint(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Show the next hint (one at a time; remembered until the lab is stopped)."""
    from orchestrator.cli import render
    from orchestrator.engine.instances import instance_key
    from orchestrator.progress import next_hint

    lab = _lab(lab_id, labs_dir)
    number, text, last = next_hint(instance_key(lab.id, _instance(instance)), lab.hints)
    if as_json:
        render.print_json({"hint": number, "of": len(lab.hints), "text": text, "last": last})
        return
    render.out.print(f"[bold]hint {number}/{len(lab.hints)}[/]: {text}")
    if last:
        render.out.print("[dim]that was the last hint. `labs solve` applies the reference solution (and gives the answer away).[/]")


@app.command()
@handles_errors
def solve(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Apply the reference solution (for instructors and CI: this gives the answer away)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import solve_lab

    lab = _lab(lab_id, labs_dir)
    with render.progress(f"applying the reference solution to {lab.id}", quiet=as_json):
        result = solve_lab(lab, _instance(instance))
    if as_json:
        render.print_json({"lab": lab.id, "operations": result.operations, "changed": result.changed, "per_service": result.per_service})
        return
    render.out.print(f"[yellow]reference solution applied to {lab.id}[/] ({result.changed} change(s)). This gives the answer away.")
    notes = lab.path(lab.solution_notes) if lab.solution_notes else None
    if notes and notes.is_file():
        render.out.print(f"what was wrong and why: {notes}")


@app.command()
@handles_errors
def reset(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Put a lab back in its freshly broken state (your changes inside it are discarded)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import reset_lab

    lab = _lab(lab_id, labs_dir)
    with render.progress(f"resetting {lab.id}", quiet=as_json) as update:
        inst = reset_lab(lab, _instance(instance), progress=update)
    if as_json:
        render.print_json(inst.to_dict())
        return
    render.out.print(f"[green]{inst.key} is back to its broken start.[/] Hints start over too.")


@app.command()
@handles_errors
def stop(
    lab_id: Annotated[Optional[str], typer.Argument(help="the lab to stop")] = None,
    all_labs: Annotated[bool, typer.Option("--all", help="stop every running lab")] = False,
    instance: Instance = "default",
    as_json: Json = False,
):
    """Remove everything a lab created (containers, network, volumes), found by label."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import stop_all, stop_lab

    if all_labs == bool(lab_id):
        raise LabsError("give a lab id, or --all (not both)", "for example `labs stop nginx-misconfig` or `labs stop --all`")
    result = stop_all() if all_labs else stop_lab(lab_id, _instance(instance))
    if as_json:
        render.print_json({"stopped": result.keys, "removed": result.removed})
        return
    if not result.keys:
        what = "no labs were running" if all_labs else f"{lab_id} was not running"
        render.out.print(f"{what}: nothing to do.")
        return
    render.out.print(f"stopped {', '.join(result.keys)} ({result.removed} resource(s) removed).")


@app.command()
@handles_errors
def doctor(as_json: Json = False):
    """Check this machine: engine, API version, base image, disk, tools; with a fix for each problem."""
    from orchestrator.cli import render
    from orchestrator.doctor import as_dicts, diagnose

    findings = diagnose()
    if as_json:
        render.print_json(as_dicts(findings))
    else:
        render.out.print(render.findings_table(findings))
    if not all(f.ok for f in findings):
        engine_down = any(f.check == "engine" and not f.ok for f in findings)
        raise typer.Exit(int(ExitCode.ENGINE if engine_down else ExitCode.USAGE))


from orchestrator.cli import authoring  # noqa: E402,F401  (registers validate, new, lint, schema)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: SIGTERM is treated like Ctrl-C (roll back, exit 130)."""
    signal.signal(signal.SIGTERM, _terminate)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    app(prog_name="labs")


if __name__ == "__main__":
    main()
    sys.exit(0)
