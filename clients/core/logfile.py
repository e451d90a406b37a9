"""Where the clients log: a file, never the terminal (the TUI draws there)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def default_log_file(name: str) -> Path:
    """`$XDG_STATE_HOME/chinwag/<name>.log`, defaulting to `~/.local/state`."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "chinwag" / f"{name}.log"


def configure_logging(path: Path) -> logging.Handler:
    """Send every log record of the process to `path`.

    Returns:
        The handler added to the root logger.

    Raises:
        OSError: the file or its folder cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler
