"""Cluster infrastructure with Terraform, cluster.yaml as its one source (docs/terraform.md).

- `names`: every cloud name (bucket, identity, role) hubfleet computes for a module;
- `inputs`: a cluster's module inputs (`.tfvars.json`) and the check of `vars`;
- `tf`: running `terraform` through the one runner with the cluster's credentials;
- `summary`: the plan summary (creates, updates, deletes, flagged replacements);
- `values`: the generated `<hub>.terraform.values.yaml` files;
- `commands`: plan, apply (saved plans only), drift, values;
- `scaffold`: the shipped root modules (`modules/`) written into a fleet.
"""
