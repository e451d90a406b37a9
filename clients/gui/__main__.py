"""`chinwag-gui`: the desktop client."""

from __future__ import annotations

import signal
import sys

from clients.core.cli import client_parser, parse_client_args


def main(argv: list[str] | None = None) -> int:
    parser = client_parser("chinwag-gui", "Chinwag desktop chat client.")
    parser.add_argument(
        "--appearance",
        choices=("system", "light", "dark"),
        default=None,
        help="colour scheme (default: the saved theme, else follow the system)",
    )
    args, options = parse_client_args(parser, argv, "gui")

    # Imported here so --help works without a display.
    import tkinter  # noqa: PLC0415

    from clients.gui.app import ChatWindow  # noqa: PLC0415

    try:
        # A host or port not on the command line is the saved one; the
        # window reads the settings itself (the connect dialog shows them).
        window = ChatWindow(
            host=options.host if "host" in options.given else None,
            port=options.port if "port" in options.given else None,
            nick=options.nick,
            security=options.security,
            appearance=args.appearance,
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
