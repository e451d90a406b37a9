"""`chinwag-server admin backup` and `admin export`: a real data directory.

Through the real entry (`server.__main__.main`, and the console command in a
subprocess), while another writer keeps appending where that matters.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from protocol import nick_key
from server.__main__ import main
from server.store import (
    DATABASE_FILE_NAME,
    Role,
    SqliteMessageStore,
    SqliteStore,
    StoredMessage,
    account_party,
)

WAIT = 10.0
T0 = 1_780_000_000_000  # 2026-05-28T20:26:40Z, in milliseconds


def _stored(
    message_id: int, sender: str, text: str, to: str | None = None
) -> StoredMessage:
    return StoredMessage(
        id=message_id,
        timestamp_ms=T0 + message_id * 1500,
        sender=sender,
        sender_party=account_party(nick_key(sender)),
        target=to,
        target_party=None if to is None else account_party(nick_key(to)),
        text=text,
        txn=os.urandom(16),
    )


@pytest.fixture(name="data_dir")
def _data_dir(tmp_path: Path) -> Path:
    """A server data directory with accounts Ann and Bob and some history."""
    data_dir = tmp_path / "data"
    with SqliteStore.in_data_dir(data_dir) as accounts:
        for name in ("Ann", "Bob"):
            accounts.create_account(
                name=name,
                name_key=nick_key(name),
                password_hash="$argon2id$not-a-real-hash",
                role=Role.USER,
                created_at=1.0,
            )
    with SqliteMessageStore.in_data_dir(data_dir) as messages:
        messages.append(
            [
                _stored(1, "Ann", "hello everyone"),
                _stored(2, "Bob", "hi Ann"),
                _stored(3, "Ann", 'secret "plans" for Bob\nline two', to="Bob"),
                _stored(4, "Bob", "a secret for Ann", to="Ann"),
                _stored(5, "Ann", "schöne Grüße 👋"),
            ]
        )
    return data_dir


def admin(data_dir: Path, *argv: str) -> int:
    return main(["admin", "--data-dir", str(data_dir), *argv])


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


ANN_EXPORT = [
    {
        "id": 1,
        "time": "2026-05-28T20:26:41.500Z",
        "sender": "Ann",
        "target": None,
        "text": "hello everyone",
    },
    {
        "id": 3,
        "time": "2026-05-28T20:26:44.500Z",
        "sender": "Ann",
        "target": "Bob",
        "text": 'secret "plans" for Bob\nline two',
    },
    {
        "id": 5,
        "time": "2026-05-28T20:26:47.500Z",
        "sender": "Ann",
        "target": None,
        "text": "schöne Grüße 👋",
    },
]


# --- export ----------------------------------------------------------------------


def test_export_to_stdout_is_json_lines_of_the_accounts_own_messages(data_dir, capsys):
    assert admin(data_dir, "export", "Ann") == 0
    out, err = capsys.readouterr()
    assert _lines(out) == ANN_EXPORT
    assert err == ""


def test_export_finds_the_account_by_any_spelling_of_its_nick(data_dir, capsys):
    assert admin(data_dir, "export", "ANN") == 0
    assert _lines(capsys.readouterr().out) == ANN_EXPORT
    assert admin(data_dir, "export", "bob") == 0
    assert [line["id"] for line in _lines(capsys.readouterr().out)] == [2, 4]


def test_export_to_a_file_is_private(data_dir, tmp_path, capsys):
    target = tmp_path / "ann.jsonl"
    assert admin(data_dir, "export", "Ann", str(target)) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _lines(target.read_text(encoding="utf-8")) == ANN_EXPORT
    assert "3 message(s) of Ann written to" in capsys.readouterr().out


def test_export_never_overwrites_a_file(data_dir, tmp_path, capsys):
    target = tmp_path / "taken.jsonl"
    target.write_text("keep me\n")
    assert admin(data_dir, "export", "Ann", str(target)) == 1
    assert "exists already" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"


def test_export_of_an_unknown_account_is_a_clear_error(data_dir, tmp_path, capsys):
    target = tmp_path / "nobody.jsonl"
    assert admin(data_dir, "export", "nobody", str(target)) == 1
    out, err = capsys.readouterr()
    assert "no account named 'nobody'" in err
    assert "Traceback" not in err
    assert out == ""
    assert not target.exists()


def test_export_of_an_account_with_no_messages_is_empty(data_dir, capsys):
    with SqliteStore.in_data_dir(data_dir) as accounts:
        accounts.create_account(
            name="Cat",
            name_key=nick_key("Cat"),
            password_hash="$argon2id$not-a-real-hash",
            role=Role.USER,
            created_at=1.0,
        )
    assert admin(data_dir, "export", "Cat") == 0
    assert capsys.readouterr().out == ""


def test_export_into_a_missing_directory_is_a_clear_error(data_dir, tmp_path, capsys):
    assert admin(data_dir, "export", "Ann", str(tmp_path / "no" / "x.jsonl")) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err
    assert "Traceback" not in err


def test_history_commands_need_an_existing_database(tmp_path, capsys):
    empty = tmp_path / "empty"
    assert admin(empty, "export", "Ann") == 1
    assert admin(empty, "backup", str(tmp_path / "copy")) == 1
    err = capsys.readouterr().err
    assert err.count("there is no Chinwag database in") == 2
    assert not empty.exists()  # nothing was created
    assert not (tmp_path / "copy").exists()


# --- backup ----------------------------------------------------------------------


def _restore(backup: Path, into: Path) -> Path:
    into.mkdir()
    shutil.copyfile(backup, into / DATABASE_FILE_NAME)
    return into


def test_backup_copies_accounts_and_history(data_dir, tmp_path, capsys):
    target = tmp_path / "backup.sqlite3"
    assert admin(data_dir, "backup", str(target)) == 0
    assert f"backup written to {target}" in capsys.readouterr().out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    restored = _restore(target, tmp_path / "restored")
    with SqliteStore.in_data_dir(restored) as accounts:
        assert accounts.count_accounts() == 2
    with SqliteMessageStore.in_data_dir(restored) as messages:
        page, more = messages.page(
            account_party(nick_key("Ann")), before=99, after=0, limit=99
        )
        assert [m.id for m in page] == [1, 2, 3, 4, 5]
        assert more is False
        assert [
            m.id for m in messages.search("a:x", "schone", before=0, limit=9)[0]
        ] == [5]
    # the restored directory serves the admin commands too
    assert admin(restored, "export", "Ann") == 0
    assert _lines(capsys.readouterr().out) == ANN_EXPORT


def test_backup_never_overwrites_a_file(data_dir, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_bytes(b"precious")
    assert admin(data_dir, "backup", str(target)) == 1
    assert "exists already" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"


def test_backup_into_a_missing_directory_is_a_clear_error(data_dir, tmp_path, capsys):
    assert admin(data_dir, "backup", str(tmp_path / "no" / "backup")) == 1
    err = capsys.readouterr().err
    assert "cannot write the backup" in err
    assert "Traceback" not in err


def test_backup_by_the_command_while_the_server_writes(data_dir, tmp_path):
    """The real `chinwag-server admin backup` in its own process, while this
    process keeps committing batches as a running server's recorder does.
    """
    batch = 20
    stop = threading.Event()
    progress = threading.Semaphore(0)
    errors: list[BaseException] = []

    def server_writes() -> None:
        try:
            with SqliteMessageStore.in_data_dir(data_dir) as store:
                for n in range(5000):  # bounded: at most 100,000 messages
                    if stop.is_set():
                        return
                    first = 6 + n * batch
                    store.append(
                        [
                            _stored(i, "Bob", f"busy word{i}")
                            for i in range(first, first + batch)
                        ]
                    )
                    progress.release()
        except BaseException as error:  # reported below
            errors.append(error)
            progress.release()

    writer = threading.Thread(target=server_writes)
    writer.start()
    target = tmp_path / "live-backup.sqlite3"
    try:
        for _ in range(3):
            assert progress.acquire(timeout=WAIT)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "server",
                "admin",
                "--data-dir",
                str(data_dir),
                "backup",
                str(target),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # the writer went on while the copy was made
        assert progress.acquire(timeout=WAIT)
    finally:
        stop.set()
        writer.join(WAIT)
    assert not errors
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    connection = sqlite3.connect(target)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        connection.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )
    finally:
        connection.close()
    restored = _restore(target, tmp_path / "restored")
    with SqliteMessageStore.in_data_dir(restored) as messages:
        last = messages.last_id()
        assert last >= 5 + 3 * batch
        assert (last - 5) % batch == 0  # whole batches only
        everything, more = messages.page(
            account_party(nick_key("Ann")), before=last + 1, after=0, limit=last
        )
        assert [m.id for m in everything] == list(range(1, last + 1))
        assert more is False
        found, _ = messages.search("a:x", f"word{last}", before=0, limit=5)
        assert [m.id for m in found] == [last]
    with SqliteMessageStore.in_data_dir(data_dir) as live:
        assert live.last_id() > last  # the server kept writing past the copy


# --- the console command ---------------------------------------------------------


def _command(
    data_dir: Path, *argv: str, **options
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "server", "admin", "--data-dir", str(data_dir), *argv],
        capture_output=True,
        timeout=60,
        check=False,
        **options,
    )


def test_export_command_writes_utf8_json_lines(data_dir):
    result = _command(
        data_dir, "export", "Ann", env={**os.environ, "PYTHONIOENCODING": "utf-8"}
    )
    assert result.returncode == 0, result.stderr
    assert _lines(result.stdout.decode("utf-8")) == ANN_EXPORT


def test_export_to_an_ascii_terminal_escapes_instead_of_failing(data_dir):
    result = _command(
        data_dir, "export", "Ann", env={**os.environ, "PYTHONIOENCODING": "ascii"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii()
    assert _lines(result.stdout.decode("ascii")) == ANN_EXPORT


def test_unknown_account_by_the_command_exits_non_zero_without_traceback(data_dir):
    result = _command(data_dir, "export", "nobody")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"no account named 'nobody'" in result.stderr
    assert b"Traceback" not in result.stderr


def test_export_into_a_closed_pipe_stops_quietly(data_dir):
    with SqliteMessageStore.in_data_dir(data_dir) as store:
        store.append(
            [_stored(i, "Ann", "x" * 200) for i in range(6, 3006)]
        )  # ~800 KB: far more than a pipe holds
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "admin",
            "--data-dir",
            str(data_dir),
            "export",
            "Ann",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdout.close()  # as `| head -1` does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"Traceback" not in err
    assert err == b""
    assert proc.returncode == 1


def test_the_help_names_both_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["admin", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "backup" in out
    assert "export" in out
