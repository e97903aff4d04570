"""The base room: errors, redaction, YAML I/O, the runner of external programs, argv
guards, signals, atomic writes, failure causes. Imported by every room, importing none."""
