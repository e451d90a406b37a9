"""Server logging: timestamped lines in a size-rotated file, so it cannot fill the disk.

Every connection logs a few lines (connected, joined, disconnected), so a
crowd arriving at once writes thousands of records a second. The stdlib's
`RotatingFileHandler` formats each record twice and makes four system calls
(two stats, a seek and a tell) before writing it; `SizeRotatingHandler`
formats once and counts what it wrote, and `CachedTimeFormatter` formats the
date and time once a second. The file, its rotation and its lines are the
same.
"""

from __future__ import annotations

import logging
import logging.handlers
import stat
import time
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
DEFAULT_LOG_FILE = "server_logs.log"


class CachedTimeFormatter(logging.Formatter):
    """`logging.Formatter` whose `asctime` reuses the text of the current second.

    Called only under the handler's lock, so the cache needs none of its own.
    """

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._text = ""

    def formatTime(  # noqa: N802 - the stdlib's name
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(
                self.default_time_format, self.converter(record.created)
            )
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


class SizeRotatingHandler(logging.handlers.RotatingFileHandler):
    """`RotatingFileHandler` that keeps count of the file's size itself.

    The size is read once when the file is opened and grows by what this
    handler writes, in characters as the stdlib counts. As documented for the
    stdlib's, nothing rotates when `max_bytes` or `backups` is 0, nor a path
    that is not a regular file (`/dev/null`, a pipe: bpo-45401).
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._size = 0
        self._rotates = False
        self._measure()

    def _measure(self) -> None:
        try:
            info = Path(self.baseFilename).stat()
        except OSError:
            info = None
        self._rotates = (
            self.maxBytes > 0
            and self.backupCount > 0
            and info is not None
            and stat.S_ISREG(info.st_mode)
        )
        self._size = info.st_size if info is not None else 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if (
                self._rotates
                and self._size > 0
                and (self._size + len(line) >= self.maxBytes)
            ):
                self.doRollover()
                self._measure()
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(line)
            self.stream.flush()
            self._size += len(line)
        except Exception:  # the stdlib's policy: report it, carry on
            self.handleError(record)


def configure_logging(
    path: Path, *, max_bytes: int = 5 * 1024 * 1024, backups: int = 3
) -> logging.Handler:
    """Send every `server.*` record to a rotating file at `path`.

    Records skip what no line shows (the calling source line, the process
    name), as the logging HOWTO's "Optimization" section suggests.

    Returns:
        The handler, so a caller (or a test) can remove it again.
    """
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # noqa: SLF001 - documented switch (logging HOWTO)
    handler = SizeRotatingHandler(path, max_bytes=max_bytes, backups=backups)
    handler.setFormatter(CachedTimeFormatter(LOG_FORMAT))
    logger = logging.getLogger("server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler
