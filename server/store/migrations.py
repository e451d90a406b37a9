"""The database schema as numbered steps, and the code that applies them.

Adding a table or column later (history, rooms...) is appending one
`Migration` to `MIGRATIONS`: never edit a step that has shipped, since
existing files have already run it. The applied step is the file's
`PRAGMA user_version`; each step runs in its own transaction, so a failed
step leaves the file exactly at the step before.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

import attrs

from protocol import nick_key
from server.store.base import SchemaTooNew, StoreError

log = logging.getLogger(__name__)

NICK_KEY_FUNCTION = "chinwag_nick_key"
"""`protocol.nick_key` as an SQL function, for steps that derive keys from
stored nicks (step 4, which spells the name out: shipped steps never
change). `migrate` registers it on its connection only.
"""


@attrs.frozen
class Migration:
    """One schema step: the SQL statements that take version-1 to `version`."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "accounts and their login tokens",
        (
            """
            CREATE TABLE accounts (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
                created_at REAL NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
            ) STRICT
            """,
            """
            CREATE TABLE tokens (
                token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
                account_id INTEGER NOT NULL
                    REFERENCES accounts (id) ON DELETE CASCADE,
                created_at REAL NOT NULL,
                last_used REAL NOT NULL,
                label TEXT NOT NULL DEFAULT ''
            ) STRICT
            """,
            "CREATE INDEX tokens_by_account ON tokens (account_id)",
        ),
    ),
    Migration(
        2,
        "invites and bans",
        (
            """
            CREATE TABLE invites (
                code_hash BLOB PRIMARY KEY CHECK (length(code_hash) = 32),
                created_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                used_by INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
                used_at REAL
            ) STRICT
            """,
            """
            CREATE TABLE bans (
                id INTEGER PRIMARY KEY,
                account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
                address TEXT,
                reason TEXT NOT NULL DEFAULT '',
                created_at REAL NOT NULL,
                until REAL,
                CHECK (account_id IS NOT NULL OR address IS NOT NULL)
            ) STRICT
            """,
            "CREATE INDEX bans_by_account ON bans (account_id)",
            "CREATE INDEX bans_by_address ON bans (address)",
        ),
    ),
    Migration(
        3,
        "stored messages and their full-text index",
        (
            # AUTOINCREMENT (the hub gives the ids) keeps the highest id ever
            # stored in sqlite_sequence, so ids stay increasing even after
            # pruning has deleted the newest rows.
            """
            CREATE TABLE messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                timestamp_ms INTEGER NOT NULL,
                sender TEXT NOT NULL,
                sender_party TEXT NOT NULL,
                target TEXT,
                target_party TEXT,
                text TEXT NOT NULL,
                txn BLOB UNIQUE CHECK (length(txn) = 16),
                offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
                CHECK ((target IS NULL) = (target_party IS NULL)),
                CHECK (offline = 0 OR target_party IS NOT NULL)
            ) STRICT
            """,
            # Direct messages only: a lobby line needs no index for who may
            # see it. SQLite appends the rowid to every index entry, so each
            # of these is also in id order within one party.
            """
            CREATE INDEX messages_to_party ON messages (target_party)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE INDEX messages_from_party ON messages (sender_party)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE INDEX messages_offline ON messages (target_party)
                WHERE offline = 1
            """,
            "CREATE INDEX messages_by_time ON messages (timestamp_ms)",
            """
            CREATE VIRTUAL TABLE messages_fts USING fts5 (
                text,
                content = 'messages',
                content_rowid = 'id',
                tokenize = 'unicode61 remove_diacritics 2'
            )
            """,
            # An external-content index must be told of every change.
            """
            CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
            END
            """,
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
            END
            """,
        ),
    ),
    Migration(
        4,
        "rooms; messages learn their room and the keys of their nicks",
        (
            # Step 3's table CHECK forbids a target without a target_party,
            # which is what a room message is, and SQLite cannot alter a
            # CHECK: the table is rebuilt (sqlite.org/lang_altertable.html,
            # "other kinds of table schema changes"), keeping every id, so
            # the external-content FTS index stays valid as it is.
            """
            CREATE TABLE messages_4 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                timestamp_ms INTEGER NOT NULL,
                sender TEXT NOT NULL,
                sender_party TEXT NOT NULL,
                target TEXT,
                target_party TEXT,
                text TEXT NOT NULL,
                txn BLOB UNIQUE CHECK (length(txn) = 16),
                offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
                room TEXT,
                sender_key TEXT NOT NULL DEFAULT '',
                target_key TEXT,
                CHECK (CASE WHEN room IS NULL
                    THEN (target IS NULL) = (target_party IS NULL)
                    ELSE target IS NOT NULL AND target_party IS NULL END),
                CHECK (offline = 0 OR target_party IS NOT NULL),
                CHECK (target_key IS NULL OR target_party IS NOT NULL)
            ) STRICT
            """,
            # Every stored line so far is a lobby or a direct message; their
            # nicks give the keys (`nick_key`, registered by `migrate`).
            """
            INSERT INTO messages_4 (id, timestamp_ms, sender, sender_party,
                target, target_party, text, txn, offline, room, sender_key,
                target_key)
            SELECT id, timestamp_ms, sender, sender_party, target,
                target_party, text, txn, offline, NULL,
                chinwag_nick_key(sender),
                CASE WHEN target_party IS NULL THEN NULL
                    ELSE chinwag_nick_key(target) END
            FROM messages ORDER BY id
            """,
            # The highest id ever given survives pruning (step 3); carry it.
            "DELETE FROM sqlite_sequence WHERE name = 'messages_4'",
            """
            INSERT INTO sqlite_sequence (name, seq) SELECT 'messages_4', max(
                coalesce((SELECT max(seq) FROM sqlite_sequence
                    WHERE name = 'messages'), 0),
                coalesce((SELECT max(id) FROM messages_4), 0))
            """,
            # Drops step 3's indexes and triggers with it; no trigger fires.
            "DROP TABLE messages",
            "ALTER TABLE messages_4 RENAME TO messages",
            """
            CREATE INDEX messages_to_party ON messages (target_party)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE INDEX messages_from_party ON messages (sender_party)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE INDEX messages_offline ON messages (target_party)
                WHERE offline = 1
            """,
            "CREATE INDEX messages_by_time ON messages (timestamp_ms)",
            # The lobby's own list, so a quiet lobby is found without walking
            # through every room's lines.
            """
            CREATE INDEX messages_lobby ON messages (id)
                WHERE room IS NULL AND target_party IS NULL
            """,
            """
            CREATE INDEX messages_by_room ON messages (room, id)
                WHERE room IS NOT NULL
            """,
            # One conversation of direct messages (`only="@nick"`).
            """
            CREATE INDEX messages_dm_sent ON messages (sender_party, target_key)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE INDEX messages_dm_received ON messages (target_party, sender_key)
                WHERE target_party IS NOT NULL
            """,
            """
            CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
            END
            """,
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
                INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
            END
            """,
            # The rooms themselves (the lobby's messages have no room, but it
            # may have a row for its topic). `role` is a `protocol.RoomRole`
            # value (spec 12.5).
            """
            CREATE TABLE rooms (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                topic TEXT NOT NULL DEFAULT '',
                invite_only INTEGER NOT NULL DEFAULT 0 CHECK (invite_only IN (0, 1)),
                owner_party TEXT NOT NULL,
                created_at REAL NOT NULL
            ) STRICT
            """,
            """
            CREATE TABLE room_members (
                room_key TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
                party TEXT NOT NULL,
                role INTEGER NOT NULL DEFAULT 0 CHECK (role IN (0, 1, 2)),
                joined_at REAL NOT NULL,
                PRIMARY KEY (room_key, party)
            ) STRICT, WITHOUT ROWID
            """,
            "CREATE INDEX room_members_by_party ON room_members (party)",
            """
            CREATE TABLE room_bans (
                room_key TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
                party TEXT NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                created_at REAL NOT NULL,
                PRIMARY KEY (room_key, party)
            ) STRICT, WITHOUT ROWID
            """,
            """
            CREATE TABLE room_invites (
                room_key TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
                party TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (room_key, party)
            ) STRICT, WITHOUT ROWID
            """,
        ),
    ),
)
"""Every step, in order; `MIGRATIONS[i].version == i + 1`."""

