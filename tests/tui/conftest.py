from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch) -> None:
    # Settings, pinned certificates, login tokens and the server's certificate
    # (the real command's in tmux too: its tmux server inherits this
    # environment) go to a temporary directory, never to the user's own.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # No system keyring either: login tokens of the real command go to the
    # file in the temporary data directory.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
