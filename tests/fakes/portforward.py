"""A real TCP forward for the fake `kubectl port-forward` (a fakebin.py rule with "forward").

`serve("127.0.0.1:PORT")` listens on 127.0.0.1 (a free port), prints kubectl's line
`Forwarding from 127.0.0.1:N -> 8000` (flushed), then copies the bytes of every
accepted connection to and from 127.0.0.1:PORT, one thread per direction, until
the process is stopped (fakebin's SIGTERM handler records the call and exits).
Like kubectl, it prints `Handling connection for N` for each connection.

Standard library only; imported by fakebin.py for this rule only.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

REMOTE_PORT = 8000  # what kubectl names: the container port behind the Service


def serve(target: str) -> None:
    host, _, port = target.rpartition(":")
    address = (host or "127.0.0.1", int(port))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    local = listener.getsockname()[1]
    sys.stdout.write(f"Forwarding from 127.0.0.1:{local} -> {REMOTE_PORT}\n")
    sys.stdout.flush()
    while True:
        client, _ = listener.accept()
        sys.stdout.write(f"Handling connection for {local}\n")
        sys.stdout.flush()
        threading.Thread(target=_forward, args=(client, address), daemon=True).start()


def _forward(client: socket.socket, address: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(address, timeout=10)
    except OSError as exc:
        sys.stderr.write(f"error: cannot connect to {address[0]}:{address[1]}: {exc}\n")
        sys.stderr.flush()
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
    back.start()
    _copy(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    """Bytes from `source` to `sink` until `source` ends; then end `sink`'s writing side."""
    with contextlib.suppress(OSError):
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
