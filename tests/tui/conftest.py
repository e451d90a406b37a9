from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_data_home(tmp_path, monkeypatch) -> None:
    # Settings, pinned certificates and login tokens (the real command's in
    # tmux too: its tmux server inherits this environment) go to a temporary
    # directory, never to the user's own.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
