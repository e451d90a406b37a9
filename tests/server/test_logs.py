"""The server's log file: the stdlib's lines, rotated by size, cheaper to write."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from server.logs import LOG_FORMAT, CachedTimeFormatter, SizeRotatingHandler


def _record(created: float, text: str = "hello") -> logging.LogRecord:
    record = logging.LogRecord("server.test", logging.INFO, __file__, 1, text, (), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


@given(st.lists(st.floats(min_value=0, max_value=4e9), min_size=1, max_size=20))
def test_times_read_as_the_stdlib_writes_them(moments):
    # In any order, across and within seconds: the cached text of a second
    # is never reused for another.
    ours = CachedTimeFormatter(LOG_FORMAT)
    stdlib = logging.Formatter(LOG_FORMAT)
    for moment in [*moments, *sorted(moments)]:
        record = _record(moment)
        assert ours.format(record) == stdlib.format(record)


def _handler(path: Path, max_bytes: int, backups: int = 2) -> SizeRotatingHandler:
    handler = SizeRotatingHandler(path, max_bytes=max_bytes, backups=backups)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _write(handler: logging.Handler, lines: list[str]) -> None:
    for line in lines:
        handler.handle(_record(0.0, line))


def test_the_file_rotates_by_size_and_keeps_whole_lines(tmp_path):
    path = tmp_path / "server_logs.log"
    handler = _handler(path, max_bytes=200)
    lines = [f"line {n:03d} " + "x" * 30 for n in range(40)]
    _write(handler, lines)
    handler.close()
    files = [path, path.with_name(path.name + ".1"), path.with_name(path.name + ".2")]
    assert all(f.exists() for f in files)
    assert not path.with_name(path.name + ".3").exists()
    kept: list[str] = []
    for f in reversed(files):
        assert f.stat().st_size < 200
        kept += f.read_text().splitlines()
    # The newest lines, in order, none cut or repeated.
    assert kept == lines[-len(kept) :]
    assert len(kept) >= 3 * (200 // 41)


def test_what_the_file_held_already_counts(tmp_path):
    path = tmp_path / "server_logs.log"
    path.write_text("o" * 180 + "\n")
    handler = _handler(path, max_bytes=200)
    _write(handler, ["a new line that does not fit"])
    handler.close()
    assert path.read_text() == "a new line that does not fit\n"
    assert path.with_name(path.name + ".1").read_text() == "o" * 180 + "\n"


def test_without_backups_nothing_rotates(tmp_path):
    path = tmp_path / "server_logs.log"
    handler = _handler(path, max_bytes=50, backups=0)
    _write(handler, ["x" * 30] * 5)
    handler.close()
    assert path.read_text().splitlines() == ["x" * 30] * 5
    assert list(tmp_path.iterdir()) == [path]


def test_a_pipe_is_never_rotated(tmp_path):
    path = tmp_path / "log-pipe"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        handler = _handler(path, max_bytes=10)
        _write(handler, ["first line", "second line"])
        handler.close()
        assert os.read(reader, 1000) == b"first line\nsecond line\n"
    finally:
        os.close(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log-pipe"]
