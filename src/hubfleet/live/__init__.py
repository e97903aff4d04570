"""What runs in the clusters: the record each deploy leaves in its release, the live
state read back from the clusters, and `hubfleet status` (docs/status.md)."""
