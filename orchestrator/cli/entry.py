"""The ``labs`` console entry point: a piped ``labs list`` is answered before the Typer app is built."""

from __future__ import annotations

import sys


def main() -> None:
    from orchestrator.cli.quick_list import try_quick_list

    code = try_quick_list(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from orchestrator.cli.app import main as full

    full()
