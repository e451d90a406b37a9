"""The server's persistent state behind three interfaces (`Store`,
`MessageStore`, `RoomStore`).

Only this package touches the database. `SqliteStore` (accounts),
`SqliteMessageStore` (history) and `SqliteRoomStore` (rooms) keep it in one
file in the data directory; the schema is `migrations.MIGRATIONS`, and
`connection` opens the file and shares its connections for all three.
"""

from __future__ import annotations

from server.store.base import (
    AccountRecord,
    BanRecord,
    InviteRecord,
    InviteUnusable,
    MessageStore,
    NameTaken,
    NoSuchRoom,
    Role,
    RoomExists,
    RoomRecord,
    RoomStore,
    SchemaTooNew,
    Store,
    StoredMessage,
    StoreError,
    TokenRecord,
    TxnTaken,
    account_party,
    guest_party,
)
from server.store.messages import SqliteMessageStore
from server.store.migrations import LATEST_VERSION, MIGRATIONS, Migration, migrate
from server.store.rooms import SqliteRoomStore
from server.store.sqlite import DATABASE_FILE_NAME, SqliteStore

__all__ = [
    "DATABASE_FILE_NAME",
    "LATEST_VERSION",
    "MIGRATIONS",
    "AccountRecord",
    "BanRecord",
    "InviteRecord",
    "InviteUnusable",
    "MessageStore",
    "Migration",
    "NameTaken",
    "NoSuchRoom",
    "Role",
    "RoomExists",
    "RoomRecord",
    "RoomStore",
    "SchemaTooNew",
    "SqliteMessageStore",
    "SqliteRoomStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredMessage",
    "TokenRecord",
    "TxnTaken",
    "account_party",
    "guest_party",
    "migrate",
]
