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
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="stream every line of build output")]


def _fail(err: LabsError, as_json: bool) -> None:
    from orchestrator.cli import render

    if as_json:
        from orchestrator.outputs import ErrorOutput

        render.print_json(ErrorOutput(**err.to_dict()))
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
        finally:
            _show_history_notices()

    return wrapper


def _warn_search_path() -> None:
    from orchestrator.catalog import missing_search_entries

    missing = missing_search_entries()
    if missing:
        from orchestrator.cli import render

        render.warn(f"LABS_PATH names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not a folder: skipped")


def _show_history_notices() -> None:
    """A history database set aside during the command is said once, on stderr."""
    history = sys.modules.get("orchestrator.history")
    if history is not None and history.NOTICES:
        from orchestrator.cli import render

        for notice in history.NOTICES:
            render.err.print(f"[yellow]note:[/] {render.safe(notice)}", soft_wrap=True)
        history.NOTICES.clear()


def _lab(lab_id: str, labs_dir: Path | None):
    from orchestrator.catalog import Catalog

    _warn_search_path()
    return Catalog.from_env(labs_dir).get(lab_id)


def _instance_and_lab(lab_id: str, instance: str, labs_dir: Path | None):
    """A running instance and the lab it was started from (no --labs-dir needed again)."""
    from orchestrator.lifecycle import instance_with_lab

    _warn_search_path()
    inst, lab, note = instance_with_lab(lab_id, _instance(instance), labs_dir)
    if note:
        from orchestrator.cli import render

        render.warn(note)
    return inst, lab


def _labs_dir_of(lab, labs_dir: Path | None) -> Path | None:
    """The --labs-dir a follow-up command needs to find ``lab`` (None for labs on the search path)."""
    from orchestrator.catalog import Catalog

    if labs_dir is None and lab.folder.parent.resolve() in {d.resolve() for d in Catalog.from_env().dirs}:
        return None
    return lab.folder.parent.resolve()


def _instance(name: str) -> str:
    from orchestrator.engine.instances import check_instance_name

    return check_instance_name(name)


def _flag(instance: str) -> str:
    return "" if instance == "default" else f" --instance {instance}"


def _version(value: bool):
    if value:
        typer.echo(f"labs {__version__}")
        raise typer.Exit()


def _engine(value: Optional[str]):
    """``--engine`` sets LABS_ENGINE for everything this command does (open_engine reads it)."""
    if value is None:
        return None
    if value not in ("docker", "swarm"):
        raise typer.BadParameter(f"{value!r}: use docker (this machine's engine) or swarm (a swarm manager)")
    os.environ["LABS_ENGINE"] = value
    return value


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="show the version and exit")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", callback=_engine, help="docker (default) or swarm: lab instances as services of a swarm (also: LABS_ENGINE)", show_default=False)] = None,
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

        from orchestrator.outputs import LabRow, ListOutput

        render.print_json(ListOutput(labs=[
            LabRow(lab=r.id, title=r.title, summary=r.summary, kind=r.kind, difficulty=r.difficulty, minutes=r.minutes,
                   tags=r.tags, folder=str(r.folder), running=None if running_labs is None else r.id in running_labs, problem=r.problem)
            for r in rows
        ]))
        return
    import shutil

    # Plain lines for files, pipes and narrow terminals: nothing cut (and no Rich to import).
    if not sys.stdout.isatty() or shutil.get_terminal_size().columns < 100:
        from orchestrator.cli.quick_list import plain_lines

        sys.stdout.write(plain_lines(rows, running_labs))
        if running is None:
            sys.stderr.write("(engine not reachable: running state unknown; see `labs doctor`)\n")
        return
    from orchestrator.cli import render

    render.out.print(render.lab_table(rows, running_labs))
    if running is None:
        render.err.print("[dim](engine not reachable: running state unknown; see `labs doctor`)[/]")


