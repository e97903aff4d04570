"""Helm: values merging, chart resolution, the embedded engine, manifest checks.

Import the submodules (`hubfleet.helm.engine`, ...): this package imports nothing
heavy, so `hubfleet --help` stays fast.
"""
