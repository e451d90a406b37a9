"""The server's persistent state behind one interface (`Store`).

Only this package touches the database. `SqliteStore` keeps it in one file
in the data directory; the schema is `migrations.MIGRATIONS`.
"""

from __future__ import annotations

from server.store.base import (
    AccountRecord,
    BanRecord,
    InviteRecord,
    InviteUnusable,
    NameTaken,
    Role,
    SchemaTooNew,
    Store,
    StoreError,
    TokenRecord,
)
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
    "Migration",
    "NameTaken",
    "Role",
    "SchemaTooNew",
    "SqliteStore",
    "Store",
    "StoreError",
    "TokenRecord",
    "migrate",
]
