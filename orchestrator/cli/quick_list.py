"""``labs list`` printed to a file or pipe, answered without building the Typer app.

The Typer version labs runs on coerces every non-flag option through pydantic,
so merely parsing ``labs list``'s options imports pydantic (about as long as
importing typer itself). A plain listing needs none of it: this parses the few
options ``list`` has by hand and prints the same tab-separated lines the full
command prints when stdout is not a terminal. Anything else (``--json``,
``--help``, a terminal, an option it does not know) returns ``None`` and the
full command answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

_VALUED = {"--labs-dir": "labs_dir", "--tag": "tag", "--difficulty": "difficulty", "--kind": "kind"}


def _parse(args: list[str]) -> dict | None:
    options: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name not in _VALUED:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            value = args[i]
        options[_VALUED[name]] = value
        i += 1
    return options


def plain_lines(rows, running_labs: set[str] | None) -> str:
    lines = []
    for r in rows:
        state = "?" if running_labs is None else ("yes" if r.id in running_labs else "no")
        lines.append(f"{r.id}\t{r.difficulty}\t{r.minutes} min\trunning: {state}\t{r.problem or r.title}\n")
    return "".join(lines)


def try_quick_list(argv: list[str]) -> int | None:
    """Answer ``labs list ...`` when the plain form applies; else None."""
    if not argv or argv[0] != "list" or sys.stdout.isatty():
        return None
    options = _parse(argv[1:])
    if options is None:
        return None
    from orchestrator.catalog import Catalog, missing_search_entries, summaries
    from orchestrator.engine.quick import running_instance_keys
    from orchestrator.errors import LabsError

    try:
        labs_dir = options.pop("labs_dir", None)
        rows = summaries(Catalog.from_env(Path(labs_dir) if labs_dir else None), **options)
    except LabsError:
        return None  # the full command reports it with its usual message and exit code
    for entry in missing_search_entries():
        sys.stderr.write(f"note: LABS_PATH names {entry}, which is not a folder: skipped\n")
    running = running_instance_keys()
    sys.stdout.write(plain_lines(rows, None if running is None else {key.split(".")[0] for key in running}))
    if running is None:
        sys.stderr.write("(engine not reachable: running state unknown; see `labs doctor`)\n")
    sys.stdout.flush()
    return 0
