"""`SqliteMessageStore`: stored history (issues 14, 15) in the server's SQLite file.

Only this package touches the database. The messages live in the same file
as the accounts (`SqliteStore`, schema steps 3 and 4) but use their own
connections.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from protocol import LOBBY
from server.store.backup import backup_database
from server.store.base import StoredMessage, StoreError, TxnTaken
from server.store.connection import (
    LockedConnection,
    SqliteFile,
    Synchronous,
    Wording,
    open_reader,
    open_writer,
)

MIN_PREFIX_CHARS = 2
"""The last word of a search also matches as a prefix when it is this long:
`a*` would make SQLite merge the index entries of every word starting with a.
Two keeps CJK words (no spaces between them, so a run is one token) findable.
"""

EXPORT_BATCH = 500
"""Rows read per step of `export`; the read lock is free between steps."""

PRUNE_BATCH = 1000
"""Rows deleted per transaction by `prune`, so new messages wait only briefly
(about 40 ms a batch measured, most of it taking the words out of the index).
"""

_MAX_ROWID = 2**63 - 1
"""SQLite integers are signed 64-bit; wire ids (u64) above this are clamped."""

_COLUMNS = (
    "id, timestamp_ms, sender, sender_party, target, target_party, text, txn,"
    " offline, room, sender_key, target_key"
)


_WORDING = Wording(
    closed="the message store is closed",
    reading="reading messages failed",
    writing="writing messages failed",
)

_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"  # noqa: S608 - constant columns


@attrs.frozen
class _Arm:
    """One reason a party may see a message: a condition on `messages`, and
    the index that lists exactly such messages in id order.
    """

    index: str
    condition: str


_LOBBY = _Arm("messages_lobby", "room IS NULL AND target_party IS NULL")
_ROOMS = _Arm("messages_by_room", "room IN (SELECT value FROM json_each(:rooms))")
_RECEIVED = _Arm("messages_to_party", "target_party = :party")
# A party's direct messages to itself are _RECEIVED already.
_SENT = _Arm(
    "messages_from_party",
    "sender_party = :party AND target_party IS NOT NULL AND target_party <> :party",
)
# The direct messages between the party and one nick (`only="@key"`); the
# second arm leaves out the party's messages to itself, which the first has.
_SENT_TO_NICK = _Arm(
    "messages_dm_sent",
    "sender_party = :party AND target_key = :nick AND target_party IS NOT NULL",
)
_RECEIVED_FROM_NICK = _Arm(
    "messages_dm_received",
    "target_party = :party AND sender_key = :nick"
    " AND (sender_party <> :party OR target_key IS NOT :nick)",
)


# Each arm is its own subquery, walking its index in id order and stopping
# at the LIMIT; UNION ALL merges the arms in id order. Without the subquery
# an arm whose index does not give id order (the rooms: one run per room)
# would sort every message of every room of the party's; with it, SQLite
# sorts under the LIMIT, stopping each room's run early. INDEXED BY keeps
# SQLite from walking the whole id range instead when its statistics make
# that look cheap (a party in no busy room would then cost a full scan).
# Measured: 0.5-2 ms a page on 200,000 and 2,000,000 messages, whether the
# party is in 100 rooms, in one quiet room or in none.
_ARM = """
    SELECT * FROM (SELECT {columns} FROM messages INDEXED BY {index}
        WHERE id > :after AND id < :before AND {condition}
        ORDER BY id {order} LIMIT :limit)
"""


@functools.cache
def _page_query(arms: tuple[_Arm, ...], *, newest: bool) -> str:
    order = "DESC" if newest else "ASC"
    selects = [
        _ARM.format(
            columns=_COLUMNS, index=arm.index, condition=arm.condition, order=order
        )
        for arm in arms
    ]
    return " UNION ALL ".join(selects) + f" ORDER BY id {order} LIMIT :limit"


# Searches are driven by the full-text index, newest match first (CROSS JOIN
# keeps that order of the loops); the visibility is a test on each match.
# The arms' conditions name no column of messages_fts, so they need no `m.`.
# (Driving from the visible messages instead and asking the index about each
# one measured 10-100 times slower: FTS5 answers one rowid at a time badly.)
_SEARCH = """
    SELECT {columns}
    FROM messages_fts CROSS JOIN messages AS m ON m.id = messages_fts.rowid
    WHERE messages_fts MATCH :match AND messages_fts.rowid < :before
        AND ({condition})
    ORDER BY messages_fts.rowid DESC LIMIT :limit
