"""A real `ChatServer` in a process whose open files a test can use up.

`test_fd_limit` runs it as `python -m tests.server.fd_hog LOG_FILE DATA_DIR`
under a small open-file limit. It prints `port N`, then obeys one command per
line on stdin, answering each with one line:

- `hog`: open /dev/null until the process has no descriptor left, as another
  part of the process (or a leak) could; accept() then fails with EMFILE.
- `hog-spare`: the same, after closing the server's spare descriptor too,
  so it cannot refuse anyone: all it can do is back off.
- `release`: close what `hog` opened.
- `stop`, or the end of stdin: stop the server and exit.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path

from server import ChatServer, ServerConfig
from server.logs import configure_logging


def _hog() -> list[int]:
    """Open /dev/null until EMFILE (at most the open-file limit's worth)."""
    held: list[int] = []
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    for _ in range(soft):
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    return held


def _hog_with_spare(server: ChatServer) -> list[int]:
    """Close the server's spare descriptor, as if someone else had it, and hog.

    Runs on the acceptor's thread (`call_soon`), the only one that touches
    the spare, so the acceptor cannot take a new one in between.
    """
    done = threading.Event()
    held: list[int] = []

    def take() -> None:
        try:
            if server._spare is not None:
                os.close(server._spare)
                server._spare = None
            held.extend(_hog())
        finally:
            done.set()

    assert server._acceptor is not None
    server._acceptor.call_soon(take)
    if not done.wait(10):
        msg = "the acceptor did not run the call"
        raise RuntimeError(msg)
    return held


def main() -> int:
    log_file, data_dir = Path(sys.argv[1]), Path(sys.argv[2])
    configure_logging(log_file)
    server = ChatServer(
        ServerConfig(port=0, data_dir=data_dir, max_clients=1000, cheap_hashing=True)
    )
    server.start()
    print(f"port {server.address[1]} cap {server.cap.clients}", flush=True)
    held: list[int] = []
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "hog":
                held += _hog()
                print(f"hogged {len(held)}", flush=True)
            elif command == "hog-spare":
                held += _hog_with_spare(server)
                print(f"hogged {len(held)}", flush=True)
            elif command == "release":
                for descriptor in held:
                    os.close(descriptor)
                held.clear()
                print("released", flush=True)
            elif command == "stop":
                break
            else:
                print(f"unknown command {command!r}", flush=True)
    finally:
        for descriptor in held:
            os.close(descriptor)
        server.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
