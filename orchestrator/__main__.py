"""Allow ``python -m orchestrator`` as a synonym of the ``labs`` command."""

from orchestrator.cli.entry import main

main()
