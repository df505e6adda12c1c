"""Connections an attacker holds open against a receiver on loopback: shared by the attack tests and
tests/perf/attack_receiver.py."""

from __future__ import annotations

import socket
import time


def open_blocking(port: int, count: int, sources: list[str], *, send: bytes = b"", host: str = "127.0.0.1",
                  within: float = 20.0) -> list[socket.socket]:
    """Up to `count` connections to `host:port`, from the `sources` addresses in turn (each of 127/8 is a peer
    of its own), each sending `send` first; bounded by `within` seconds. Those that fail are left out."""
    opened: list[socket.socket] = []
    deadline = time.monotonic() + within
    for n in range(count):
        if time.monotonic() > deadline:
            break
        sock = socket.socket()
        sock.settimeout(0.5)
        try:
            sock.bind((sources[n % len(sources)], 0))
            sock.connect((host, port))
            if send:
                sock.sendall(send)
        except OSError:
            sock.close()
            continue
        opened.append(sock)
    return opened