"""
# One conversation of direct messages is a tiny part of history: testing each
# match's rowid against the conversation's ids (from their indexes, once)
# skips reading every matching row. Measured on 200,000 messages with a word
# in all of them: 80 ms instead of 270 ms; the walk through the word's
# entries in the index (66 ms) is the rest.
_SEARCH_IN_IDS = """
    SELECT {columns} FROM messages AS m WHERE m.id IN (
        SELECT rowid FROM messages_fts
        WHERE messages_fts MATCH :match AND rowid < :before
            AND +rowid IN ({ids})
        ORDER BY rowid DESC LIMIT :limit)
    ORDER BY m.id DESC
"""
_IDS = "SELECT id FROM messages INDEXED BY {index} WHERE {condition}"
_M_COLUMNS = ", ".join(f"m.{column.strip()}" for column in _COLUMNS.split(","))


@functools.cache
def _search_query(arms: tuple[_Arm, ...]) -> str:
    if arms == _ONE_NICK:
        ids = " UNION ALL ".join(
            _IDS.format(index=arm.index, condition=arm.condition) for arm in arms
        )
        return _SEARCH_IN_IDS.format(columns=_M_COLUMNS, ids=ids)
    condition = " OR ".join(f"({arm.condition})" for arm in arms)
    return _SEARCH.format(columns=_M_COLUMNS, condition=condition)


_EVERYTHING = (_LOBBY, _ROOMS, _RECEIVED, _SENT)
_NO_ROOMS = (_LOBBY, _RECEIVED, _SENT)
_ONE_NICK = (_SENT_TO_NICK, _RECEIVED_FROM_NICK)


def _scope(
    party: str, rooms: Collection[str], only: str | None
) -> tuple[tuple[_Arm, ...], dict[str, object]] | None:
    """The arms and parameters for what `party` sees; None when nothing.

    Raises:
        ValueError: `only` is malformed.
        TypeError: `rooms` is a plain string (a collection of characters).
    """
    if isinstance(rooms, str):
        msg = "rooms is a collection of room keys, not one string"
        raise TypeError(msg)
    params: dict[str, object] = {"party": party}
    if only is None:
        if not rooms:
            return _NO_ROOMS, params
        params["rooms"] = json.dumps(sorted(set(rooms)))
        return _EVERYTHING, params
    if only == LOBBY:
        return (_LOBBY,), params
    if only.startswith("#"):
        if only not in rooms:
            return None
        params["rooms"] = json.dumps([only])
        return (_ROOMS,), params
    if only.startswith("@") and len(only) > 1:
        params["nick"] = only[1:]
        return _ONE_NICK, params
    msg = f"only is None, '#lobby', '#<room key>' or '@<nick key>', not {only!r}"
    raise ValueError(msg)


class SqliteMessageStore(SqliteFile):
    """The `MessageStore` protocol over the server's SQLite file.

    Threads: its own connections, apart from `SqliteStore`'s, each shared
    under its own lock: one writer, one reader for pages and the other
    quick reads, and one for searches, so that a slow search (a common
    word over years of history) never holds up a page. A batch of messages
    commits in one transaction (group commit) while the readers go on:
    WAL gives each read the last committed state.

    Durability: the writer runs `synchronous=FULL`, so a message whose
    `append` returned survives a power cut too (the hub confirms it to its
    sender only then). Reads need no such care.

    Opening applies the schema steps the file lacks (`migrate`, idempotent
    and safe between processes), so this works with or without accounts;
    usually `SqliteStore` has applied them already.

    Args:
        path: the database file; created (mode 0600) with its directory if
            missing.
        busy_timeout: seconds to wait for another connection's write lock
            (the accounts store, an admin command).

    Raises:
        StoreError: the file cannot be opened or migrated.
        SchemaTooNew: the file comes from a newer server.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        with contextlib.ExitStack() as opened:
            writer, _ = open_writer(
                path, busy_timeout=busy_timeout, synchronous=Synchronous.FULL
            )
            opened.callback(writer.close)
            reader = open_reader(path, busy_timeout=busy_timeout)
            opened.callback(reader.close)
            searcher = open_reader(path, busy_timeout=busy_timeout)
            opened.pop_all()  # all three opened: the store keeps them
        self._writer = LockedConnection(writer, _WORDING)
        self._reader = LockedConnection(reader, _WORDING)
        self._searcher = LockedConnection(searcher, _WORDING)

    def close(self) -> None:
        self._writer.close(optimize=True)
        self._reader.close()
        self._searcher.close()

    # --- the MessageStore protocol ----------------------------------------

    def last_id(self) -> int:
        with self._reader.read() as db:
            row = db.execute(
                "SELECT max("
                " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
                " coalesce((SELECT max(id) FROM messages), 0))"
            ).fetchone()
        return int(row[0])

    def append(self, messages: Sequence[StoredMessage]) -> None:
        if not messages:
            return
        seen: set[bytes] = set()
        for message in messages:
            if message.txn is not None:
                if message.txn in seen:
                    raise TxnTaken(message.txn)
                seen.add(message.txn)
        rows = [
            (
                m.id,
                m.timestamp_ms,
                m.sender,
                m.sender_party,
                m.target,
                m.target_party,
                m.text,
                m.txn,
                int(m.offline),
                m.room,
                m.sender_key,
                m.target_key,
            )
            for m in messages
        ]
        try:
            with self._writer.write() as db:
                db.executemany(
                    _INSERT,
                    rows,
                )
        except StoreError as error:
            if _is_txn_conflict(error.__cause__):
                for message in messages:
                    if message.txn is not None and self.by_txn(message.txn):
                        raise TxnTaken(message.txn) from error
            raise

    def by_txn(self, txn: bytes) -> StoredMessage | None:
        with self._reader.read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE txn = ?",  # noqa: S608 - constant columns
                (txn,),
            ).fetchone()
        return _message(row) if row else None

    def page(
        self,
        party: str,
        *,
        before: int,
        after: int,
        limit: int,
        rooms: Collection[str] = (),
        only: str | None = None,
    ) -> tuple[list[StoredMessage], bool]:
        _check_limit(limit)
        scope = _scope(party, rooms, only)
        after = max(0, min(after, _MAX_ROWID))
        before = max(0, min(before, _MAX_ROWID))
        if scope is None or before <= after + 1:
            return [], False
        arms, params = scope
        newest = after == 0
        params.update(after=after, before=before, limit=limit + 1)
        with self._reader.read() as db:
            rows = db.execute(_page_query(arms, newest=newest), params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        if newest:
            rows.reverse()
        return [_message(row) for row in rows], more

    def search(
        self,
        party: str,
        words: str,
        *,
        before: int,
        limit: int,
        rooms: Collection[str] = (),
        only: str | None = None,
    ) -> tuple[list[StoredMessage], bool]:
        _check_limit(limit)
        scope = _scope(party, rooms, only)
        match = match_expression(words)
        before = _MAX_ROWID if before <= 0 else min(before, _MAX_ROWID)
        if scope is None or match is None:
            return [], False
        arms, params = scope
        params.update(match=match, before=before, limit=limit + 1)
        with self._searcher.read() as db:
            rows = db.execute(_search_query(arms), params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        return [_message(row) for row in rows], more

    def take_offline(self, party: str) -> list[StoredMessage]:
        with self._writer.write() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM messages"  # noqa: S608 - constant columns
                " WHERE offline = 1 AND target_party = ? ORDER BY id",
                (party,),
            ).fetchall()
            if rows:
                db.execute(
                    "UPDATE messages SET offline = 0"
                    " WHERE offline = 1 AND target_party = ?",
                    (party,),
                )
        return [_message(row) for row in rows]

    def claim_offline(self, message_id: int) -> bool:
        with self._writer.write() as db:
            cursor = db.execute(
                "UPDATE messages SET offline = 0 WHERE id = ? AND offline = 1",
                (message_id,),
            )
        return cursor.rowcount == 1

    def keep_offline(self, ids: list[int]) -> None:
        with self._writer.write() as db:
            db.executemany(
                "UPDATE messages SET offline = 1"
                " WHERE id = ? AND target_party IS NOT NULL",
                [(id_,) for id_ in ids],
            )

    def prune(self, older_than_ms: int) -> int:
        cutoff = max(-_MAX_ROWID, min(older_than_ms, _MAX_ROWID))
        total = 0
        while True:
            with self._writer.write() as db:
                deleted = db.execute(
                    "DELETE FROM messages WHERE id IN"
                    " (SELECT id FROM messages WHERE timestamp_ms < ? LIMIT ?)",
                    (cutoff, PRUNE_BATCH),
                ).rowcount
            total += deleted
            if deleted < PRUNE_BATCH:
                return total

    def backup(self, path: Path) -> None:
        with self._reader.read():
            pass  # only to refuse when closed: the backup has its own connection
        backup_database(self.path, path, busy_timeout=self._busy_timeout)

    def export(self, sender_party: str) -> Iterator[StoredMessage]:
        last = 0
        while True:
            # The lock is held for one batch only, never while the caller
            # works on the messages handed out.
            with self._reader.read() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM messages"  # noqa: S608 - constant columns
                    " WHERE sender_party = ? AND id > ? ORDER BY id LIMIT ?",
                    (sender_party, last, EXPORT_BATCH),
                ).fetchall()
            for row in rows:
                yield _message(row)
            if len(rows) < EXPORT_BATCH:
                return
            last = int(rows[-1][0])


