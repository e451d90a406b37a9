"""Input history: Up and Down walk through what was typed, as in a shell."""

from __future__ import annotations


class InputHistory:
    """Remembers submitted lines; keeps the unfinished draft while browsing.

    Args:
        limit: how many lines to keep.
    """

    def __init__(self, limit: int = 500) -> None:
        self._limit = limit
        self._lines: list[str] = []
        self._index = 0
        self._draft = ""

    def add(self, line: str) -> None:
        """Remember a submitted line (not blanks, not an immediate repeat)."""
        if line.strip() and (not self._lines or self._lines[-1] != line):
            self._lines.append(line)
            del self._lines[: -self._limit]
        self._index = len(self._lines)
        self._draft = ""

    def older(self, current: str) -> str | None:
        """The previous line, or None at the oldest. `current` is kept as draft."""
        if self._index == 0:
            return None
        if self._index == len(self._lines):
            self._draft = current
        self._index -= 1
        return self._lines[self._index]

    def newer(self) -> str | None:
        """The next line, the draft after the newest, or None if not browsing."""
        if self._index >= len(self._lines):
            return None
        self._index += 1
        if self._index == len(self._lines):
            return self._draft
        return self._lines[self._index]
