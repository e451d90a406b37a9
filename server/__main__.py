"""`chinwag-server`: parse options, log to a file, serve until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from protocol import DEFAULT_MAX_FRAME_SIZE
from protocol.constants import MIN_MAX_FRAME_SIZE
from server import settings_file
from server.config import ServerConfig
from server.listener import ChatServer
from server.logs import DEFAULT_LOG_FILE, configure_logging
from server.tls import TlsError

log = logging.getLogger("server")


DESCRIPTION = """\
Run a Chinwag chat server. Clients connect over TCP, pick a nickname and
chat. The server runs in the foreground until Ctrl+C or SIGTERM, then says
goodbye to every client and exits. What happens is logged to a file, never
to the terminal; message texts are never logged.
"""

EPILOG = """\
limits in short:
  Each client may send --rate-burst frames at once, then --rate per second;
  --flood-kick-after frames over that in a row end its connection, and its
  address may not connect for --flood-cooldown seconds. A client
  that falls --outbox-size bytes behind in reading is dropped, and so is the
  one whose backlog would take all clients together past --outbox-total.
  One address may hold --max-per-address connections and open
  --new-per-address per --new-per-address-window seconds (loopback is
  exempt unless --limit-loopback is given).

TLS and accounts:
  TLS is on from the first run: with no --tls-cert the server makes a
  self-signed certificate in --data-dir and prints its fingerprint for users
  to check. Plaintext is accepted from this machine only (--allow-plaintext
  for others). Accounts live in the same directory; manage them with
  `chinwag-server admin --help`.