def match_expression(words: str) -> str | None:
    """An FTS5 query matching every word of `words` literally; None if none.

    Each word becomes a quoted FTS5 string (a `"` inside doubled), so no
    user input is ever query syntax: `NEAR(`, `*`, `-`, `:` and `^` are
    just characters, which the tokenizer then treats as it treats them in
    the messages (word separators). Control characters separate words (a
    NUL would end the query string early). A word with no letter or digit
    would be an empty phrase, which matches nothing, so it is left out. The
    last word also matches as a prefix when it is long enough.
    """
    cleaned = "".join(
        " " if unicodedata.category(char) in {"Cc", "Cs"} else char for char in words
    )
    kept = [word for word in cleaned.split() if _last_token_chars(word)]
    if not kept:
        return None
    phrases = ['"' + word.replace('"', '""') + '"' for word in kept]
    if _last_token_chars(kept[-1]) >= MIN_PREFIX_CHARS:
        phrases[-1] += "*"
    return " ".join(phrases)


def _is_token_char(char: str) -> bool:
    # The unicode61 tokenizer's default token characters: L*, N* and Co.
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def _last_token_chars(word: str) -> int:
    """The length of the last run of token characters in `word` (0: none)."""
    count = 0
    for char in reversed(word):
        if _is_token_char(char):
            count += 1
        elif count:
            break
    return count


def _check_limit(limit: int) -> None:
    if limit < 1:
        msg = f"limit must be at least 1, not {limit}"
        raise ValueError(msg)


def _is_txn_conflict(error: BaseException | None) -> bool:
    return isinstance(error, sqlite3.IntegrityError) and "messages.txn" in str(error)


def _message(row: tuple[Any, ...]) -> StoredMessage:
    (
        message_id,
        timestamp_ms,
        sender,
        sender_party,
        target,
        target_party,
        text,
        txn,
        offline,
        room,
        sender_key,
        target_key,
    ) = row
    return StoredMessage(
        id=int(message_id),
        timestamp_ms=int(timestamp_ms),
        sender=str(sender),
        sender_party=str(sender_party),
        target=None if target is None else str(target),
        target_party=None if target_party is None else str(target_party),
        text=str(text),
        txn=None if txn is None else bytes(txn),
        offline=bool(offline),
        room=None if room is None else str(room),
        sender_key=str(sender_key),
        target_key=None if target_key is None else str(target_key),
    )
