"""The fleet's configuration: typed models, loading with file:line problems, the Fleet."""

import os

# pydantic's plugins (packages registering a `pydantic` entry point, e.g. validation
# instrumentation) are off for hubfleet's models: finding them reads the metadata of
# every installed distribution when the first model is built (10-20 ms of a plan), and
# hubfleet uses none. A value already in the environment wins. The runner's allowlist
# keeps it from the programs hubfleet starts.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
