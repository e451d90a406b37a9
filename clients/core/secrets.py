"""Login tokens kept between runs, per (server, account): a 0600 file or the keyring.

The system keyring is used when a real one is there (`find_keyring`);
otherwise, and always in tests, a JSON file only the user can read. Tokens
are never logged. No sockets, threads or UI here.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
from pathlib import Path
from typing import Any, Protocol, cast

from platformdirs import PlatformDirs

from clients.core.trust import APP_NAME, endpoint, write_private_file

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens.json"
KEYRING_SERVICE = APP_NAME
MAX_TOKENS_FILE_BYTES = 1024 * 1024
_FORMAT_VERSION = 1


class SecretStoreError(Exception):
    """A token could not be saved or deleted; the message is for the user."""


class SecretStore(Protocol):
    """Where a client keeps login tokens.

    `server` is `server_key(host, port)`; `account` is the account name as
    the server spelled it in SessionToken.
    """

    @property
    def description(self) -> str:
        """Where the tokens are, in words (for a settings screen or the log)."""
        ...

    def load(self, server: str, account: str) -> bytes | None:
        """The saved token, or None (also when the store cannot be read)."""
        ...

    def save(self, server: str, account: str, token: bytes) -> None:
        """Keep `token`, replacing any earlier one for (server, account).

        Raises:
            SecretStoreError: it could not be kept.
        """
        ...

    def delete(self, server: str, account: str) -> bool:
        """Forget the token (logout); True if there was one.

        Raises:
            SecretStoreError: it could not be removed.
        """
        ...


def server_key(host: str, port: int) -> str:
    """The key for a server: `[host]:port`, as `clients.core.trust.endpoint`."""
    return endpoint(host, port)


def default_tokens_path() -> Path:
    """`tokens.json` in the user's data directory (follows `XDG_DATA_HOME`)."""
    return Path(PlatformDirs(APP_NAME, appauthor=False).user_data_dir) / TOKENS_FILE


