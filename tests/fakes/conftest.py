"""Make the `fake_tools` fixture available to the fakes' own tests.

Other rooms do the same in their conftest: `from tests.fakes import fake_tools`.
"""

from tests.fakes import fake_tools

__all__ = ["fake_tools"]
