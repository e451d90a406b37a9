"""`Hub`: who is online and where each message goes. No sockets, no threads of its own.

Reader threads call into the hub; one lock guards the nick registry, so two
clients asking for the same nick at once still get different ones, and
every client sees broadcasts in the same order. Each frame is encoded once
and the same bytes go to every recipient.

Join and leave notices are gathered and sent every few tens of milliseconds
(`flush_presence`), so a thousand clients arriving at once cost each
recipient a few writes, not a thousand. Any other broadcast sends the
gathered notices first, so nobody hears from a user before hearing it joined.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import attrs

from protocol import (
    MAX_NICK_CHARS,
    MAX_USER_LIST_CHUNK,
    PROTOCOL_VERSION,
    ChangeNick,
    Delivered,
    ErrorCode,
    Hello,
    InvalidNick,
    NickChanged,
    SendDirect,
    SendText,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    encode_frame,
    nick_key,
    normalize_nick,
)
from protocol.constants import MIN_PROTOCOL_VERSION
from server.outbox import batched

log = logging.getLogger(__name__)

SUPPORTED_CAPABILITIES: frozenset[str] = frozenset()
"""Capabilities this server can enable; version 1 defines none yet."""


class Member(Protocol):
    """What the hub needs from a connected peer."""

    nick: str | None
    label: str

    def deliver(self, data: bytes) -> object:
        """Queue an encoded frame; must never block."""

    def welcome(self, message: Welcome) -> None:
        """Send Welcome through the peer's own connection (it changes state)."""


@attrs.frozen
class Refusal(Exception):
    """The hub said no; the peer turns this into an Error frame.

    Attributes:
        fatal: the connection must close afterwards (handshake refusals).
    """

    code: ErrorCode
    text: str
    ref: int = 0
    fatal: bool = False


class Hub:
    """The shared state of one server: nick registry and routing.

    Args:
        server_name: sent in Welcome.
        motd: the message of the day, sent in Welcome.
        wall_clock: seconds since the epoch (injected for tests).
    """

    def __init__(
        self, *, server_name: str, motd: str, wall_clock: Callable[[], float]
    ) -> None:
        self._server_name = server_name
        self._motd = motd
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._members: dict[str, Member] = {}
        self._ids = itertools.count(1)
        self._presence: list[tuple[Member, bytes]] = []
        # Members registered since the last flush → how many pending notices
        # predate them (those are not news to them: their user list has it).
        self._newcomers: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._members)

    def nicks(self) -> list[str]:
        """Every online nick, sorted case-insensitively."""
        with self._lock:
            return self._sorted_nicks()

    def join(self, member: Member, hello: Hello) -> str:
        """Register `member` under a unique nick and tell everyone.

        Returns:
            The nick assigned.

        Raises:
            Refusal: (fatal) unsupported version or invalid nick.
        """
        if hello.version < MIN_PROTOCOL_VERSION:
            text = f"protocol version {hello.version} is not supported; this server speaks {MIN_PROTOCOL_VERSION}-{PROTOCOL_VERSION}"
            raise Refusal(ErrorCode.UNSUPPORTED_VERSION, text, fatal=True)
        try:
            wanted = normalize_nick(hello.nick)
        except InvalidNick as exc:
            raise Refusal(ErrorCode.INVALID_NICK, str(exc), fatal=True) from exc
        capabilities = tuple(
            sorted(SUPPORTED_CAPABILITIES.intersection(hello.capabilities))
        )
        with self._lock:
            nick = self._unique(wanted)
            member.nick = nick
            self._members[nick_key(nick)] = member
            member.welcome(
                Welcome(
                    version=min(hello.version, PROTOCOL_VERSION),
                    nick=nick,
                    server_name=self._server_name,
                    capabilities=capabilities,
                    motd=self._motd,
                )
            )
            self._newcomers[id(member)] = len(self._presence)
            self._presence.append((member, encode_frame(UserJoined(nick=nick))))
        return nick

    def leave(self, member: Member, reason: str) -> None:
        """Forget `member` and tell the others; harmless if it never joined."""
        with self._lock:
            nick = member.nick
            if nick is None or self._members.get(nick_key(nick)) is not member:
                return
            del self._members[nick_key(nick)]
            self._presence.append(
                (member, encode_frame(UserLeft(nick=nick, reason=reason)))
            )

    def say(self, member: Member, request: SendText) -> None:
        """Broadcast to everyone online; the sender's copy carries its ref."""
        with self._lock:
            sender = self._nick_of(member)
            self._send_presence()
            message = Delivered(
                id=next(self._ids),
                timestamp_ms=self._now_ms(),
                sender=sender,
                text=request.text,
            )
            shared = encode_frame(message)
            own = (
                encode_frame(attrs.evolve(message, ref=request.ref))
                if request.ref
                else shared
            )
            for other in self._members.values():
                other.deliver(own if other is member else shared)

    def direct(self, member: Member, request: SendDirect) -> None:
        """Deliver to one nick and confirm to the sender.

        Raises:
            Refusal: nobody has that nick.
        """
        with self._lock:
            sender = self._nick_of(member)
            self._send_presence()
            target = self._members.get(nick_key(request.target))
            if target is None or target.nick is None:
                text = f"no such user: {request.target}"
                raise Refusal(ErrorCode.UNKNOWN_USER, text, request.ref)
            message = Delivered(
                id=next(self._ids),
                timestamp_ms=self._now_ms(),
                sender=sender,
                target=target.nick,
                text=request.text,
            )
            if target is not member:
                target.deliver(encode_frame(message))
            member.deliver(encode_frame(attrs.evolve(message, ref=request.ref)))

    def list_users(self, member: Member) -> None:
        """Send the online nicks to `member` in chunks of at most 200."""
        with self._lock:
            nicks = self._sorted_nicks()
        chunks = [
            nicks[i : i + MAX_USER_LIST_CHUNK]
            for i in range(0, len(nicks), MAX_USER_LIST_CHUNK)
        ] or [[]]
        for index, chunk in enumerate(chunks):
            final = index == len(chunks) - 1
            member.deliver(encode_frame(UserList(nicks=tuple(chunk), final=final)))

    def change_nick(self, member: Member, request: ChangeNick) -> str:
        """Rename `member` and tell everyone.

        Returns:
            The old nick.

        Raises:
            Refusal: the new nick is invalid, unchanged or taken.
        """
        try:
            new = normalize_nick(request.nick)
        except InvalidNick as exc:
            raise Refusal(ErrorCode.INVALID_NICK, str(exc), request.ref) from exc
        with self._lock:
            old = self._nick_of(member)
            if new == old:
                text = f"you are already called {old}"
                raise Refusal(ErrorCode.INVALID_NICK, text, request.ref)
            holder = self._members.get(nick_key(new))
            if holder is not None and holder is not member:
                text = f"the nickname {new} is taken"
                raise Refusal(ErrorCode.NICK_IN_USE, text, request.ref)
            self._send_presence()
            del self._members[nick_key(old)]
            self._members[nick_key(new)] = member
            member.nick = new
            data = encode_frame(NickChanged(old=old, new=new))
            for other in self._members.values():
                other.deliver(data)
        return old

    def flush_presence(self) -> None:
        """Send the join and leave notices gathered since the last call."""
        with self._lock:
            self._send_presence()

    def _send_presence(self) -> None:
        """(Lock held.) Everyone gets the pending notices, bar those about themselves."""
        if not self._presence:
            return
        pending, self._presence = self._presence, []
        newcomers, self._newcomers = self._newcomers, {}
        everything = b"".join(data for _, data in pending)
        with batched():
            for member in self._members.values():
                start = newcomers.get(id(member))
                if start is None:
                    member.deliver(everything)
                    continue
                news = b"".join(d for s, d in pending[start:] if s is not member)
                if news:
                    member.deliver(news)

    def _nick_of(self, member: Member) -> str:
        nick = member.nick
        if nick is None or self._members.get(nick_key(nick)) is not member:
            msg = "member is not registered"
            raise RuntimeError(msg)
        return nick

    def _unique(self, wanted: str) -> str:
        if nick_key(wanted) not in self._members:
            return wanted
        for number in itertools.count(1):
            suffix = f"_{number}"
            candidate = wanted[: MAX_NICK_CHARS - len(suffix)] + suffix
            if nick_key(candidate) not in self._members:
                return candidate
        raise AssertionError  # pragma: no cover - count() never ends

    def _sorted_nicks(self) -> list[str]:
        return sorted(
            (m.nick for m in self._members.values() if m.nick is not None),
            key=nick_key,
        )

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)