class FileSecretStore:
    """Tokens in one JSON file, mode 0600, rewritten atomically.

    `{"version": 1, "tokens": {"[host]:port": {"account": "<base64>"}}}`.
    The file is read before every change, so two clients rarely overwrite
    each other (the last of two simultaneous saves wins). A corrupt file is
    set aside as `tokens.json.corrupt` at the next save, not silently lost.

    Args:
        path: the file; `default_tokens_path()` if None.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_tokens_path()

    @property
    def description(self) -> str:
        return f"the file {self.path}"

    def load(self, server: str, account: str) -> bytes | None:
        encoded = self._read().get(server, {}).get(account)
        if encoded is None:
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            log.warning("%s: a token there is damaged; ignoring it", self.path)
            return None

    def save(self, server: str, account: str, token: bytes) -> None:
        tokens = self._read(set_aside_corrupt=True)
        tokens.setdefault(server, {})[account] = base64.b64encode(token).decode("ascii")
        self._write(tokens)

    def delete(self, server: str, account: str) -> bool:
        tokens = self._read()
        accounts = tokens.get(server, {})
        if account not in accounts:
            return False
        del accounts[account]
        if not accounts:
            del tokens[server]
        self._write(tokens)
        return True

    def _read(self, *, set_aside_corrupt: bool = False) -> dict[str, dict[str, str]]:
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_TOKENS_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as error:
            log.warning("cannot read %s: %s", self.path, error.strerror or error)
            return {}
        tokens = _parse_tokens(raw)
        if tokens is None:
            # Never log the content: it may hold tokens.
            log.warning("%s is not a Chinwag token file; ignoring it", self.path)
            if set_aside_corrupt:
                try:
                    self.path.replace(self.path.with_name(self.path.name + ".corrupt"))
                except OSError as error:
                    log.warning("cannot set %s aside: %s", self.path, error)
            return {}
        return tokens

    def _write(self, tokens: dict[str, dict[str, str]]) -> None:
        document = {"version": _FORMAT_VERSION, "tokens": tokens}
        try:
            write_private_file(
                self.path, json.dumps(document, indent=1).encode("utf-8")
            )
        except OSError as error:
            raise SecretStoreError(
                f"cannot save the login in {self.path}: {error.strerror or error}"
            ) from error


def _parse_tokens(raw: bytes) -> dict[str, dict[str, str]] | None:
    if len(raw) > MAX_TOKENS_FILE_BYTES:
        return None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
        return None
    tokens = document.get("tokens")
    if not isinstance(tokens, dict):
        return None
    valid: dict[str, dict[str, str]] = {}
    for server, accounts in tokens.items():
        if isinstance(accounts, dict):
            valid[str(server)] = {
                str(name): value
                for name, value in accounts.items()
                if isinstance(value, str)
            }
    return valid


class KeyringBackend(Protocol):
    """The three calls of a `keyring` backend this module uses."""

    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


class KeyringSecretStore:
    """Tokens in the system keyring (Secret Service, macOS Keychain, Windows).

    Service `chinwag`, user name `"[host]:port account"`, the token in base64.

    Args:
        backend: a keyring backend, normally from `find_keyring()`.
    """

    def __init__(self, backend: KeyringBackend) -> None:
        self._backend = backend

    @property
    def description(self) -> str:
        return f"the system keyring ({type(self._backend).__name__})"

    def load(self, server: str, account: str) -> bytes | None:
        try:
            encoded = self._backend.get_password(
                KEYRING_SERVICE, _username(server, account)
            )
        except Exception as error:
            log.warning("the keyring could not be read: %s", type(error).__name__)
            return None
        if encoded is None:
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            log.warning("a token in the keyring is damaged; ignoring it")
            return None

    def save(self, server: str, account: str, token: bytes) -> None:
        try:
            self._backend.set_password(
                KEYRING_SERVICE,
                _username(server, account),
                base64.b64encode(token).decode("ascii"),
            )
        except Exception as error:
            raise SecretStoreError(
                f"the system keyring refused to keep the login ({type(error).__name__})"
            ) from error

    def delete(self, server: str, account: str) -> bool:
        username = _username(server, account)
        try:
            if self._backend.get_password(KEYRING_SERVICE, username) is None:
                return False
            self._backend.delete_password(KEYRING_SERVICE, username)
        except Exception as error:
            raise SecretStoreError(
                f"the system keyring refused to forget the login ({type(error).__name__})"
            ) from error
        return True


def _username(server: str, account: str) -> str:
    return f"{server} {account}"


_UNUSABLE_KEYRINGS = (
    "keyring.backends.fail",  # no backend at all
    "keyring.backends.null",  # forgets everything
    "keyrings.alt",  # plain or weakly encrypted files: our 0600 file is as good
)


def find_keyring() -> KeyringBackend | None:
    """The system keyring if the optional `keyring` package finds a real one.

    Never raises and never prompts: without the package, without a running
    secret service (a headless machine), or with only a fallback backend,
    the answer is None and tokens go to the file.
    """
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        return None
    except Exception as error:  # a broken install must not stop the client
        log.warning("the keyring package failed to load: %s", error)
        return None
    try:
        backend: Any = keyring.get_keyring()
    except Exception as error:
        log.warning("no usable keyring: %s", error)
        return None
    return cast("KeyringBackend", backend) if _usable(backend) else None


def _usable(backend: Any) -> bool:
    module = type(backend).__module__
    if module.startswith(_UNUSABLE_KEYRINGS):
        return False
    if module == "keyring.backends.chainer":
        return any(_usable(inner) for inner in getattr(backend, "backends", ()))
    try:
        return float(backend.priority) > 0
    except Exception:  # keyring backends raise from `priority` when not viable
        return False


def open_secret_store(
    path: Path | None = None, *, use_keyring: bool = True
) -> SecretStore:
    """The keyring store if `use_keyring` and one is usable, else the file store.

    Args:
        path: the token file (file store only); the default under the data dir.
        use_keyring: False keeps tokens in the file (a `--no-keyring` option,
            and tests).
    """
    backend = find_keyring() if use_keyring else None
    if backend is not None:
        return KeyringSecretStore(backend)
    return FileSecretStore(path)