LATEST_VERSION = len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    """The last step applied to this database (0 for a new, empty file)."""
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(
    connection: sqlite3.Connection, steps: Sequence[Migration] = MIGRATIONS
) -> int:
    """Apply the steps this database has not had yet; return its version.

    The connection must be in autocommit mode (`isolation_level=None`), so
    that each step's `BEGIN IMMEDIATE` … `COMMIT` is the only transaction.
    `BEGIN IMMEDIATE` takes the write lock before the version is read again,
    so two processes opening one new file cannot both apply a step.

    Raises:
        SchemaTooNew: the file is at a version beyond `steps`.
        StoreError: a step failed; the file stays at the step before it.
    """
    for index, step in enumerate(steps, start=1):
        if step.version != index:
            msg = f"migration steps must be numbered 1, 2, 3...: got {step.version} at {index}"
            raise ValueError(msg)
    try:
        connection.create_function(NICK_KEY_FUNCTION, 1, nick_key, deterministic=True)
    except sqlite3.Error as error:
        raise StoreError(f"cannot prepare the schema steps: {error}") from error
    current = schema_version(connection)
    if current > len(steps):
        raise SchemaTooNew(
            f"the database is at schema version {current}, newer than this server "
            f"knows ({len(steps)}); run a newer server or restore a backup"
        )
    for step in steps[current:]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(connection) >= step.version:
                connection.execute("ROLLBACK")  # another process got there first
                continue
            for statement in step.statements:
                connection.execute(statement)
            # PRAGMA takes no parameters; the value is our own integer.
            connection.execute(f"PRAGMA user_version = {int(step.version)}")
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:  # some errors end it themselves
                connection.execute("ROLLBACK")
            raise StoreError(
                f"schema step {step.version} ({step.description}) failed: {error}"
            ) from error
        log.info("database schema now at step %d: %s", step.version, step.description)
    return schema_version(connection)
