"""The journal: what a session must not forget between runs (issue 14).

Per server and nick, in a 0600 JSON file under the user's data directory: the
lines sent (or typed) that the server has not confirmed, each with its
transaction id so sending it again can never post it twice, and the newest
message id seen, so the next run catches up from there. No sockets, threads
or UI here; `ChatSession` decides when to save.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import attrs
from platformdirs import PlatformDirs

from clients.core.trust import APP_NAME, endpoint, write_private_file
from protocol import MAX_TEXT_CHARS, TXN_BYTES, nick_key
from protocol.constants import MAX_NAME_CHARS

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
"""A journal bigger than this is not read (the queue holds at most 1000 lines)."""
_FORMAT_VERSION = 1


@attrs.frozen(kw_only=True)
class JournalLine:
    """One line the server has not confirmed.

    Attributes:
        sent: it may have reached the server (sent at least once); a line
            that never left can be sent to any server without doubt.
    """

    txn: bytes
    text: str
    target: str | None
    sent: bool


@attrs.frozen(kw_only=True)
class JournalState:
    """Everything the journal keeps for one server and nick."""

    lines: tuple[JournalLine, ...] = ()
    last_seen: int | None = None


EMPTY = JournalState()


def default_journal_dir() -> Path:
    """`journal/` in the user's data directory (follows `XDG_DATA_HOME`)."""
    return Path(PlatformDirs(APP_NAME, appauthor=False).user_data_dir) / JOURNAL_DIR


class Journal:
    """The journal file of one (server, nick).

    Args:
        host, port: the server, as the user named it.
        nick: the nick the session started with (any spelling of it).
        directory: where journals live; `default_journal_dir()` if None.

    Raises:
        ValueError: host or port malformed.
    """

    def __init__(
        self, host: str, port: int, nick: str, *, directory: Path | None = None
    ) -> None:
        self.server = endpoint(host, port)
        self.nick = nick_key(nick)
        name = hashlib.sha256(f"{self.server}\n{self.nick}".encode()).hexdigest()
        self.path = (directory or default_journal_dir()) / f"{name[:32]}.json"

    def load(self) -> JournalState:
        """What was kept; empty when there is nothing, or nothing readable.

        A damaged file is set aside as `<name>.corrupt` (and logged, without
        its content), so the next save does not silently destroy it.
        """
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_JOURNAL_BYTES + 1)
        except FileNotFoundError:
            return EMPTY
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error.strerror or error)
            return EMPTY
        state = self._parse(raw)
        if state is None:
            log.warning("%s is not a Chinwag journal; starting afresh", self.path)
            try:
                self.path.replace(self.path.with_name(self.path.name + ".corrupt"))
            except OSError as error:
                log.warning("cannot set %s aside: %s", self.path, error)
            return EMPTY
        return state

    def save(self, state: JournalState) -> None:
        """Replace the journal with `state` (atomically, 0600); empty removes it.

        Raises:
            OSError: it could not be written; the caller tells the user.
        """
        if state == EMPTY:
            self.path.unlink(missing_ok=True)
            return
        document = {
            "version": _FORMAT_VERSION,
            "server": self.server,
            "nick": self.nick,
            "last_seen": state.last_seen,
            "lines": [
                {
                    "txn": line.txn.hex(),
                    "text": line.text,
                    "target": line.target,
                    "sent": line.sent,
                }
                for line in state.lines
            ],
        }
        write_private_file(
            self.path, json.dumps(document, ensure_ascii=False).encode("utf-8")
        )

    def _parse(self, raw: bytes) -> JournalState | None:
        document: Any = None
        if len(raw) <= MAX_JOURNAL_BYTES:
            try:
                document = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                document = None
        if (
            not isinstance(document, dict)
            or document.get("version") != _FORMAT_VERSION
            or document.get("server") != self.server
            or document.get("nick") != self.nick
        ):
            return None
        last_seen = document.get("last_seen")
        entries = document.get("lines")
        if (last_seen is not None and not _is_id(last_seen)) or not isinstance(
            entries, list
        ):
            return None
        lines = [_parse_line(entry) for entry in entries]
        valid = tuple(line for line in lines if line is not None)
        if len(valid) != len(lines):
            return None
        return JournalState(lines=valid, last_seen=last_seen)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**64


def _parse_line(entry: Any) -> JournalLine | None:
    if not isinstance(entry, dict):
        return None
    txn, text, target, sent = (
        entry.get("txn"),
        entry.get("text"),
        entry.get("target"),
        entry.get("sent"),
    )
    if not (isinstance(txn, str) and isinstance(text, str) and isinstance(sent, bool)):
        return None
    if target is not None and not (
        isinstance(target, str) and 0 < len(target) <= MAX_NAME_CHARS
    ):
        return None
    try:
        txn_bytes = bytes.fromhex(txn)
    except ValueError:
        return None
    if len(txn_bytes) != TXN_BYTES or not 0 < len(text) <= MAX_TEXT_CHARS:
        return None
    return JournalLine(txn=txn_bytes, text=text, target=target, sent=sent)


@attrs.frozen
class Kept:
    """What `JournalKeeper.keep` did.

    Attributes:
        current: the journal on disk holds the state given.
        problem: a failure to tell the user about (told once, until a
            write works again).
    """

    current: bool
    problem: str | None = None


class JournalKeeper:
    """Decides when the journal is written, so a busy room costs few writes.

    Unconfirmed lines are written as soon as they change; a change of the
    last seen id alone waits `seen_interval` seconds (losing it costs only a
    few lines shown again). Without a journal nothing is written.

    Args:
        journal: the file, or None to keep nothing.
        now: the clock's time at the start.
        seen_interval: seconds between writes of the last seen id alone.
    """

    def __init__(
        self, journal: Journal | None, *, now: float, seen_interval: float = 5.0
    ) -> None:
        self.journal = journal
        self.loaded = journal.load() if journal is not None else EMPTY
        self._saved = self.loaded
        self._saved_at = now
        self._seen_interval = seen_interval
        self._failing = False

    def keep(self, state: JournalState, now: float, *, force: bool = False) -> Kept:
        """Write `state` if it changed and it is time to."""
        journal = self.journal
        if journal is None:
            return Kept(current=False)
        if state == self._saved:
            return Kept(current=True)
        if (
            state.lines == self._saved.lines
            and not force
            and now - self._saved_at < self._seen_interval
        ):
            return Kept(current=False)
        try:
            journal.save(state)
        except OSError as error:
            log.warning("cannot write %s: %s", journal.path, error)
            told, self._failing = self._failing, True
            problem = (
                None
                if told
                else f"cannot keep unsent messages on disk ({error.strerror or error}); they are kept until you quit"
            )
            return Kept(current=False, problem=problem)
        self._saved = state
        self._saved_at = now
        self._failing = False
        return Kept(current=True)

    def close(self) -> None:
        """Write nothing more (the session quit: what is on disk waits for
        the next run)."""
        self.journal = None
