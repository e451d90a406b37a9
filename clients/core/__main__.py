"""`python -m clients.core`: a headless client for scripts and for debugging a server.

Connects, sends each line given (as arguments, else read from stdin) at the
pace the server allows, prints everything that arrives, and leaves once the
server has confirmed every line and `--linger` seconds have passed.

Passwords (for --login and --register) come from the CHINWAG_PASSWORD
environment variable, else from a prompt on the terminal; a first-seen
certificate is accepted with --trust-new, else asked about on the terminal.
"""

from __future__ import annotations

import getpass
import os
import queue
import sys
import time

from clients.core import events as ev
from clients.core.cli import client_parser, parse_client_args
from clients.core.client import ChatClient
from clients.core.formatting import describe
from clients.core.launch import build_client
from clients.core.transport import TransportEvent
from clients.core.trust import accepts

PASSWORD_VARIABLE = "CHINWAG_PASSWORD"  # noqa: S105 - a variable's name


class _Headless:
    """Prints events, and answers the session's questions from the terminal."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.connected = False
        self.failed = False

    def show(self, events: list[ev.UiEvent]) -> None:
        pending = list(events)
        while pending:
            event = pending.pop(0)
            line = describe(event)
            if line is not None and not isinstance(event, ev.TrustQuestion):
                stamp = f"[{line.time}] " if line.time else ""
                print(f"{stamp}{line.text}", flush=True)
                for more in line.more:
                    print(f"    {more}", flush=True)
            match event:
                case ev.ConnectionChanged(status=status):
                    self.connected = status is ev.ConnectionStatus.CONNECTED
                    self.failed = status is ev.ConnectionStatus.DISCONNECTED
                case ev.PasswordRequest():
                    pending += self._password(event)
                case ev.TrustQuestion():
                    pending += self._trust(event)
                case _:
                    pass

    def _password(self, request: ev.PasswordRequest) -> list[ev.UiEvent]:
        password = os.environ.get(PASSWORD_VARIABLE)
        if password is None and sys.stdin.isatty():
            try:
                password = getpass.getpass(f"{request.prompt}: ")
            except (EOFError, KeyboardInterrupt):
                password = None
        if password is None:
            print(
                f"a password is needed: set {PASSWORD_VARIABLE} or run in a terminal",
                file=sys.stderr,
            )
            self.failed = True
        return self.client.answer_password(request.id, password, password)

    def _trust(self, question: ev.TrustQuestion) -> list[ev.UiEvent]:
        print(f"{question.text} Type yes or no.", file=sys.stderr, flush=True)
        answer = ""
        if sys.stdin.isatty():
            try:
                answer = input("> ")
            except (EOFError, KeyboardInterrupt):
                answer = ""
        else:
            print("not a terminal: use --trust-new to accept it", file=sys.stderr)
        return self.client.answer_trust(accepts(answer, question.fingerprint))


def main(argv: list[str] | None = None) -> int:
    parser = client_parser("python -m clients.core", __doc__ or "")
    parser.set_defaults(nick="bot")
    parser.add_argument("lines", nargs="*", help="lines to send (default: read stdin)")
    parser.add_argument(
        "--register",
        action="store_true",
        help="make --nick an account once connected (password as for --login)",
    )
    parser.add_argument(
        "--linger", type=float, default=1.0, help="seconds to keep listening"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="give up connecting after this"
    )
    args, options = parse_client_args(parser, argv, "headless")

    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    client = build_client(
        options.host,
        options.port,
        options.nick or "bot",
        inbox.put,
        security=options.security,
    )
    headless = _Headless(client)
    lines = list(args.lines) or (
        [] if sys.stdin.isatty() else [line.rstrip("\n") for line in sys.stdin]
    )
    if args.register:
        lines.insert(0, "/register")
    headless.show(client.start())
    deadline = time.monotonic() + args.timeout
    quiet_until: float | None = None
    while not headless.failed:
        try:
            event = inbox.get(timeout=0.1)
        except queue.Empty:
            headless.show(client.tick())
        else:
            headless.show(client.handle(event))
        now = time.monotonic()
        if headless.connected and quiet_until is None:
            for line in lines:
                headless.show(client.submit(line).events)
            quiet_until = now + args.linger
        if (
            quiet_until is not None
            and now > quiet_until
            and not client.session.unconfirmed
        ):
            client.close("done")
            return 0
        if now > deadline and quiet_until is None:
            print("could not connect", file=sys.stderr)
            break
        if now > deadline + args.timeout:
            print(
                f"{client.session.unconfirmed} line(s) not confirmed in time",
                file=sys.stderr,
            )
            break
    client.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
