"""The JupyterHub configuration file of every local hub (hubfleet ships it; it holds no values).

JupyterHub runs it with `c` in its namespace; everything comes from the pipe that
`hubfleet.local.runtime` writes the hub's values and runtime settings to.
"""

from hubfleet.local.hubconfig import configure

configure(c)  # type: ignore[name-defined]  # noqa: F821