@app.command()
@handles_errors
def info(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Show a lab's briefing: the incident ticket you start from (for a running instance: with its address)."""
    from orchestrator.briefing import render_briefing
    from orchestrator.errors import EngineUnavailable, NotFound

    inst = None
    try:
        inst, lab = _instance_and_lab(lab_id, instance, labs_dir)
    except (NotFound, EngineUnavailable):
        lab = _lab(lab_id, labs_dir)
    from orchestrator.cli import render

    briefing = lab.briefing_text
    if inst is not None:
        briefing = render_briefing(lab, briefing, instance=inst.instance, host_ports=inst.host_port_map(), host=inst.publish_host, labs_dir=_labs_dir_of(lab, labs_dir))
    if as_json:
        from orchestrator.outputs import InfoOutput

        render.print_json(InfoOutput(lab=lab.id, title=lab.title, difficulty=lab.difficulty, minutes=lab.minutes, folder=str(lab.folder),
                                     briefing=briefing, hints=len(lab.hints), spec=lab.model_dump(mode="json", by_alias=True, exclude={"hints"})))
        return
    render.out.print(f"[bold]{render.safe(lab.title)}[/]  [dim]({lab.id} · {lab.difficulty} · ~{lab.minutes} min)[/]", soft_wrap=True)
    render.markdown(briefing)


@app.command()
@handles_errors
def start(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, verbose: Verbose = False, as_json: Json = False):
    """Start a lab: build what is needed, start its services, break them (a build lab: prepare them), show the briefing."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import start_lab

    from orchestrator.briefing import command_flags, render_briefing

    lab = _lab(lab_id, labs_dir)
    with render.progress(f"starting {lab.id}", quiet=as_json, verbose=verbose) as update:
        inst = start_lab(lab, _instance(instance), progress=update)
    folder_flag = _labs_dir_of(lab, labs_dir)
    briefing = render_briefing(lab, lab.briefing_text, instance=inst.instance, host_ports=inst.host_port_map(), host=inst.publish_host, labs_dir=folder_flag)
    if as_json:
        from orchestrator.outputs import StartOutput

        render.print_json(StartOutput(**inst.to_dict(), already_running=inst.already_running, resumed=inst.resumed, briefing=briefing))
        return
    flag = command_flags(lab, inst.instance, folder_flag)
    for warning in inst.warnings:
        render.err.print(f"[yellow]warning:[/] {render.safe(warning)}", soft_wrap=True)
    if inst.already_running:
        render.out.print(f"[yellow]{inst.key} is already running[/]: nothing changed. `labs reset {lab.id}{flag}` starts it over.", soft_wrap=True)
        return
    if inst.resumed:
        render.out.print(f"[green]{inst.key} resumed[/]: its stopped services are running again, with your changes. `labs info {lab.id}{flag}` shows the briefing.", soft_wrap=True)
        return
    render.markdown(briefing)
    render.out.print()
    state = "ready for you to build on" if lab.kind == "build" else "and broken"
    render.out.print(f"[bold green]{inst.key} is running, {state}.[/]")
    if lab.workspace is not None:
        render.out.print(f"  your workspace: {lab.workspace.path} in service {lab.workspace.service} (labs shell {lab.id} {lab.workspace.service}{flag})")
    for service, ports in inst.ports().items():
        render.out.print(f"  {service}: {render.safe(', '.join(ports))}", soft_wrap=True)
    render.out.print(f"  get in:   labs shell {lab.id}{flag}   (services: {', '.join(inst.services)})", soft_wrap=True)
    render.out.print(f"  check:    labs check {lab.id}{flag}", soft_wrap=True)
    render.out.print(f"  stuck?    labs hint {lab.id}{flag}", soft_wrap=True)
    render.out.print(f"  done:     labs stop {lab.id}{flag}", soft_wrap=True)


@app.command()
@handles_errors
def status(lab_id: Annotated[Optional[str], typer.Argument(help="only this lab")] = None, as_json: Json = False):
    """Show running labs, found by their labels (works even if a lab folder is gone)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import lab_status

    instances = lab_status(lab_id)
    if as_json:
        from orchestrator.outputs import StatusOutput

        render.print_json(StatusOutput(instances=[i.to_dict() for i in instances]))
        return
    if not instances:
        render.out.print("no labs running. `labs list` shows what you can start.")
        return
    render.status(instances)


def _split_command(service: str | None, command: list[str] | None) -> tuple[str | None, list[str] | None]:
    """`labs shell LAB -- CMD ARGS` runs CMD in the main service: what follows `--` is the command,
    never the service (click hands it over as positional arguments either way)."""
    argv = sys.argv[1:]
    if "--" not in argv or service is None:
        return service, command
    after = argv[argv.index("--") + 1:]
    given = [service, *(command or [])]
    if after and given[-len(after):] == after and len(given) == len(after):
        return None, after
    return service, command


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

    service, command = _split_command(service, command)
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

    from orchestrator.cli.render import LogWriter

    inst = running_instance(lab_id, _instance(instance))
    writer = LogWriter()
    if follow:
        for chunk in inst.follow_logs(service, tail=tail):
            writer.write(chunk)
        writer.write(b"", final=True)
        return
    writer.write(inst.logs(service, tail=tail), final=True)


@app.command()
@handles_errors
def check(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Check the lab end to end: one verdict per objective, and what each failing probe saw."""
    from orchestrator.cli import render
    from orchestrator.engine.instances import instance_key
    from orchestrator.lifecycle import check_lab

    inst, lab = _instance_and_lab(lab_id, instance, labs_dir)
    with render.progress(f"checking {inst.key}", quiet=as_json) as update:
        report = check_lab(lab, inst.instance, progress=update)
    if as_json:
        from orchestrator.outputs import CheckOutput

        render.print_json(CheckOutput(**{**report.to_dict(), "key": inst.key, "instance": inst.instance}))
    else:
        render.check_report(report)
        done = len(report.objectives) - len(report.failed)
        flag = _flag(inst.instance)
        for line in render.stage_lines(report):
            render.out.print(line)
        if report.passed:
            what = "your build does everything the ticket asks" if lab.kind == "build" else "Well done"
            render.out.print(f"[bold green]all {done} objectives pass.[/] {what}. `labs stop {lab.id}{flag}` when you are finished.")
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
    from orchestrator.errors import EngineUnavailable, NotFound
    from orchestrator.progress import reveal_hint

    try:
        lab = _instance_and_lab(lab_id, instance, labs_dir)[1]
    except (NotFound, EngineUnavailable):
        lab = _lab(lab_id, labs_dir)
        render.warn(f"{instance_key(lab.id, _instance(instance))} is not running (never started, or stopped): this hint is for the lab; `labs start {lab.id}{_flag(instance)}` starts it")
    shown = reveal_hint(lab, instance_key(lab.id, _instance(instance)))
    if as_json:
        from orchestrator.outputs import HintOutput

        render.print_json(HintOutput(lab=lab.id, instance=_instance(instance), **shown))
        return
    where = f" (stage {shown['stage']})" if shown["stage"] and lab.stage_hints(shown["stage"]) != lab.hints else ""
    render.out.print(f"[bold]hint {shown['hint']}/{shown['of']}{render.safe(where)}[/]: {render.safe(shown['text'])}")
    if shown["last"]:
        render.out.print(f"[dim]that was the last hint. `labs solve {lab.id}{_flag(instance)}` applies the reference solution (and gives the answer away).[/]", soft_wrap=True)


@app.command()
@handles_errors
def solve(lab_id: LabArg, instance: Instance = "default", labs_dir: LabsDir = None, as_json: Json = False):
    """Apply the reference solution (for instructors and CI: this gives the answer away)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import solve_lab

    inst, lab = _instance_and_lab(lab_id, instance, labs_dir)
    with render.progress(f"applying the reference solution to {inst.key}", quiet=as_json):
        result = solve_lab(lab, inst.instance)
    if as_json:
        from orchestrator.outputs import SolveOutput

        render.print_json(SolveOutput(lab=lab.id, instance=inst.instance, operations=result.operations, changed=result.changed, per_service=result.per_service))
        return
    render.out.print(f"[yellow]reference solution applied to {lab.id}[/] ({result.changed} change(s)). This gives the answer away.")
    notes = lab.path(lab.solution_notes) if lab.solution_notes else None
    if notes and notes.is_file():
        render.out.print(f"what was wrong and why: {render.safe(str(notes))}")


@app.command()
@handles_errors
def reset(
    lab_id: LabArg,
    instance: Instance = "default",
    labs_dir: LabsDir = None,
    clear_workspace: Annotated[bool, typer.Option("--clear-workspace", help="discard the workspace too, even when the lab keeps it across resets")] = False,
    verbose: Verbose = False,
    as_json: Json = False,
):
    """Put a lab back at its start: freshly broken, or freshly prepared for a build lab (your changes are discarded, a kept workspace excepted)."""
    from orchestrator.cli import render
    from orchestrator.lifecycle import reset_lab

    from orchestrator.errors import NotFound

    try:
        lab = _instance_and_lab(lab_id, instance, labs_dir)[1]
    except NotFound:  # not running: reset starts it, from the search path
        lab = _lab(lab_id, labs_dir)
    with render.progress(f"resetting {lab.id}", quiet=as_json, verbose=verbose) as update:
        inst = reset_lab(lab, _instance(instance), progress=update, keep_workspace=not clear_workspace)
    if as_json:
        from orchestrator.outputs import ResetOutput

        render.print_json(ResetOutput(**inst.to_dict()))
        return
    start_state = "freshly prepared start" if lab.kind == "build" else "broken start"
    kept = (f" Your workspace ({lab.workspace.path}) was kept (`--clear-workspace` discards it)."
            if lab.workspace is not None and lab.workspace.on_reset == "keep" and not clear_workspace else "")
    render.out.print(f"[green]{inst.key} is back to its {start_state}.[/] Hints start over too.{kept}")


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
        from orchestrator.outputs import StopOutput

        render.print_json(StopOutput(stopped=result.keys, removed=result.removed))
        return
    if not result.keys:
        what = "no labs were running" if all_labs else (f"instance {instance} of {lab_id} was not running" if instance != "default" else f"{lab_id} was not running")
        render.out.print(f"{render.safe(what)}: nothing to do.")
        return
    render.out.print(f"stopped {render.safe(', '.join(result.keys))} ({result.removed} resource(s) removed).")


@app.command("progress")
@handles_errors
def progress_cmd(
    lab_id: Annotated[Optional[str], typer.Argument(help="only this lab")] = None,
    instance: Annotated[Optional[str], typer.Option("--instance", "-i", help="only this instance")] = None,
    export: Annotated[Optional[str], typer.Option("--export", help="every recorded event with its verdicts, as csv or json, on stdout")] = None,
    as_json: Json = False,
):
    """Your history: what was solved and when, time to solve, hints used, attempts."""
    from orchestrator.cli import render
    from orchestrator.history import History

    if export not in (None, "csv", "json"):
        raise LabsError(f"--export {export}: use csv or json", "for example `labs progress --export csv > history.csv`")
    history = History()
    try:
        if export:
            events = history.events(lab_id, instance)
            if export == "json":
                render.print_json(events)
            else:
                from orchestrator.history import events_csv

                sys.stdout.write(events_csv(events))
            return
        rows = history.summaries(lab_id, instance)
    finally:
        history.close()
    if as_json:
        render.print_json([row.to_dict() for row in rows])
        return
    if not rows:
        render.out.print("no attempts recorded yet. `labs start LAB` begins one.")
        return
    render.out.print(render.progress_table(rows))


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on; anything but loopback needs --classroom or --seats")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
    classroom: Annotated[Optional[Path], typer.Option("--classroom", help="a CSV roster of learners (a 'name' column, or one name a line): one seat each", show_default=False)] = None,
    seats: Annotated[Optional[int], typer.Option("--seats", help="classroom mode with N anonymous seats", show_default=False)] = None,
    lab_id: Annotated[Optional[str], typer.Option("--lab", help="classroom: the lab every seat works on (default: learners choose)", show_default=False)] = None,
    idle_warn: Annotated[int, typer.Option("--idle-warn", help="classroom: minutes of inactivity before a seat is warned")] = 20,
    idle_stop: Annotated[int, typer.Option("--idle-stop", help="classroom: minutes of inactivity before a warned seat's lab is stopped (0: never)")] = 40,
    labs_dir: LabsDir = None,
):
    """Serve the labs in a browser: catalogue, briefing, terminal, Check and Hint; a live classroom with --classroom."""
    from orchestrator.web.server import ServeOptions, run

    run(ServeOptions(host=host, port=port, roster=classroom, seats=seats, lab=lab_id, idle_warn=idle_warn * 60,
                     idle_stop=idle_stop * 60, labs_dir=labs_dir))


@app.command()
@handles_errors
def doctor(as_json: Json = False):
    """Check this machine: engine, API version, base image, disk, tools; with a fix for each problem."""
    from orchestrator.cli import render
    from orchestrator.doctor import as_dicts, diagnose

    findings = diagnose()
    if as_json:
        from orchestrator.outputs import DoctorOutput

        render.print_json(DoctorOutput(ok=all(f.ok for f in findings), findings=as_dicts(findings)))
    else:
        render.findings(findings)
    if not all(f.ok for f in findings):
        engine_down = any(f.check == "engine" and not f.ok for f in findings)
        raise typer.Exit(int(ExitCode.ENGINE if engine_down else ExitCode.USAGE))


from orchestrator.cli import authoring  # noqa: E402,F401  (registers validate, new, lint, schema)
from orchestrator.cli import classroom  # noqa: E402,F401  (registers prepare and images)
from orchestrator.cli import cluster  # noqa: E402,F401  (registers cluster init, join and status)


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
