"""Server logging: timestamped lines in a size-rotated file, so it cannot fill the disk."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
DEFAULT_LOG_FILE = "server_logs.log"


def configure_logging(
    path: Path, *, max_bytes: int = 5 * 1024 * 1024, backups: int = 3
) -> logging.Handler:
    """Send every `server.*` record to a rotating file at `path`.

    Returns:
        The handler, so a caller (or a test) can remove it again.
    """
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler
