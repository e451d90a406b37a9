"""`Roster`: who is online under which nick, and the user list kept ready.

The user list is asked for often (every client on connecting, and whoever
wants it after), so it is never sorted per request: nick keys are kept in
list order as people come and go, and the `UserList` frames built from them
are cached as a valid prefix, rebuilt from the first chunk a change touched
(spec 5.7: one rate-limit token per frame).

Not thread-safe: the hub's lock guards it.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, ValuesView
from typing import TYPE_CHECKING

from protocol import MAX_NICK_CHARS, UserList, encode_frame, nick_key

if TYPE_CHECKING:
    from server.hub import Member


class Roster:
    """Registered members by nick key, in user-list order.

    Args:
        chunk: nicks per UserList frame.
    """

    def __init__(self, chunk: int) -> None:
        self._chunk = chunk
        self._members: dict[str, Member] = {}
        self._order: list[str] = []  # nick keys, sorted
        self._chunks: list[bytes] = []  # UserList frames of _order, a prefix
        self._answer: bytes | None = None

    def __len__(self) -> int:
        return len(self._members)

    def get(self, key: str) -> Member | None:
        """The member registered under nick key `key`."""
        return self._members.get(key)

    def values(self) -> ValuesView[Member]:
        """Every member, live (for callers that keep the view)."""
        return self._members.values()

    def registered_nick(self, member: Member) -> str | None:
        """`member`'s nick if it is the one registered under it, else None."""
        nick = member.nick
        if nick is None or self._members.get(nick_key(nick)) is not member:
            return None
        return nick

    def nicks(self) -> list[str]:
        """Every online nick, sorted case-insensitively."""
        return self._nicks_of(self._order)

    def add(self, key: str, member: Member) -> None:
        self._members[key] = member
        index = bisect.bisect_left(self._order, key)
        self._order.insert(index, key)
        self._stale(index, +1)

    def remove(self, key: str) -> None:
        del self._members[key]
        index = bisect.bisect_left(self._order, key)
        del self._order[index]
        self._stale(index, -1)

    def replace(self, key: str, member: Member) -> None:
        """`member` takes the place under `key` (same nick, same position)."""
        self._members[key] = member

    def respelled(self, key: str) -> None:
        """The nick under `key` changed spelling only (`Ann` to `ANN`)."""
        self._stale(bisect.bisect_left(self._order, key), 0)

    def user_list(self) -> bytes:
        """The UserList frames of everyone online, encoded."""
        if self._answer is None:
            order, size = self._order, self._chunk
            count = max(1, -(-len(order) // size))
            for index in range(len(self._chunks), count):
                nicks = self._nicks_of(order[index * size : (index + 1) * size])
                final = index == count - 1
                self._chunks.append(
                    encode_frame(UserList(nicks=tuple(nicks), final=final))
                )
            self._answer = (
                self._chunks[0] if count == 1 else b"".join(self._chunks[:count])
            )
        return self._answer

    def list_cost(self) -> int:
        """How many UserList frames the list takes now."""
        return max(1, -(-len(self._members) // self._chunk))

    def unique(self, wanted: str, taken: Callable[[str], bool]) -> str:
        """`wanted`, or the first free `base_N` (spec 5.3).

        Args:
            wanted: a valid nick.
            taken: whether a nick nobody is online under is taken anyway
                (an account owns it, for a guest).
        """

        def free(nick: str) -> bool:
            return nick_key(nick) not in self._members and not taken(nick)

        if free(wanted):
            return wanted
        for number in itertools.count(1):
            suffix = f"_{number}"
            candidate = wanted[: MAX_NICK_CHARS - len(suffix)] + suffix
            if free(candidate):
                return candidate
        raise AssertionError  # pragma: no cover - count() never ends

    def _stale(self, index: int, change: int) -> None:
        """Forget the cached chunks from the one holding `index` on.

        The last chunk before and after the change is forgotten too: its
        `final` flag may flip when the number of chunks changes.
        """
        after = len(self._order)
        before = after - change
        size = self._chunk
        first = min(
            index // size, max(0, before - 1) // size, max(0, after - 1) // size
        )
        del self._chunks[first:]
        self._answer = None

    def _nicks_of(self, keys: list[str]) -> list[str]:
        members = self._members
        return [nick for key in keys if (nick := members[key].nick) is not None]
