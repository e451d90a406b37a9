"""The server's persistent state behind two interfaces (`Store`, `MessageStore`).

Only this package touches the database. `SqliteStore` (accounts) and
`SqliteMessageStore` (history) keep it in one file in the data directory;
the schema is `migrations.MIGRATIONS`.
"""

from __future__ import annotations

from server.store.base import (
    AccountRecord,
    BanRecord,
    InviteRecord,
    InviteUnusable,
    MessageStore,
    NameTaken,
    Role,
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
    "Role",
    "SchemaTooNew",
    "SqliteMessageStore",
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
