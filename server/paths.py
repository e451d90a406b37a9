"""Where the server keeps its files by default."""

from __future__ import annotations

from pathlib import Path

from platformdirs import PlatformDirs


def default_data_dir() -> Path:
    """The database and the self-signed certificate live here by default.

    The user data directory (`~/.local/share/chinwag/server` on Linux,
    following `XDG_DATA_HOME`); `--data-dir` changes it.
    """
    return Path(PlatformDirs("chinwag", appauthor=False).user_data_dir) / "server"
