"""Right to replicate: a hub as a standalone folder that plain `helm` deploys.

- `layout`: what an export holds (chart, values files in order) and the README's
  deploy command, written and read back in one format.
- `build`: `export_hub` writes the folder (secrets kept encrypted, re-encrypted for
  other age keys, or, by explicit choice, decrypted to 0600 files).
- `readme`: the README: the command, the sops steps, what the hub depended on.
- `verify`: the round trip: the hub rendered through hubfleet against the export
  rendered as its README says, with no hubfleet merge involved.
- `compare`: the round trip's differences by resource (kind/namespace/name) and
  field path; which fields the chart randomises (ignored) is `hubfleet.helm.stability`'s.
"""
