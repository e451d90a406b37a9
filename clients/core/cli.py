"""The command-line options every Chinwag client shares, parsed in one place."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

import attrs

from clients.core.commands import CommandError, validate_nick
from clients.core.launch import Security, forget_host
from clients.core.logfile import configure_logging, default_log_file
from clients.core.settings import (
    InvalidSetting,
    load_settings,
    parse_port,
    validate_host,
)


@attrs.frozen
class ClientOptions:
    """The options after parsing: host and port fall back to the saved settings.

    Attributes:
        given: which of "host", "port" and "nick" were on the command line
            (a connect dialog shows the others for the user to confirm).
    """

    host: str
    port: int
    nick: str | None
    log_file: Path
    security: Security = Security()
    given: frozenset[str] = frozenset()


def client_version() -> str:
    """`chinwag <version>` as installed, for `--version`."""
    try:
        return f"chinwag {metadata.version('chinwag')}"
    except metadata.PackageNotFoundError:
        return "chinwag (not installed)"


def client_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with --host, --port, --nick and --log-file; add your own after."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s: {client_version()}"
    )
    parser.add_argument(
        "--host", help="server host (default: the last one used, else 127.0.0.1)"
    )
    parser.add_argument(
        "--port", help="server port (default: the last one used, else 9090)"
    )
    parser.add_argument("--nick", help="nickname (default: ask)")
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="where to log (default: under ~/.local/state/chinwag)",
    )
    security = parser.add_argument_group("security")
    security.add_argument(
        "--login",
        action="store_true",
        help="log in to the account of --nick (the password is asked for once; "
        "a login token is kept for next time)",
    )
    security.add_argument(
        "--trust-new",
        action="store_true",
        help="trust a server's certificate the first time without asking (scripts); "
        "a changed certificate is still refused",
    )
    security.add_argument(
        "--forget-host",
        metavar="HOST:PORT",
        help="forget the certificate pinned for a server, then exit",
    )
    security.add_argument(
        "--plaintext",
        action="store_true",
        help="connect without TLS (old servers, tests); nothing is encrypted",
    )
    return parser


def parse_client_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, log_name: str
) -> tuple[argparse.Namespace, ClientOptions]:
    """Parse, check the nickname by the server's rules and start logging to a file.

    Exits with a usage error (status 2) on a bad nickname or an unwritable log.
    """
    args = parser.parse_args(argv)
    if args.forget_host:
        try:
            default_port = parse_port(args.port) if args.port else 9090
            print(forget_host(args.forget_host, default_port))  # noqa: T201
        except ValueError as exc:  # InvalidSetting is one too
            parser.error(f"--forget-host: {exc}")
        parser.exit(0)
    nick = None
    if args.nick is not None:
        try:
            nick = validate_nick(args.nick)
        except CommandError as exc:
            parser.error(f"--nick: {exc}")
    given = frozenset(
        name
        for name, value in (("host", args.host), ("port", args.port), ("nick", nick))
        if value is not None
    )
    saved = load_settings()
    host, port = saved.host, saved.port
    try:
        if args.host is not None:
            host = validate_host(args.host)
        if args.port is not None:
            port = parse_port(args.port)
    except InvalidSetting as exc:
        parser.error(str(exc))
    args.host, args.port = host, port
    log_file = args.log_file or default_log_file(log_name)
    try:
        configure_logging(log_file)
    except OSError as exc:
        parser.error(f"cannot write the log file {log_file}: {exc}")
    security = Security(
        plaintext=args.plaintext,
        trust_new=args.trust_new,
        login=args.login,
        program=parser.prog,
    )
    return args, ClientOptions(host, port, nick, log_file, security, given)
