"""clients/core/secrets.py: the 0600 token file, and keyring detection."""

from __future__ import annotations

import importlib
import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from clients.core.secrets import (
    FileSecretStore,
    KeyringSecretStore,
    SecretStoreError,
    default_tokens_path,
    find_keyring,
    open_secret_store,
    server_key,
)

SERVER = server_key("chat.example.org", 9090)
TOKEN = bytes(range(32))


@pytest.fixture(name="store")
def _store(tmp_path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "chinwag" / "tokens.json")


def test_save_load_delete(store):
    assert store.load(SERVER, "bob") is None
    store.save(SERVER, "bob", TOKEN)
    assert store.load(SERVER, "bob") == TOKEN
    assert store.load(SERVER, "alice") is None
    assert store.load(server_key("chat.example.org", 9091), "bob") is None
    assert store.delete(SERVER, "bob")
    assert not store.delete(SERVER, "bob")
    assert store.load(SERVER, "bob") is None


def test_several_servers_and_accounts(store):
    other = server_key("::1", 9090)
    store.save(SERVER, "bob", b"b" * 32)
    store.save(SERVER, "alice", b"a" * 32)
    store.save(other, "bob", b"c" * 32)
    store.save(SERVER, "bob", b"d" * 32)  # replaces
    again = FileSecretStore(store.path)  # another client, or the next run
    assert again.load(SERVER, "bob") == b"d" * 32
    assert again.load(SERVER, "alice") == b"a" * 32
    assert again.load(other, "bob") == b"c" * 32
    assert again.delete(other, "bob")
    assert set(json.loads(store.path.read_text())["tokens"]) == {
        SERVER
    }  # no empty entry


def test_the_file_is_private(store):
    store.save(SERVER, "bob", TOKEN)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert not list(store.path.parent.glob(".*.tmp"))


def test_a_corrupt_file_is_set_aside_not_lost(store, caplog):
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"version": 1, "tokens": ')
    assert store.load(SERVER, "bob") is None
    store.save(SERVER, "bob", TOKEN)
    assert store.load(SERVER, "bob") == TOKEN
    aside = store.path.with_name("tokens.json.corrupt")
    assert aside.read_text() == '{"version": 1, "tokens": '
    assert "not a Chinwag token file" in caplog.text


def test_a_damaged_entry_is_ignored(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(
        json.dumps({"version": 1, "tokens": {SERVER: {"bob": "%%%", "al": 5}}})
    )
    assert store.load(SERVER, "bob") is None
    assert store.load(SERVER, "al") is None


def test_a_token_that_cannot_be_saved_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = FileSecretStore(blocker / "tokens.json")
    with pytest.raises(SecretStoreError, match="cannot save the login"):
        store.save(SERVER, "bob", TOKEN)


def test_tokens_never_reach_the_log(store, caplog):
    caplog.set_level("DEBUG")
    store.save(SERVER, "bob", TOKEN)
    store.load(SERVER, "bob")
    store.path.write_text("garbage " + TOKEN.hex())
    store.load(SERVER, "bob")
    store.save(SERVER, "bob", TOKEN)
    store.delete(SERVER, "bob")
    assert TOKEN.hex() not in caplog.text


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_tokens_path() == tmp_path / "xdg" / "chinwag" / "tokens.json"
    assert FileSecretStore().path == default_tokens_path()


def test_without_keyring_the_file_is_used(tmp_path):
    store = open_secret_store(tmp_path / "tokens.json", use_keyring=False)
    assert isinstance(store, FileSecretStore)
    assert store.description == f"the file {tmp_path / 'tokens.json'}"


# --- the system keyring (only when the optional package is installed) --------------------


@pytest.fixture(name="keyring")
def _keyring() -> Iterator[Any]:
    keyring = pytest.importorskip("keyring")
    before = keyring.get_keyring()
    yield keyring
    keyring.set_keyring(before)


def _memory_backend(priority: float) -> Any:
    """A real `keyring` backend class that keeps passwords in a dict."""
    base: Any = importlib.import_module("keyring.backend").KeyringBackend

    class MemoryKeyring(base):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[service, username] = password

        def delete_password(self, service: str, username: str) -> None:
            del self.entries[service, username]

    MemoryKeyring.priority = priority
    return MemoryKeyring()


def test_no_real_keyring_means_the_file(keyring, tmp_path):
    fail = importlib.import_module("keyring.backends.fail").Keyring()
    keyring.set_keyring(fail)
    assert find_keyring() is None
    assert isinstance(open_secret_store(tmp_path / "t.json"), FileSecretStore)
    keyring.set_keyring(_memory_backend(priority=0))
    assert find_keyring() is None


def test_a_usable_keyring_is_used(keyring, tmp_path):
    backend = _memory_backend(priority=5)
    keyring.set_keyring(backend)
    assert find_keyring() is backend
    store = open_secret_store(tmp_path / "t.json")
    assert isinstance(store, KeyringSecretStore)
    assert "MemoryKeyring" in store.description
    store.save(SERVER, "bob", TOKEN)
    assert backend.entries == {
        ("chinwag", f"{SERVER} bob"): "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    }
    assert store.load(SERVER, "bob") == TOKEN
    assert store.delete(SERVER, "bob")
    assert not store.delete(SERVER, "bob")
    assert store.load(SERVER, "bob") is None
    assert not (tmp_path / "t.json").exists()  # nothing went to the file


def test_a_failing_keyring_is_a_clear_error(keyring):
    backend = _memory_backend(priority=5)

    def refuse(*_args: object) -> None:
        raise RuntimeError("locked")

    backend.set_password = refuse
    store = KeyringSecretStore(backend)
    with pytest.raises(SecretStoreError, match="keyring refused"):
        store.save(SERVER, "bob", TOKEN)
