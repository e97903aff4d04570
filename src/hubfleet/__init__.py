"""hubfleet: deploy and operate a fleet of JupyterHubs from one git repository."""

__version__ = "0.1.0"
