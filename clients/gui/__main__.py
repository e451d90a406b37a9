"""`chinwag-gui`: the desktop client."""

from __future__ import annotations

import argparse
import signal
import sys

from clients.core.cli import client_parser, parse_client_args


def _given(argv: list[str] | None) -> set[str]:
    """Which of --host, --port and --nick are on the command line.

    The shared parser fills in defaults, but a value the user did not give
    must not override the saved settings, so look for them separately.
    """
    probe = argparse.ArgumentParser(add_help=False)
    for name in ("host", "port", "nick"):
        probe.add_argument(f"--{name}")
    known, _ = probe.parse_known_args(argv)
    return {name for name, value in vars(known).items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    parser = client_parser("chinwag-gui", "Chinwag desktop chat client.")
    parser.add_argument(
        "--appearance",
        choices=("system", "light", "dark"),
        default="system",
        help="colour scheme (default: follow the system)",
    )
    args, options = parse_client_args(parser, argv, "gui")
    given = _given(argv)

    # Imported here so --help works without a display.
    import tkinter  # noqa: PLC0415

    import customtkinter as ctk  # noqa: PLC0415

    from clients.gui.app import ChatWindow  # noqa: PLC0415

    ctk.set_appearance_mode(args.appearance)
    try:
        window = ChatWindow(
            host=options.host if "host" in given else None,
            port=options.port if "port" in given else None,
            nick=options.nick,
        )
    except tkinter.TclError as exc:
        print(f"chinwag-gui: cannot open a window: {exc}", file=sys.stderr)
        return 1

    def leave(_signum: int, _frame: object) -> None:
        window.after_idle(window.close)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)
    try:
        window.mainloop()
    except KeyboardInterrupt:
        window.close()
    finally:
        window.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
