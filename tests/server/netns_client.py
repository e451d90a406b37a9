"""A client for `test_netns`: run inside a network namespace, it connects from a
non-loopback address and prints, as JSON, how each connection was received."""

from __future__ import annotations

import json
import sys

import protocol as p
from tests.wire import WireClient


def main() -> None:
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    clients = [WireClient((host, port)) for _ in range(count)]
    results = []
    for index, client in enumerate(clients):
        try:
            # A refused connection is told at once, before any Hello.
            first = client.next(0.5)
        except TimeoutError:
            first = client.hello(f"far{index}")
        results.append(
            {
                "kind": type(first).__name__,
                "code": int(first.code) if isinstance(first, p.Error) else None,
                "text": first.text if isinstance(first, p.Error) else first.nick,
            }
        )
    print(json.dumps(results), flush=True)
    for client in clients:
        client.close()


if __name__ == "__main__":
    main()
