from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
from argon2 import PasswordHasher

from server.accounts import Accounts
from server.store import SqliteStore


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="hasher")
def _hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chinwag.sqlite3"


@pytest.fixture(name="store")
def _store(db_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(db_path)
    yield store
    store.close()


@pytest.fixture(name="accounts")
def _accounts(store, hasher, clock) -> Iterator[Accounts]:
    service = Accounts(store, hasher=hasher, clock=clock)
    yield service
    service.close()
