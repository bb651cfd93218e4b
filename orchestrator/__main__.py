"""Allow ``python -m orchestrator`` as a synonym of the ``labs`` command."""

from orchestrator.cli.app import main

main()
