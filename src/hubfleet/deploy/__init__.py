"""The orchestrator: per-cluster pipelines, canary gating, bounded concurrency, cancel, report."""
