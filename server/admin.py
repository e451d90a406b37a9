"""`chinwag-server admin …`: manage accounts in the server's database directly.

Works whether the server runs or not (SQLite in WAL mode takes a second
process). Passwords come from the CHINWAG_PASSWORD environment variable or
are asked for twice on the terminal; they are never echoed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from server.accounts import Account, Accounts, Refused, ban_message
from server.paths import default_data_dir
from server.store import Role, SqliteStore, StoreError

PASSWORD_VARIABLE = "CHINWAG_PASSWORD"  # noqa: S105 - a variable's name


def build_parser(prog: str = "chinwag-server admin") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Manage the accounts of a Chinwag server in its database.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the server's data directory (default: %(default)s, i.e. "
        f"{default_data_dir()})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("name", help="the account's nickname")
    create.add_argument("--admin", action="store_true", help="make it an admin")
    promote = commands.add_parser("promote", help="make an account an admin")
    promote.add_argument("name")
    demote = commands.add_parser("demote", help="make an admin a plain user")
    demote.add_argument("name")
    reset = commands.add_parser(
        "reset-password", help="set a new password and log the account out everywhere"
    )
    reset.add_argument("name")
    invite = commands.add_parser("invite", help="print a one-time invite code")
    invite.add_argument(
        "--days", type=float, default=7.0, help="how long it stays valid (7)"
    )
    ban = commands.add_parser("ban", help="keep an account or an address out")
    ban.add_argument("name", nargs="?", help="the account to ban")
    ban.add_argument("--address", help="an IP address to ban")
    ban.add_argument("--minutes", type=float, help="how long (default: for good)")
    ban.add_argument("--reason", default="", help="told to the banned user")
    unban = commands.add_parser("unban", help="lift the bans on an account or address")
    unban.add_argument("name", nargs="?")
    unban.add_argument("--address")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    ask: Callable[[str], str] = getpass.getpass,
) -> int:
    """Run one admin command; 0 on success, 1 when it was refused."""
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = SqliteStore.in_data_dir(data_dir)
    except (OSError, StoreError) as exc:
        parser.error(f"cannot open the database in {data_dir}: {exc}")
    try:
        with Accounts(store) as accounts:
            return _run(args, accounts, ask)
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _run(
    args: argparse.Namespace, accounts: Accounts, ask: Callable[[str], str]
) -> int:
    commands: dict[str, Callable[[], int]] = {
        "create-user": lambda: _create(args, accounts, ask),
        "promote": lambda: _set_role(args.name, Role.ADMIN, accounts),
        "demote": lambda: _set_role(args.name, Role.USER, accounts),
        "reset-password": lambda: _reset(args, accounts, ask),
        "invite": lambda: _invite(args, accounts),
        "ban": lambda: _ban(args, accounts),
        "unban": lambda: _unban(args, accounts),
    }
    return commands[args.command]()


def _create(
    args: argparse.Namespace, accounts: Accounts, ask: Callable[[str], str]
) -> int:
    password = _new_password(ask, f"Password for {args.name}")
    if password is None:
        return 1
    result = accounts.register(args.name, password, by_operator=True).result()
    if isinstance(result, Refused):
        return _refused(result)
    if args.admin:
        promoted = accounts.promote(result.name, by=None)
        if isinstance(promoted, Refused):
            return _refused(promoted)
    print(f"created {'admin' if args.admin else 'user'} account {result.name}")
    return 0


def _set_role(name: str, role: Role, accounts: Accounts) -> int:
    changed = accounts.promote(name, by=None, role=role)
    if isinstance(changed, Refused):
        return _refused(changed)
    print(f"{changed.name} is now {role.value}")
    return 0


def _reset(
    args: argparse.Namespace, accounts: Accounts, ask: Callable[[str], str]
) -> int:
    password = _new_password(ask, f"New password for {args.name}")
    if password is None:
        return 1
    reset = accounts.reset_password(args.name, password, by=None).result()
    if isinstance(reset, Refused):
        return _refused(reset)
    print(f"new password set for {reset.name}; every login token was revoked")
    return 0


def _invite(args: argparse.Namespace, accounts: Accounts) -> int:
    code = accounts.create_invite(by=None, valid_for=args.days * 86400)
    if isinstance(code, Refused):
        return _refused(code)
    print(code)
    return 0


def _ban(args: argparse.Namespace, accounts: Accounts) -> int:
    if args.name is None and args.address is None:
        print("name an account or give --address", file=sys.stderr)
        return 2
    duration = args.minutes * 60 if args.minutes else None
    ban = accounts.ban(
        by=None,
        nick=args.name,
        address=args.address,
        reason=args.reason,
        duration=duration,
    )
    if isinstance(ban, Refused):
        return _refused(ban)
    print(ban_message(ban))
    return 0


def _unban(args: argparse.Namespace, accounts: Accounts) -> int:
    if args.name is None and args.address is None:
        print("name an account or give --address", file=sys.stderr)
        return 2
    lifted = accounts.unban(by=None, nick=args.name, address=args.address)
    if isinstance(lifted, Refused):
        return _refused(lifted)
    print(f"{lifted} ban(s) lifted")
    return 0


def _new_password(ask: Callable[[str], str], prompt: str) -> str | None:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given is not None:
        return given
    try:
        first = ask(f"{prompt}: ")
        second = ask("Again: ")
    except (EOFError, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return None
    if first != second:
        print("the two passwords differ; nothing was changed", file=sys.stderr)
        return None
    return first


def _refused(refused: Refused) -> int:
    print(refused.message, file=sys.stderr)
    return 1


__all__ = ["Account", "build_parser", "default_data_dir", "main"]
