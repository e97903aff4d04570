"""The `hubfleet` command line: thin commands (stdlib argparse, `cli/spec.py`),
one module per command."""
