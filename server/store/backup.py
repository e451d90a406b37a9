"""Online backup of the server's SQLite file with SQLite's backup API.

Only `server.store` calls this. It reads through its own connection, so a
running server keeps reading and writing meanwhile (WAL).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from server.store.base import StoreError


def backup_database(
    source: Path, destination: Path, *, busy_timeout: float = 5.0
) -> None:
    """Copy the database at `source` to `destination`, consistently.

    The copy is one read transaction (a single backup step), so it is the
    database as it was at one moment, however busy the writers are. It is
    written to a temporary file (mode 0600: it holds password hashes and
    direct messages) in the destination's directory, made durable, then
    renamed over `destination`: a failed backup leaves no half file. The
    copy is in rollback-journal mode, one self-contained file; the server
    turns WAL back on when it opens a restored copy.

    Raises:
        StoreError: the source cannot be read, the destination is the
            source itself, or the copy cannot be written.
    """
    try:
        if destination.exists() and destination.samefile(source):
            raise StoreError("refusing to back up the database onto itself")
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
        )
        os.close(handle)
    except OSError as error:
        raise StoreError(f"cannot write the backup {destination}: {error}") from error
    temp = Path(temp_name)
    try:
        _copy(source, temp, busy_timeout)
        _fsync_file(temp)
        temp.replace(destination)
        _fsync_directory(destination.parent)
    except sqlite3.Error as error:
        raise StoreError(f"the backup failed: {error}") from error
    except OSError as error:
        raise StoreError(f"cannot write the backup {destination}: {error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _copy(source: Path, temp: Path, busy_timeout: float) -> None:
    # mode=rw: never create an empty database where the source should be.
    reader = sqlite3.connect(
        f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=busy_timeout
    )
    try:
        writer = sqlite3.connect(temp, timeout=busy_timeout)
        try:
            reader.backup(writer, pages=-1)  # one step: one consistent snapshot
            writer.execute("PRAGMA journal_mode = DELETE")
        finally:
            writer.close()
    finally:
        reader.close()


def _fsync_file(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_directory(path: Path) -> None:
    """Make a rename durable; some systems cannot open a directory (ignored)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
