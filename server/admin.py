"""`chinwag-server admin …`: manage accounts and history in the server's database.

Works whether the server runs or not (SQLite in WAL mode takes a second
process). Passwords come from the CHINWAG_PASSWORD environment variable or
are asked for twice on the terminal; they are never echoed or logged.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from server.accounts import Account, Accounts, Refused, ban_message
from server.paths import default_data_dir
from server.store import (
    DATABASE_FILE_NAME,
    Role,
    SqliteMessageStore,
    SqliteStore,
    StoredMessage,
    StoreError,
    account_party,
)

PASSWORD_VARIABLE = "CHINWAG_PASSWORD"  # noqa: S105 - a variable's name


def build_parser(prog: str = "chinwag-server admin") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Manage the accounts and history of a Chinwag server in its database.",
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
    backup = commands.add_parser(
        "backup",
        help="copy the whole database (accounts and history) to FILE; "
        "safe while the server runs",
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="a new file")
    export = commands.add_parser(
        "export",
        help="write the messages an account sent as JSON Lines "
        "(id, time, sender, target, text)",
    )
    export.add_argument("name", help="the account")
    export.add_argument(
        "file",
        type=Path,
        nargs="?",
        metavar="FILE",
        help="a new file, private to you (default: standard output)",
    )
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
    if args.command in {"backup", "export"}:
        return _history_command(args, data_dir)
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


def _history_command(args: argparse.Namespace, data_dir: Path) -> int:
    """`backup` and `export`: they read an existing database, never create one."""
    database = data_dir / DATABASE_FILE_NAME
    if not database.is_file():
        print(f"there is no Chinwag database in {data_dir}", file=sys.stderr)
        return 1
    try:
        with SqliteStore(database) as store, SqliteMessageStore(database) as messages:
            if args.command == "backup":
                return _backup(args.file, messages)
            return _export(args.name, args.file, store, messages)
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1


def _backup(file: Path, messages: SqliteMessageStore) -> int:
    if file.exists():
        print(f"{file} exists already; name a new file", file=sys.stderr)
        return 1
    messages.backup(file)
    print(f"backup written to {file}")
    return 0


def _export(
    name: str, file: Path | None, store: SqliteStore, messages: SqliteMessageStore
) -> int:
    with Accounts(store) as accounts:
        account = accounts.find(name)
    record = None if account is None else store.account_by_id(account.id)
    if record is None:
        print(f"no account named {name!r}", file=sys.stderr)
        return 1
    sent = messages.export(account_party(record.name_key))
    if file is None:
        return _write_stdout(sent)
    count = 0
    try:
        with _new_private_file(file) as out:
            for message in sent:
                out.write(_json_line(message))
                count += 1
    except FileExistsError:
        print(f"{file} exists already; name a new file", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{count} message(s) of {record.name} written to {file}")
    return 0


def _json_line(message: StoredMessage, *, ensure_ascii: bool = False) -> str:
    time = datetime.datetime.fromtimestamp(message.timestamp_ms / 1000, datetime.UTC)
    record = {
        "id": message.id,
        "time": time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sender": message.sender,
        "target": message.target,
        "text": message.text,
    }
    return json.dumps(record, ensure_ascii=ensure_ascii) + "\n"


def _write_stdout(sent: Iterator[StoredMessage]) -> int:
    # A terminal that cannot show every character gets \u escapes: still
    # the same JSON, never an encoding error half way.
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    ensure_ascii = encoding != "utf8"
    try:
        for message in sent:
            sys.stdout.write(_json_line(message, ensure_ascii=ensure_ascii))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) left: stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    return 0


@contextlib.contextmanager
def _new_private_file(path: Path) -> Iterator[IO[str]]:
    """A new file only its owner can read (a DM export is plaintext); removed
    again if writing it fails, so no partial export is left behind.
    """
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


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
