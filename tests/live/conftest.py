"""Live tests use the deploy tests' environment (fleet copy, fakes, private TMPDIR)."""

from tests.deploy.conftest import denv
from tests.fakes import fake_tools

__all__ = ["denv", "fake_tools"]
