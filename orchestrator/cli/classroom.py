"""Commands for instructors preparing a classroom: ``prepare`` and ``images save/load/prune``.

Registered on the main app by importing this module at the end of ``cli/app.py``; the
work is done by ``orchestrator.classroom``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli.app import Json, LabsDir, Verbose, _warn_search_path, app, handles_errors
from orchestrator.errors import UsageError

images_app = typer.Typer(help="Carry built lab images to machines with no network: save, load, prune.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(images_app, name="images")

LabIds = Annotated[Optional[list[str]], typer.Argument(help="lab ids (default with --all: every lab)", show_default=False)]
AllLabs = Annotated[bool, typer.Option("--all", help="every lab on the search path")]



def _labs(lab_ids: list[str] | None, all_labs: bool, labs_dir: Path | None):
    from orchestrator.catalog import Catalog

    _warn_search_path()
    catalog = Catalog.from_env(labs_dir)
    if all_labs == bool(lab_ids):
        raise UsageError("give lab ids, or --all (not both)", "for example `labs prepare nginx-misconfig` or `labs prepare --all`")
    if all_labs:
        labs, errors = catalog.all()
        if errors:
            raise errors[0]
        return labs
    return [catalog.get(lab_id) for lab_id in lab_ids]


def _print(action: str, refs: list[str], as_json: bool, file: Path | None = None, done: str = "") -> None:
    from orchestrator.cli import render
    from orchestrator.outputs import ImagesOutput

    if as_json:
        render.print_json(ImagesOutput(action=action, images=refs, file=str(file) if file else None))
        return
    for ref in refs:
        render.out.print(f"  {ref}", soft_wrap=True, markup=False)
    render.out.print(done, soft_wrap=True)


@app.command()
@handles_errors
def prepare(lab_ids: LabIds = None, all_labs: AllLabs = False, labs_dir: LabsDir = None, verbose: Verbose = False, as_json: Json = False):
    """Build every image the labs need ahead of class, so `labs start` builds nothing."""
    from orchestrator.classroom import prepare as build
    from orchestrator.cli import render

    labs = _labs(lab_ids, all_labs, labs_dir)
    with render.progress("preparing images", quiet=as_json, verbose=verbose) as update:
        tags = build(labs, update)
    _print("prepare", tags, as_json, done=f"{len(tags)} image(s) ready for {len(labs)} lab(s). `labs images save FILE` carries them to machines with no network.")


@images_app.command("save")
@handles_errors
def save(file: Annotated[Path, typer.Argument(help="the archive to write (a docker save tar)")], lab_ids: LabIds = None, all_labs: AllLabs = False,
         labs_dir: LabsDir = None, verbose: Verbose = False, as_json: Json = False):
    """Write every image the labs need (built first if missing, the Debian base included) to FILE."""
    from orchestrator.classroom import save as write
    from orchestrator.cli import render

    labs = _labs(lab_ids, all_labs or not lab_ids, labs_dir)
    with render.progress(f"saving images to {file}", quiet=as_json, verbose=verbose) as update:
        refs = write(file.resolve(), labs, update)
    _print("save", refs, as_json, file, done=f"saved {len(refs)} image(s) to {file}. On each machine: `labs images load {file.name}`.")


@images_app.command("load")
@handles_errors
def load(file: Annotated[Path, typer.Argument(help="an archive written by `labs images save`")], as_json: Json = False):
    """Load images saved with `labs images save`: then `labs start` needs no network."""
    from orchestrator.classroom import load as read
    from orchestrator.cli import render

    with render.progress(f"loading images from {file}", quiet=as_json) as update:
        refs = read(file, update)
    _print("load", refs, as_json, file, done=f"loaded {len(refs)} image(s).")


@images_app.command("prune")
@handles_errors
def prune(labs_dir: LabsDir = None, dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be removed")] = False, as_json: Json = False):
    """Remove labs image tags that no known lab (shipped, LABS_PATH, --labs-dir) and no lab container uses."""
    from orchestrator.catalog import Catalog
    from orchestrator.classroom import prune as remove
    from orchestrator.cli import render

    _warn_search_path()
    known, _ = Catalog.from_env(labs_dir).all()
    with render.progress("pruning images", quiet=as_json) as update:
        refs = remove(known, dry_run=dry_run, progress=update)
    _print("prune", refs, as_json, done=f"{'would remove' if dry_run else 'removed'} {len(refs)} image tag(s).")
