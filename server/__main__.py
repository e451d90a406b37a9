"""`chinwag-server`: parse options, log to a file, serve until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import attrs

from server.config import ServerConfig
from server.listener import ChatServer
from server.logs import DEFAULT_LOG_FILE, configure_logging

log = logging.getLogger("server")


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(
        prog="chinwag-server",
        description="Run a Chinwag chat server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=defaults.port, help="TCP port; 0 picks a free one"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=Path(DEFAULT_LOG_FILE),
        help="where to write the log",
    )
    parser.add_argument("--max-clients", type=int, default=defaults.max_clients)
    parser.add_argument(
        "--max-frame-size",
        type=int,
        default=defaults.max_frame_size,
        help="largest frame body accepted, in bytes",
    )
    parser.add_argument(
        "--outbox-size",
        type=int,
        default=defaults.outbox_size,
        help="bytes a client may fall behind before it is dropped",
    )
    parser.add_argument(
        "--handshake-timeout", type=float, default=defaults.handshake_timeout
    )
    parser.add_argument("--ping-interval", type=float, default=defaults.ping_interval)
    parser.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout)
    parser.add_argument(
        "--rate-burst",
        type=int,
        default=defaults.rate_burst,
        help="frames a client may send at once",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=defaults.rate_per_second,
        help="frames per second after a burst",
    )
    parser.add_argument(
        "--name", default=defaults.server_name, help="server name shown to clients"
    )
    parser.add_argument("--motd", default=defaults.motd, help="message of the day")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return attrs.evolve(
        ServerConfig(),
        host=args.host,
        port=args.port,
        max_clients=args.max_clients,
        max_frame_size=args.max_frame_size,
        outbox_size=args.outbox_size,
        handshake_timeout=args.handshake_timeout,
        ping_interval=args.ping_interval,
        idle_timeout=args.idle_timeout,
        rate_burst=args.rate_burst,
        rate_per_second=args.rate,
        server_name=args.name,
        motd=args.motd,
    )


def _raise_fd_limit(wanted: int) -> None:
    """Each client is a file descriptor; the usual soft limit (1024) is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        log.info("raised the open-file limit from %d to %d", soft, new)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        configure_logging(args.log_file)
    except OSError as exc:
        parser.error(f"cannot write the log file {args.log_file}: {exc}")

    _raise_fd_limit(config.max_clients + 64)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    server = ChatServer(config)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
        print(
            f"chinwag-server: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    host, port = server.address
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"Chinwag server listening on {where} (log: {args.log_file})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("Chinwag server stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
