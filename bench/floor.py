"""The floor: what one non-blocking send of a small frame costs from Python here.

A server that writes each delivery with its own `send` cannot spend less CPU
per delivery than this, whatever else it does; the report compares with it.
"""

from __future__ import annotations

import socket
import time


def send_floor_us(connections: int = 200, rounds: int = 50, size: int = 60) -> float:
    """CPU microseconds per `send(MSG_DONTWAIT)` of `size` bytes over TCP loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    pairs = []
    try:
        for _ in range(connections):
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pairs.append((server, client))
        data = b"x" * size
        spent = 0.0
        for _ in range(rounds):
            started = time.process_time()
            for server, _client in pairs:
                server.send(data, socket.MSG_DONTWAIT)
            spent += time.process_time() - started
            for _server, client in pairs:
                client.recv(65536)
        return spent / (connections * rounds) * 1e6
    finally:
        for server, client in pairs:
            server.close()
            client.close()
        listener.close()
