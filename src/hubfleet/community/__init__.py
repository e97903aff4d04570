"""Communities change their own hub: owned files, a policy of what they may set,
CODEOWNERS, and the "community-only" decision for a pull request (docs/community.md)."""
