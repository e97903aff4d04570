"""Secrets: sops decryption into memory, and the plaintext-secret lint.

`hubfleet.secrets.sops` decrypts (and encrypts) without writing plaintext to
disk and registers every decrypted value with the command's redactor;
`hubfleet.secrets.lint` finds secrets left in plain (unencrypted) values files.
Redaction itself lives in `hubfleet.base.redact`.
"""
