"""`python -m clients.core`: a headless client for scripts and for debugging a server.

Connects, sends each line given (as arguments, else read from stdin) at the
pace the server allows, prints everything that arrives, and leaves once the
server has confirmed every line and `--linger` seconds have passed. Run it
with `--help` for the options.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time

from clients.core import events as ev
from clients.core.cli import client_version
from clients.core.client import ChatClient
from clients.core.formatting import address_label, describe
from clients.core.session import ChatSession
from clients.core.transport import TransportEvent


def _print(events: list[ev.UiEvent], connected: bool) -> bool:
    """Print events; return whether the session is now connected."""
    for event in events:
        line = describe(event)
        if line is not None:
            stamp = f"[{line.time}] " if line.time else ""
            print(f"{stamp}{line.text}", flush=True)
        if isinstance(event, ev.ConnectionChanged):
            connected = event.status is ev.ConnectionStatus.CONNECTED
    return connected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.core", description=__doc__)
    parser.add_argument("--version", action="version", version=client_version())
    parser.add_argument("lines", nargs="*", help="lines to send (default: read stdin)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--nick", default="bot")
    parser.add_argument(
        "--linger", type=float, default=1.0, help="seconds to keep listening"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="give up connecting after this"
    )
    args = parser.parse_args(argv)

    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    session = ChatSession(nick=args.nick, server=address_label(args.host, args.port))
    client = ChatClient(session, args.host, args.port, inbox.put)
    lines = list(args.lines) or [line.rstrip("\n") for line in sys.stdin]
    connected = _print(client.start(), connected=False)
    deadline = time.monotonic() + args.timeout
    quiet_until: float | None = None
    while True:
        try:
            event = inbox.get(timeout=0.1)
        except queue.Empty:
            events = client.tick()
        else:
            events = client.handle(event)
        connected = _print(events, connected)
        now = time.monotonic()
        if connected and lines:
            for line in lines:
                connected = _print(client.submit(line).events, connected)
            lines = []
            quiet_until = now + args.linger
        if (
            quiet_until is not None
            and now > quiet_until
            and not client.session.unconfirmed
        ):
            break
        if now > deadline and (not connected or quiet_until is None):
            print("could not connect", file=sys.stderr)
            client.close()
            return 1
        if now > deadline + args.timeout:
            print(
                f"{client.session.unconfirmed} line(s) not confirmed in time",
                file=sys.stderr,
            )
            client.close()
            return 1
    client.close("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
