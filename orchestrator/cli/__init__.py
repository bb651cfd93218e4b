"""The ``labs`` command line: thin Typer commands over the core, and their rendering."""
