"""Rooms besides #lobby (spec 12.5): who is in which, who may do what.

`RoomDirectory` is bookkeeping the hub calls under its lock: it decides,
changes its state (and the store, for what must outlast a restart), and
returns what to send to whom as `Outgoing` pairs; the hub delivers them in
its order. No sockets and no threads here.

Membership is by *party* (spec 12.4): an account's rooms are stored and
come back at every login; a guest's live in its session. Who is online in
a room is a set of connections.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

import attrs

from protocol import (
    LOBBY,
    MAX_USER_LIST_CHUNK,
    ErrorCode,
    InvalidRoom,
    RoomAction,
    RoomActionKind,
    RoomEvent,
    RoomEventKind,
    RoomInfo,
    RoomJoined,
    RoomMembers,
    RoomRole,
    encode_frame,
    nick_key,
    normalize_room,
    room_key,
)
from server.refusal import Refusal
from server.store.base import RoomStore, StoreError

log = logging.getLogger(__name__)

LOBBY_KEY = room_key(LOBBY)


class RoomMember(Protocol):
    """What rooms need from a connection."""

    nick: str | None


Outgoing = tuple[RoomMember, bytes]
"""A frame for one connection."""


@attrs.define(eq=False)
class Room:
    """One room's state.

    Attributes:
        roles: every member's party and role (online or not).
        online: the connections in the room now.
        entered: per connection (`id`), the last message id published
            before it entered (its join point for this room, spec 12.5).
    """

    key: str
    name: str
    topic: str = ""
    invite_only: bool = False
    owner: str = ""
    roles: dict[str, RoomRole] = attrs.field(factory=dict)
    online: dict[int, RoomMember] = attrs.field(factory=dict)
    entered: dict[int, int] = attrs.field(factory=dict)
    bans: set[str] = attrs.field(factory=set)
    invites: set[str] = attrs.field(factory=set)


def _sorted_nicks(members: Iterable[RoomMember]) -> list[str]:
    nicks = [m.nick for m in members if m.nick is not None]
    return sorted(nicks, key=lambda nick: (nick_key(nick), nick))


def members_frames(room: Room, ref: int) -> bytes:
    """RoomMembers chunks of who is online in `room`."""
    nicks = _sorted_nicks(room.online.values())
    chunks = [
        nicks[i : i + MAX_USER_LIST_CHUNK]
        for i in range(0, max(len(nicks), 1), MAX_USER_LIST_CHUNK)
    ]
    return b"".join(
        encode_frame(
            RoomMembers(
                ref=ref,
                room=room.name,
                nicks=tuple(chunk),
                final=index == len(chunks) - 1,
            )
        )
        for index, chunk in enumerate(chunks)
    )


class RoomDirectory:
    """Every room, in memory, written through to `store` when it must last.

    Args:
        store: where rooms and account memberships are kept; None keeps
            everything in memory (tests, or a server whose store failed).
        wall_clock: seconds since the epoch, for the records.
        is_account: whether a party is an account's (stored) or a guest's.
        party_of: the party of an online connection.
        defer: runs a store write in the hub's order (`Hub._later`).
    """

    def __init__(
        self,
        store: RoomStore | None,
        *,
        wall_clock: Callable[[], float],
        is_account: Callable[[str], bool],
        party_of: Callable[[RoomMember], str],
        defer: Callable[[Callable[[], object]], object] = lambda write: write(),
    ) -> None:
        self._store = store
        self._clock = wall_clock
        self._is_account = is_account
        self._party_of = party_of
        self._defer = defer
        self._rooms: dict[str, Room] = {}
        self.lobby_topic = ""
        if store is not None:
            self._load(store)

    def _load(self, store: RoomStore) -> None:
        for record in store.rooms():
            if record.key == LOBBY_KEY:
                self.lobby_topic = record.topic
                continue
            room = Room(
                key=record.key,
                name=record.name,
                topic=record.topic,
                invite_only=record.invite_only,
                owner=record.owner_party,
            )
            room.roles.update(store.members(record.key))
            room.bans.update(store.bans(record.key))
            self._rooms[record.key] = room
        log.info("%d rooms loaded", len(self._rooms))

    # --- lookups -------------------------------------------------------------

    def by_key(self, key: str) -> Room | None:
        return self._rooms.get(key)

    def get(self, name: str) -> Room | None:
        key = key_of(name)
        return None if key is None else self._rooms.get(key)

    def rooms_of(self, party: str) -> list[Room]:
        """The rooms `party` is a member of, by name."""
        return sorted(
            (room for room in self._rooms.values() if party in room.roles),
            key=lambda room: room.key,
        )

    def keys_of(self, party: str) -> list[str]:
        return [room.key for room in self.rooms_of(party)]

    def in_room(self, room: Room, member: RoomMember) -> bool:
        return id(member) in room.online

    # --- joining and leaving ----------------------------------------------

    def join(
        self,
        member: RoomMember,
        party: str,
        name: str,
        *,
        ref: int,
        admin: bool,
        published: int,
    ) -> list[Outgoing]:
        """JoinRoom (spec 12.5): enter or create `name`.

        Raises:
            Refusal: an invalid name, #lobby, banned, not invited.
        """
        try:
            canonical = normalize_room(name)
        except InvalidRoom as exc:
            raise Refusal(ErrorCode.INVALID_FIELD, str(exc), ref) from None
        key = room_key(canonical)
        if key == LOBBY_KEY:
            text = "everyone is in #lobby already"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, ref)
        room = self._rooms.get(key)
        if room is None:
            room = self._create(canonical, key, party)
        elif party not in room.roles:
            self._admit(room, party, ref=ref, admin=admin)
            self._add_role(room, party, RoomRole.MEMBER)
        return self._enter(room, member, party, ref=ref, published=published)

    def restore(
        self, member: RoomMember, party: str, *, published: int
    ) -> list[Outgoing]:
        """Put a connection in every room of its party (login, resume)."""
        out: list[Outgoing] = []
        for room in self.rooms_of(party):
            out += self._enter(room, member, party, ref=0, published=published)
        return out

    def part(
        self, member: RoomMember, party: str, name: str, *, ref: int, reason: str
    ) -> list[Outgoing]:
        """PartRoom: leave for good.

        Raises:
            Refusal: #lobby, or not in the room.
        """
        room = self._member_room(member, name, ref)
        out = self._tell(
            room, RoomEventKind.LEFT, nick=member.nick or "", text=reason, also=member
        )
        self._drop(room, party)
        return out

    def offline(self, member: RoomMember, party: str, *, guest: bool) -> list[str]:
        """A connection ended: out of every room's online set.

        A guest's memberships end with it; returns their keys so a resumed
        session can come back to them.
        """
        kept: list[str] = []
        for room in list(self._rooms.values()):
            room.online.pop(id(member), None)
            room.entered.pop(id(member), None)
            if guest and party in room.roles:
                kept.append(room.key)
                self._drop(room, party)
        return kept

    def return_guest(
        self, member: RoomMember, party: str, keys: Iterable[str], *, published: int
    ) -> list[Outgoing]:
        """A guest's resumed session gets its rooms back (those still there)."""
        out: list[Outgoing] = []
        for key in keys:
            room = self._rooms.get(key)
            if room is None or party in room.bans:
                continue
            self._add_role(room, party, RoomRole.MEMBER)
            out += self._enter(room, member, party, ref=0, published=published)
        return out

    def take_over(self, old: RoomMember, new: RoomMember) -> None:
        """A resumed session's new connection takes the old one's places."""
        for room in self._rooms.values():
            if id(old) in room.online:
                del room.online[id(old)]
                room.online[id(new)] = new
                room.entered[id(new)] = room.entered.pop(id(old), 0)

    # --- asking ---------------------------------------------------------------

    def members(self, member: RoomMember, name: str, *, ref: int) -> bytes:
        """ListMembers. Raises Refusal (NO_SUCH_ROOM)."""
        return members_frames(self._member_room(member, name, ref), ref)

    def listing(self, member: RoomMember, *, ref: int, lobby_online: int) -> bytes:
        """ListRooms: #lobby, then open rooms and the asker's own, by name."""
        rooms = [
            room
            for room in sorted(self._rooms.values(), key=lambda room: room.key)
            if not room.invite_only or id(member) in room.online
        ]
        infos = [
            RoomInfo(
                ref=ref,
                room=LOBBY,
                members=lobby_online,
                topic=self.lobby_topic,
                invite_only=False,
                final=not rooms,
            )
        ]
        infos += [
            RoomInfo(
                ref=ref,
                room=room.name,
                members=len(room.online),
                topic=room.topic,
                invite_only=room.invite_only,
                final=index == len(rooms) - 1,
            )
            for index, room in enumerate(rooms)
        ]
        return b"".join(encode_frame(info) for info in infos)

    def room_for_post(self, member: RoomMember, name: str, ref: int) -> Room:
        """The room a Post goes to. Raises Refusal (NO_SUCH_ROOM)."""
        return self._member_room(member, name, ref)

    # --- acting ---------------------------------------------------------------

    def act(
        self,
        member: RoomMember,
        party: str,
        request: RoomAction,
        *,
        admin: bool,
        find: Callable[[str], tuple[RoomMember | None, str | None]],
        lobby_members: Iterable[RoomMember],
    ) -> tuple[str, list[Outgoing]]:
        """RoomAction: returns the Moderated text and the notices.

        `find(nick)` gives the online connection holding a nick and its
        party (or, for an offline account, None and the account's party).

        Raises:
            Refusal: with the request's ref.
        """
        ref = request.ref
        kind = request.action
        if self.get(request.room) is None and _is_lobby(request.room):
            return self._lobby_action(member, request, admin, lobby_members)
        room = self._member_room(member, request.room, ref, admin=admin)
        role = RoomRole.OWNER if admin else room.roles.get(party, RoomRole.MEMBER)
        if role < RoomRole.OPERATOR or (
            kind in (RoomActionKind.OPERATOR, RoomActionKind.DEOPERATOR)
            and role < RoomRole.OWNER
        ):
            text = f"you are not allowed to do that in {room.name}"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, ref)
        actor = member.nick or ""
        if kind in (
            RoomActionKind.TOPIC,
            RoomActionKind.INVITE_ONLY,
            RoomActionKind.OPEN,
        ):
            return self._setting(room, request, actor)
        target, target_party = find(request.target)
        if target_party is None:
            raise Refusal(
                ErrorCode.UNKNOWN_USER, f"no such user: {request.target}", ref
            )
        target_nick = (target.nick if target is not None else None) or request.target
        if kind is RoomActionKind.INVITE:
            return self._invite(room, target, target_party, target_nick, actor)
        if kind is RoomActionKind.UNBAN:
            room.bans.discard(target_party)
            self._write(lambda store: store.remove_ban(room.key, target_party))
            return f"{target_nick} may join {room.name} again", []
        their_role = room.roles.get(target_party)
        if kind is not RoomActionKind.BAN and their_role is None:
            text = f"{target_nick} is not in {room.name}"
            raise Refusal(ErrorCode.UNKNOWN_USER, text, ref)
        if target_party == room.owner or (
            not admin and their_role is not None and their_role >= role
        ):
            text = f"you cannot do that to {target_nick}"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, ref)
        if kind in (RoomActionKind.OPERATOR, RoomActionKind.DEOPERATOR):
            new = (
                RoomRole.OPERATOR
                if kind is RoomActionKind.OPERATOR
                else RoomRole.MEMBER
            )
            self._add_role(room, target_party, new)
            notices = self._tell(
                room,
                RoomEventKind.ROLE,
                nick=target_nick,
                actor=actor,
                text=new.name.lower(),
            )
            return f"{target_nick} is {new.name.lower()} of {room.name}", notices
        return self._remove(
            room,
            request,
            target=target,
            target_party=target_party,
            target_nick=target_nick,
            actor=actor,
        )

    def _setting(
        self, room: Room, request: RoomAction, actor: str
    ) -> tuple[str, list[Outgoing]]:
        """Topic, invite-only or open."""
        if request.action is RoomActionKind.TOPIC:
            room.topic = request.text
            self._write(lambda store: store.set_topic(room.key, request.text))
            notices = self._tell(
                room, RoomEventKind.TOPIC, nick=actor, text=request.text
            )
            return f"topic of {room.name} set", notices
        room.invite_only = request.action is RoomActionKind.INVITE_ONLY
        self._write(lambda store: store.set_invite_only(room.key, room.invite_only))
        event = RoomEventKind.INVITE_ONLY if room.invite_only else RoomEventKind.OPEN
        state = "invite-only" if room.invite_only else "open"
        return f"{room.name} is {state} now", self._tell(room, event, nick=actor)

    def _remove(
        self,
        room: Room,
        request: RoomAction,
        *,
        target: RoomMember | None,
        target_party: str,
        target_nick: str,
        actor: str,
    ) -> tuple[str, list[Outgoing]]:
        """Kick, or ban (which also kicks)."""
        event = RoomEventKind.KICKED
        if request.action is RoomActionKind.BAN:
            event = RoomEventKind.BANNED
            room.bans.add(target_party)
            self._write(
                lambda store: store.add_ban(
                    room.key, target_party, request.text, self._clock()
                )
            )
        notices = self._tell(
            room, event, nick=target_nick, actor=actor, text=request.text, also=target
        )
        if target_party in room.roles:
            self._drop(room, target_party)
        done = "banned from" if event is RoomEventKind.BANNED else "kicked from"
        return f"{target_nick} {done} {room.name}", notices

    # --- inside ----------------------------------------------------------------

    def _lobby_action(
        self,
        member: RoomMember,
        request: RoomAction,
        admin: bool,
        lobby_members: Iterable[RoomMember],
    ) -> tuple[str, list[Outgoing]]:
        if request.action is not RoomActionKind.TOPIC or not admin:
            text = "in #lobby only server admins can set the topic"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, request.ref)
        self.lobby_topic = request.text
        self._write(lambda store: self._lobby_topic(store, request.text))
        data = encode_frame(
            RoomEvent(
                room=LOBBY,
                kind=RoomEventKind.TOPIC,
                nick=member.nick or "",
                text=request.text,
            )
        )
        return "topic of #lobby set", [(m, data) for m in lobby_members]

    def _lobby_topic(self, store: RoomStore, topic: str) -> None:
        if store.room(LOBBY_KEY) is None:
            store.create_room(
                key=LOBBY_KEY, name=LOBBY, owner_party="", created_at=self._clock()
            )
        store.set_topic(LOBBY_KEY, topic)

    def _invite(
        self,
        room: Room,
        target: RoomMember | None,
        party: str,
        nick: str,
        actor: str,
    ) -> tuple[str, list[Outgoing]]:
        room.invites.add(party)
        if self._is_account(party):
            self._write(lambda store: store.add_invite(room.key, party, self._clock()))
        notices = self._tell(
            room, RoomEventKind.INVITED, nick=nick, actor=actor, also=target
        )
        return f"{nick} is invited to {room.name}", notices

    def _create(self, name: str, key: str, party: str) -> Room:
        room = Room(key=key, name=name, owner=party)
        self._write(
            lambda store: store.create_room(
                key=key, name=name, owner_party=party, created_at=self._clock()
            )
        )
        self._rooms[key] = room
        self._add_role(room, party, RoomRole.OWNER)
        log.info("room %s created", name)
        return room

    def _admit(self, room: Room, party: str, *, ref: int, admin: bool) -> None:
        if admin:
            return
        if party in room.bans:
            raise Refusal(ErrorCode.BANNED, f"you are banned from {room.name}", ref)
        if not room.invite_only:
            return
        if party in room.invites:
            room.invites.discard(party)
            self._write(lambda store: store.take_invite(room.key, party))
            return
        if not self._taken_from_store(room, party):
            text = f"{room.name} is invite-only: ask one of its operators to invite you"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, ref)

    def _taken_from_store(self, room: Room, party: str) -> bool:
        """An account's invitation from before a restart."""
        if self._store is None or not self._is_account(party):
            return False
        try:
            return self._store.take_invite(room.key, party)
        except StoreError as error:
            log.error("room invite lookup failed: %s", error)
            return False

    def _enter(
        self, room: Room, member: RoomMember, party: str, *, ref: int, published: int
    ) -> list[Outgoing]:
        news = id(member) not in room.online
        room.online[id(member)] = member
        if news:
            room.entered[id(member)] = published
        joined = encode_frame(
            RoomJoined(
                ref=ref,
                room=room.name,
                topic=room.topic,
                invite_only=room.invite_only,
                role=room.roles.get(party, RoomRole.MEMBER),
            )
        )
        out: list[Outgoing] = [(member, joined + members_frames(room, ref))]
        if news:
            notice = encode_frame(
                RoomEvent(
                    room=room.name, kind=RoomEventKind.JOINED, nick=member.nick or ""
                )
            )
            out += [(m, notice) for m in room.online.values() if m is not member]
        return out

    def _member_room(
        self, member: RoomMember, name: str, ref: int, *, admin: bool = False
    ) -> Room:
        if _is_lobby(name):
            text = "#lobby cannot be left or managed that way"
            raise Refusal(ErrorCode.NOT_PERMITTED, text, ref)
        room = self.get(name)
        if room is None or not (admin or id(member) in room.online):
            raise Refusal(ErrorCode.NO_SUCH_ROOM, f"you are not in {name}", ref)
        return room

    def _tell(
        self,
        room: Room,
        kind: RoomEventKind,
        *,
        nick: str = "",
        actor: str = "",
        text: str = "",
        also: RoomMember | None = None,
    ) -> list[Outgoing]:
        data = encode_frame(
            RoomEvent(room=room.name, kind=kind, nick=nick, actor=actor, text=text)
        )
        out: list[Outgoing] = [(m, data) for m in room.online.values()]
        if also is not None and id(also) not in room.online:
            out.append((also, data))
        return out

    def _add_role(self, room: Room, party: str, role: RoomRole) -> None:
        room.roles[party] = role
        if self._is_account(party):
            self._write(
                lambda store: store.add_member(room.key, party, role, self._clock())
            )

    def _drop(self, room: Room, party: str) -> None:
        """`party` is no longer a member; its connections leave the room."""
        room.roles.pop(party, None)
        if self._is_account(party):
            self._write(lambda store: store.remove_member(room.key, party))
        for key, online in list(room.online.items()):
            if self._party_of(online) == party:
                del room.online[key]
                room.entered.pop(key, None)
        if not room.roles and not room.online:
            del self._rooms[room.key]
            self._write(lambda store: store.delete_room(room.key))
            log.info("room %s deleted: nobody is left", room.name)

    def _write(self, change: Callable[[RoomStore], object]) -> None:
        """Write a change through, in the hub's order: after the messages
        accepted before it are stored (a deleted room's messages are all
        filed away, none slips past), and in the order the changes happened."""
        store = self._store
        if store is None:
            return

        def write() -> None:
            try:
                change(store)
            except StoreError as error:
                log.error("room change not stored: %s", error)

        self._defer(write)


def _is_lobby(name: str) -> bool:
    return key_of(name) == LOBBY_KEY


@functools.lru_cache(maxsize=4096)
def key_of(name: str) -> str | None:
    """The key of a room name, None if it is not a valid one (cached: every
    Post to a room names it)."""
    try:
        return room_key(normalize_room(name))
    except InvalidRoom:
        return None
