"""labs: hands-on lab environments for deployment and infrastructure practice.

The package is the core (spec, engine, images, lifecycle, provisioning,
checks) plus a thin Typer CLI in ``orchestrator.cli``.
"""

__version__ = "0.1.0"
