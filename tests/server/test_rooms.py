"""Rooms, typing and away on a real server (spec 12.5, 12.6)."""

from __future__ import annotations

import os

import pytest

import protocol as p
from server import ChatServer
from tests.server.helpers import hello_v2
from tests.wire import WireClient

ROOMS = (
    p.CAP_LIMITS,
    p.CAP_SESSION,
    p.CAP_HISTORY,
    p.CAP_ROOMS,
    p.CAP_TYPING,
    p.CAP_AWAY,
)
ACCOUNTS = (*ROOMS, p.CAP_ACCOUNTS)
NOISE = (p.UserJoined, p.UserLeft, p.AwayChanged, p.TypingNotice)

_open: list[WireClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open:
        _open.pop().close()


@pytest.fixture(name="room_server")
def _room_server(make_server, tmp_path):
    def make(**overrides) -> ChatServer:
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("cheap_hashing", True)
        overrides.setdefault("rate_burst", 200)
        return make_server(**overrides)

    return make


def _join(server: ChatServer, nick: str, caps=ROOMS, **kwargs) -> WireClient:
    client = WireClient(server.address)
    _open.append(client)
    events = hello_v2(client, nick, caps, **kwargs)
    assert isinstance(events[0], p.Welcome), events
    return client


def _enter(client: WireClient, room: str, ref: int = 1) -> p.RoomJoined:
    client.send(p.JoinRoom(ref=ref, room=room))
    joined = client.expect(p.RoomJoined, skip=NOISE)
    members = client.expect(p.RoomMembers, skip=NOISE)
    assert members.ref == ref
    assert members.final
    return joined


def _post(client: WireClient, ref: int, text: str, target: str | None = None):
    client.send(p.Post(ref=ref, txn=os.urandom(16), target=target, text=text))


def _own(client: WireClient, ref: int) -> p.Delivered:
    while True:
        event = client.expect(
            p.Delivered, skip=(*NOISE, p.RoomEvent, p.RoomJoined, p.RoomMembers)
        )
        if event.ref == ref:
            return event


def _error(client: WireClient) -> p.Error:
    return client.expect(p.Error, skip=(*NOISE, p.RoomEvent, p.Delivered))


def _event(client: WireClient, kind: p.RoomEventKind) -> p.RoomEvent:
    while True:
        event = client.expect(p.RoomEvent, skip=(*NOISE, p.Delivered))
        if event.kind is kind:
            return event


def test_a_room_from_creation_to_its_end(room_server):
    server = room_server()
    ann, bob, carol = (_join(server, n) for n in ("ann", "bob", "carol"))
    joined = _enter(ann, "#Rust")
    assert (joined.room, joined.role) == ("#Rust", p.RoomRole.OWNER)
    joined = _enter(bob, "#rust", ref=2)  # same room, whatever the case
    assert (joined.room, joined.role) == ("#Rust", p.RoomRole.MEMBER)
    assert _event(ann, p.RoomEventKind.JOINED).nick == "bob"
    _post(ann, 5, "crabs!", target="#rust")
    assert _own(ann, 5).target == "#Rust"
    seen = bob.expect(p.Delivered, skip=(*NOISE, p.RoomEvent))
    assert (seen.target, seen.text) == ("#Rust", "crabs!")
    assert not [e for e in carol.drain(0.3) if isinstance(e, p.Delivered)]
    _post(carol, 6, "let me in", target="#Rust")
    error = _error(carol)
    assert (error.code, error.ref) == (p.ErrorCode.NO_SUCH_ROOM, 6)
    carol.send(p.ListRooms(ref=7))
    infos = [carol.expect(p.RoomInfo, skip=NOISE) for _ in range(2)]
    assert [(i.room, i.members, i.final) for i in infos] == [
        ("#lobby", 3, False),
        ("#Rust", 2, True),
    ]
    bob.send(p.PartRoom(ref=8, room="#rust", reason="dinner"))
    left = _event(ann, p.RoomEventKind.LEFT)
    assert (left.nick, left.text) == ("bob", "dinner")
    _event(bob, p.RoomEventKind.LEFT)
    ann.send(p.PartRoom(ref=9, room="#rust"))
    _event(ann, p.RoomEventKind.LEFT)
    carol.send(p.ListRooms(ref=10))
    assert carol.expect(p.RoomInfo, skip=NOISE).final  # only #lobby is left


def test_lobby_is_everyone_and_version_1_sees_only_it(room_server):
    server = room_server()
    old = WireClient(server.address)
    _open.append(old)
    old.hello("old", version=1)
    ann = _join(server, "ann")
    _enter(ann, "#side")
    _post(ann, 1, "in the side room", target="#side")
    _own(ann, 1)
    _post(ann, 2, "to everyone", target="#lobby")
    assert _own(ann, 2).target is None
    seen = [e for e in old.drain(0.4) if isinstance(e, p.Delivered)]
    assert [(e.text, e.target) for e in seen] == [("to everyone", None)]
    ann.send(p.PartRoom(ref=3, room="#lobby"))
    assert _error(ann).code is p.ErrorCode.NOT_PERMITTED


def test_operators_kick_ban_and_invite_others_cannot(room_server):
    server = room_server()
    ann, bob, carol = (_join(server, n) for n in ("ann", "bob", "carol"))
    _enter(ann, "#club")
    _enter(bob, "#club")
    bob.send(
        p.RoomAction(ref=3, room="#club", action=p.RoomActionKind.KICK, target="ann")
    )
    assert _error(bob).code is p.ErrorCode.NOT_PERMITTED
    ann.send(
        p.RoomAction(
            ref=4, room="#club", action=p.RoomActionKind.BAN, target="bob", text="rude"
        )
    )
    assert ann.expect(p.Moderated, skip=(*NOISE, p.RoomEvent)).ref == 4
    banned = _event(bob, p.RoomEventKind.BANNED)
    assert (banned.nick, banned.actor, banned.text) == ("bob", "ann", "rude")
    bob.send(p.JoinRoom(ref=5, room="#club"))
    assert _error(bob).code is p.ErrorCode.BANNED
    ann.send(p.RoomAction(ref=6, room="#club", action=p.RoomActionKind.INVITE_ONLY))
    ann.expect(p.Moderated, skip=(*NOISE, p.RoomEvent))
    carol.send(p.JoinRoom(ref=7, room="#club"))
    assert _error(carol).code is p.ErrorCode.NOT_PERMITTED
    ann.send(
        p.RoomAction(
            ref=8, room="#club", action=p.RoomActionKind.INVITE, target="carol"
        )
    )
    invited = _event(carol, p.RoomEventKind.INVITED)
    assert (invited.room, invited.actor) == ("#club", "ann")
    assert _enter(carol, "#club", ref=9).invite_only


def test_an_accounts_rooms_come_back_after_a_restart(room_server):
    server = room_server()
    ann = _join(server, "ann", ACCOUNTS)
    ann.send(p.Register(ref=1, password="correct horse"))
    ann.expect(p.AccountStatus, skip=NOISE)
    _enter(ann, "#keep", ref=2)
    _post(ann, 3, "remember me", target="#keep")
    _own(ann, 3)
    ann.close()
    server.stop()
    server = room_server()
    ann = WireClient(server.address)
    _open.append(ann)
    events = hello_v2(ann, "ann", ACCOUNTS, password="correct horse")
    assert isinstance(events[0], p.Welcome)
    ann.expect(p.AccountStatus)
    restored = ann.expect(p.RoomJoined)
    assert (restored.ref, restored.room, restored.role) == (
        0,
        "#keep",
        p.RoomRole.OWNER,
    )
    ann.expect(p.RoomMembers)
    ann.send(p.FetchHistory(ref=4, conversation="#keep"))
    recalled = ann.expect(p.Recalled, skip=(*NOISE, p.HistoryEnd))
    assert (recalled.text, recalled.target) == ("remember me", "#keep")


def test_room_messages_are_hidden_from_non_members(room_server):
    server = room_server()
    ann, eve = _join(server, "ann"), _join(server, "eve")
    _enter(ann, "#secret")
    _post(ann, 1, "the secret plan", target="#secret")
    _own(ann, 1)
    eve.drain(0.2)
    for request in (
        p.Search(ref=2, query="plan"),
        p.FetchHistory(ref=2),
        p.FetchHistory(ref=2, conversation="#secret"),
    ):
        eve.send(request)
        end = eve.expect(p.HistoryEnd, skip=NOISE)
        assert end.count == 0, request


def test_a_guests_room_ends_with_it(room_server):
    server = room_server()
    guest = _join(server, "guest")
    _enter(guest, "#tmp")
    guest.close()
    other = _join(server, "other")
    other.drain(0.3)
    other.send(p.ListRooms(ref=1))
    assert other.expect(p.RoomInfo, skip=NOISE).room == "#lobby"


def test_typing_and_away_reach_who_asked_for_them(room_server):
    server = room_server()
    ann, bob = _join(server, "ann"), _join(server, "bob")
    _enter(ann, "#r")
    _enter(bob, "#r")
    ann.send(p.Typing(conversation="#r"))
    ann.send(p.Typing(conversation="#r"))  # within a second: dropped
    notice = bob.expect(p.TypingNotice, skip=(p.RoomEvent, p.UserJoined))
    assert (notice.conversation, notice.nick, notice.active) == ("#r", "ann", True)
    ann.send(p.SetAway(text="lunch"))
    away = bob.expect(p.AwayChanged, skip=(p.RoomEvent, p.TypingNotice))
    assert (away.nick, away.text) == ("ann", "lunch")
    assert not [e for e in bob.drain(0.3) if isinstance(e, p.TypingNotice)]
    late = _join(server, "late")
    assert late.expect(p.AwayChanged) == p.AwayChanged(nick="ann", text="lunch")


def test_a_new_room_of_a_deleted_ones_name_starts_empty(room_server):
    server = room_server()
    first = _join(server, "first")
    _enter(first, "#again")
    _post(first, 1, "from the old room", target="#again")
    _own(first, 1)
    first.send(p.PartRoom(ref=2, room="#again"))
    _event(first, p.RoomEventKind.LEFT)  # the last member: the room is gone
    second = _join(server, "second")
    assert _enter(second, "#Again").role is p.RoomRole.OWNER
    second.send(p.FetchHistory(ref=3, conversation="#again"))
    assert second.expect(p.HistoryEnd, skip=NOISE).count == 0


def test_lines_still_being_stored_when_a_room_ends_stay_with_it(room_server):
    server = room_server()
    ann = _join(server, "ann")
    _enter(ann, "#race")
    for ref in range(1, 11):  # one burst: most are not stored yet...
        _post(ann, ref, f"line {ref}", target="#race")
    ann.send(p.PartRoom(ref=20, room="#race"))  # ...when the room ends
    _event(ann, p.RoomEventKind.LEFT)
    bob = _join(server, "bob")
    _enter(bob, "#race")
    bob.send(p.FetchHistory(ref=3, conversation="#race"))
    assert bob.expect(p.HistoryEnd, skip=NOISE).count == 0
