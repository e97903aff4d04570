"""The `hubfleet` command line: thin typer commands, one module per command."""
