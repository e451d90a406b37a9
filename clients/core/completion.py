"""Tab completion of nicknames (and of command names after a leading `/`)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from protocol import nick_key


def candidates(prefix: str, nicks: Iterable[str]) -> list[str]:
    """Nicks starting with `prefix`, case-insensitively, in a stable order."""
    key = nick_key(prefix)
    return sorted((n for n in nicks if nick_key(n).startswith(key)), key=nick_key)


@attrs.define
class _Cycle:
    head: str
    options: list[str]
    index: int
    result: str


class Completer:
    """Completes the word before the end of the line; Tab again cycles.

    `@bo` becomes `@bob `; `bo` at the start of a line becomes `bob: ` (the
    usual way to address someone); `/he` becomes `/help `; `#ru` becomes
    `#rust ` (one of the user's rooms).
    """

    def __init__(self) -> None:
        self._cycle: _Cycle | None = None

    def complete(
        self,
        line: str,
        nicks: Iterable[str],
        commands: Iterable[str] = (),
        rooms: Iterable[str] = (),
    ) -> str:
        """Return `line` with its last word completed (unchanged if nothing fits)."""
        cycle = self._cycle
        if cycle is not None and line == cycle.result and len(cycle.options) > 1:
            cycle.index = (cycle.index + 1) % len(cycle.options)
            cycle.result = cycle.head + cycle.options[cycle.index]
            return cycle.result
        self._cycle = None
        head, _, word = line.rpartition(" ")
        head = f"{head} " if head else ""
        if not word:
            return line
        if word.startswith("/") and not head:
            options = [c + " " for c in commands if c.startswith(word.lower())]
        elif word.startswith("#"):
            options = [r + " " for r in candidates(word, rooms)]
        else:
            at = "@" if word.startswith("@") else ""
            suffix = ": " if not head and not at else " "
            options = [
                at + n + suffix for n in candidates(word.removeprefix("@"), nicks)
            ]
        if not options:
            return line
        result = head + options[0]
        self._cycle = _Cycle(head, options, 0, result)
        return result
