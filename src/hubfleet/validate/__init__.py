"""`hubfleet validate`: the checks of files, values and rendered releases (see `run`)."""
