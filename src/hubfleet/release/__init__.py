"""The values pipeline: a release's values files read once, decrypted in memory, merged."""
