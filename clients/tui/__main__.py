"""`chinwag-tui`: the terminal client. Logs go to a file, never to the terminal."""

from __future__ import annotations

import signal
import sys

from clients.core.cli import client_parser, parse_client_args


def main(argv: list[str] | None = None) -> int:
    parser = client_parser("chinwag-tui", "Chinwag terminal chat client.")
    _, options = parse_client_args(parser, argv, "tui")

    from clients.tui.app import ChatApp  # noqa: PLC0415 - keep --help fast

    ChatApp(
        host=options.host,
        port=options.port,
        nick=options.nick,
        security=options.security,
    ).run()
    signal.alarm(0)  # out in time: no backstop needed (see EXIT_DEADLINE_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
