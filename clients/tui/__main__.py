"""`chinwag-tui`: the terminal client. Logs go to a file, never to the terminal."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from clients.core.commands import CommandError, validate_nick


def default_log_file() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "chinwag" / "tui.log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chinwag-tui", description="Chinwag terminal chat client."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="server host (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=9090, help="server port (default: %(default)s)"
    )
    parser.add_argument("--nick", help="nickname (default: ask)")
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help=f"where to log (default: {default_log_file()})",
    )
    args = parser.parse_args(argv)
    nick = None
    if args.nick is not None:
        try:
            nick = validate_nick(args.nick)
        except CommandError as exc:
            parser.error(f"--nick: {exc}")
    log_file = args.log_file or default_log_file()
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(
            filename=log_file,
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    except OSError as exc:
        parser.error(f"cannot write the log file {log_file}: {exc}")

    from clients.tui.app import ChatApp  # noqa: PLC0415 - keep --help fast

    ChatApp(host=args.host, port=args.port, nick=nick).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