examples:
  chinwag-server                              serve 127.0.0.1:9090
  chinwag-server --host 0.0.0.0 --port 7000   serve every IPv4 interface
  chinwag-server --motd "Be nice" --log-file /var/log/chinwag.log
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description and epilog as written; each option's default after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, "", False, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(
        prog="chinwag-server",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    network = parser.add_argument_group("network")
    network.add_argument(
        "--host",
        metavar="ADDRESS",
        default=defaults.host,
        help="address to listen on; 0.0.0.0 or :: for every interface",
    )
    network.add_argument(
        "--port",
        metavar="PORT",
        type=int,
        default=defaults.port,
        help="TCP port to listen on; 0 picks a free one",
    )
    network.add_argument(
        "--reader-threads",
        metavar="N",
        type=int,
        default=defaults.reader_threads,
        help="threads reading client sockets, each serving many",
    )
    network.add_argument(
        "--name",
        metavar="TEXT",
        default=defaults.server_name,
        help="server name shown to clients",
    )
    network.add_argument(
        "--motd",
        metavar="TEXT",
        default=defaults.motd,
        help="message of the day shown to clients as they join",
    )

    security = parser.add_argument_group("security")
    security.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where the self-signed certificate and the database live "
        "(default: the user data directory, ~/.local/share/chinwag/server on Linux)",
    )
    security.add_argument(
        "--tls-cert",
        metavar="FILE",
        type=Path,
        default=None,
        help="certificate chain to serve (e.g. Let's Encrypt's fullchain.pem) instead of the self-signed one; SIGHUP reloads it",
    )
    security.add_argument(
        "--tls-key",
        metavar="FILE",
        type=Path,
        default=None,
        help="the private key of --tls-cert (e.g. privkey.pem)",
    )
    security.add_argument(
        "--tls-name",
        metavar="NAME",
        action="append",
        default=[],
        help="a host name or address the self-signed certificate should also name (repeatable)",
    )
    security.add_argument(
        "--registration",
        choices=("open", "invite", "closed"),
        default=defaults.registration,
        help="who may turn a nick into an account: anyone, holders of an invite "
        "code (chinwag-server admin invite, /invite-code), or nobody (admins "
        "create accounts with chinwag-server admin create-user)",
    )
    security.add_argument(
        "--require-account",
        action="store_true",
        help="refuse guests: only logged-in accounts may chat",
    )
    security.add_argument(
        "--no-accounts",
        action="store_true",
        help="run without accounts (every nick is a guest's)",
    )
    security.add_argument(
        "--allow-plaintext",
        action="store_true",
        help="accept unencrypted clients from other machines too (loopback always may)",
    )

    stored = parser.add_argument_group("history")
    stored.add_argument(
        "--no-history",
        action="store_true",
        help="keep no messages: clients get no history, search or offline messages",
    )
    stored.add_argument(
        "--retention-days",
        metavar="DAYS",
        type=float,
        default=None,
        help="delete stored messages older than this (default: keep them all)",
    )

    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-clients",
        metavar="N",
        type=int,
        default=defaults.max_clients,
        help="connections served at once; more are refused (SERVER_FULL)",
    )
    limits.add_argument(
        "--max-per-address",
        metavar="N",
        type=int,
        default=defaults.max_per_address,
        help="connections one address may hold at once (IPv6: one /64)",
    )
    limits.add_argument(
        "--new-per-address",
        metavar="N",
        type=int,
        default=defaults.new_per_address,
        help="new connections one address may open per window",
    )
    limits.add_argument(
        "--new-per-address-window",
        metavar="SECONDS",
        type=float,
        default=defaults.new_per_address_window,
        help="the window for --new-per-address",
    )
    limits.add_argument(
        "--limit-loopback",
        action="store_true",
        help="apply the per-address limits to loopback addresses too",
    )
    limits.add_argument(
        "--rate-burst",
        metavar="N",
        type=int,
        default=defaults.rate_burst,
        help="frames a client may send at once",
    )
    limits.add_argument(
        "--rate",
        metavar="N",
        type=float,
        default=defaults.rate_per_second,
        help="frames per second a client may send after a burst",
    )
    limits.add_argument(
        "--flood-kick-after",
        metavar="N",
        type=int,
        default=defaults.flood_kick_after,
        help="frames over the rate in a row that end a connection",
    )
    limits.add_argument(
        "--flood-cooldown",
        metavar="SECONDS",
        type=float,
        default=defaults.flood_cooldown,
        help="time an address may not connect after being kicked for flooding "
        "(0: none)",
    )
    limits.add_argument(
        "--max-frame-size",
        metavar="BYTES",
        type=int,
        default=defaults.max_frame_size,
        help=f"largest frame body accepted ({MIN_MAX_FRAME_SIZE} to {DEFAULT_MAX_FRAME_SIZE})",
    )
    limits.add_argument(
        "--outbox-size",
        metavar="BYTES",
        type=int,
        default=defaults.outbox_size,
        help="bytes a client may fall behind in reading before it is dropped",
    )
    limits.add_argument(
        "--outbox-total",
        metavar="BYTES",
        type=int,
        default=defaults.outbox_total,
        help="bytes all clients together may fall behind; past it, the one "
        "falling further behind is dropped",
    )

    timeouts = parser.add_argument_group("timeouts")
    timeouts.add_argument(
        "--handshake-timeout",
        metavar="SECONDS",
        type=float,
        default=defaults.handshake_timeout,
        help="time a new connection has to introduce itself",
    )
    timeouts.add_argument(
        "--ping-interval",
        metavar="SECONDS",
        type=float,
        default=defaults.ping_interval,
        help="silence after which the server pings a client",
    )
    timeouts.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=float,
        default=defaults.idle_timeout,
        help="silence after which a client is dropped (longer than --ping-interval)",
    )
    timeouts.add_argument(
        "--close-grace",
        metavar="SECONDS",
        type=float,
        default=defaults.close_grace,
        help="time a dropped client has to read its last words before it is cut off",
    )

    logging_group = parser.add_argument_group("logging")
    logging_group.add_argument(
        "--log-file",
        metavar="PATH",
        type=Path,
        default=Path(DEFAULT_LOG_FILE),
        help="where to write the log (rotated at 5 MB, 3 old files kept)",
    )
    files = parser.add_argument_group("settings file")
    files.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="read settings from this TOML file (keys are these options' names "
        "without the dashes); options given here win",
    )
    files.add_argument(
        "--print-config",
        action="store_true",
        help="print the settings in effect, as a --config file, and exit",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        server_name=args.name,
        motd=args.motd,
        reader_threads=args.reader_threads,
        max_clients=args.max_clients,
        max_per_address=args.max_per_address,
        new_per_address=args.new_per_address,
        new_per_address_window=args.new_per_address_window,
        exempt_loopback=not args.limit_loopback,
        rate_burst=args.rate_burst,
        rate_per_second=args.rate,
        flood_kick_after=args.flood_kick_after,
        flood_cooldown=args.flood_cooldown,
        max_frame_size=args.max_frame_size,
        outbox_size=args.outbox_size,
        outbox_total=args.outbox_total,
        handshake_timeout=args.handshake_timeout,
        ping_interval=args.ping_interval,
        idle_timeout=args.idle_timeout,
        close_grace=args.close_grace,
        data_dir=args.data_dir,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_names=tuple(args.tls_name),
        allow_plaintext=args.allow_plaintext,
        accounts=not args.no_accounts,
        registration=args.registration,
        require_account=args.require_account,
        history=not args.no_history,
        retention_days=args.retention_days,
    )


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The options, with a `--config` file's settings as their defaults."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", type=Path)
    given, _ = first.parse_known_args(argv)
    if given.config is not None:
        try:
            parser.set_defaults(**settings_file.load(given.config, parser))
        except settings_file.SettingsFileError as exc:
            parser.error(str(exc))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["admin"]:
        from server import admin  # noqa: PLC0415 - only for this subcommand

        return admin.main(args_list[1:])
    parser = build_parser()
    args = parse_args(parser, args_list)
    if args.print_config:
        print(settings_file.dump(args, parser), end="")
        return 0
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        configure_logging(args.log_file)
    except OSError as exc:
        parser.error(f"cannot write the log file {args.log_file}: {exc}")

    return _serve(config, args.log_file)


def _serve(config: ServerConfig, log_file: Path) -> int:
    """Run until Ctrl+C or SIGTERM; SIGHUP reloads the TLS certificate."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    server = ChatServer(config)

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        log.info("received SIGHUP: %s", server.reload_tls())

    signal.signal(signal.SIGHUP, on_hangup)
    try:
        server.start()
    except TlsError as exc:
        log.error("cannot set up TLS: %s", exc)
        print(f"chinwag-server: cannot set up TLS: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
        print(
            f"chinwag-server: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    host, port = server.address
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"Chinwag server listening on {where} (log: {log_file})", flush=True)
    if server.fingerprint is not None:
        print(
            f"TLS certificate {server.certificate}\n"
            f"SHA-256 fingerprint {server.fingerprint}\n"
            "Give users this fingerprint: their client shows it on first connection.",
            flush=True,
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("Chinwag server stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
