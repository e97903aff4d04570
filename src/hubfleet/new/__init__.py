"""Scaffolding: `hubfleet new cluster` and `hubfleet new hub`.

- `names`: name rules (clusters and hubs are DNS labels; hubs at most 53
  characters, as helm release names) and clash checks.
- `providers`: the provider blocks' keys, read from the configuration models.
- `clusteryaml`: round-trip editing of cluster.yaml (comments, key order and
  indentation kept) with ruamel.yaml.
- `scaffold`: `new_cluster` and `new_hub`, which create the files (the secrets
  file through sops and the repository's `.sops.yaml`) and validate the result.
"""
