"""`Hub` with fake members: the cached user list, its cost, sessions and nicks."""

from __future__ import annotations

import contextlib
import itertools

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol as p
from server.hub import RESUMED_REASON, Hub, Refusal
from server.outbox import batched
from server.sessions import Session
from tests.server.helpers import frames_in


class FakeMember:
    """Records what the hub sends it; the hub never sees a socket."""

    def __init__(self) -> None:
        self.nick: str | None = None
        self.label = "fake"
        self.session: Session | None = None
        self.sent: list[bytes] = []
        self.kicked: list[str] = []
        self.left = False
        self.closing = False
        self.capabilities: frozenset[str] = frozenset()
        self.is_admin = False

    def deliver(self, data: bytes) -> bool:
        self.sent.append(data)
        return True

    def welcome(self, message: p.Welcome, after: bytes) -> None:
        self.sent.append(p.encode_frame(message) + after)

    def kick(self, code: p.ErrorCode | None, text: str) -> None:
        self.kicked.append(f"{code!r}: {text}" if code else text)

    def received(self) -> list[p.Message]:
        return frames_in(b"".join(self.sent))


def _hub(list_chunk: int = p.MAX_USER_LIST_CHUNK) -> Hub:
    return Hub(
        server_name="test",
        motd="",
        wall_clock=lambda: 1.7e9,
        clock=lambda: 0.0,
        limits_frame=p.encode_frame(ServerLimits),
        list_chunk=list_chunk,
    )


ServerLimits = p.Limits(
    rate_burst=20, rate_interval_ms=100, flood_kick_after=50, max_frame_size=65536
)


def _join(hub: Hub, nick: str, *, version: int = 1, **kwargs) -> FakeMember:
    member = FakeMember()
    hub.join(member, p.Hello(version=version, client_name="t", nick=nick, **kwargs))
    return member


def _user_list(member: FakeMember, hub: Hub) -> tuple[bytes, list[p.UserList]]:
    hub.flush_presence()
    member.sent.clear()
    hub.list_users(member)
    (data,) = member.sent
    return data, [m for m in frames_in(data) if isinstance(m, p.UserList)]


def test_user_list_is_built_once_and_shared_until_someone_comes_or_goes():
    hub = _hub()
    members = [_join(hub, f"user{i}") for i in range(450)]
    asker = members[0]
    first, chunks = _user_list(asker, hub)
    assert [len(c.nicks) for c in chunks] == [200, 200, 50]
    assert [c.final for c in chunks] == [False, False, True]
    again, _ = _user_list(members[1], hub)
    assert again is first  # the same bytes, not rebuilt
    hub.leave(members[-1], "quit")
    after, chunks = _user_list(asker, hub)
    assert after is not first
    assert sum(len(c.nicks) for c in chunks) == 449


def test_list_cost_is_one_token_per_user_list_frame():
    hub = _hub()
    assert hub.list_cost() == 1
    members = [_join(hub, f"u{i}") for i in range(200)]
    assert hub.list_cost() == 1
    members.append(_join(hub, "one_more"))
    assert hub.list_cost() == 2
    members.extend(_join(hub, "more") for _ in range(200))
    assert hub.list_cost() == 3


operations = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "rename"]),
        st.integers(0, 10_000),
        st.sampled_from(["ann", "Bob", "cat", "b0b", "dan", "Eve", "x" * 32, "zoë"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops=operations, chunk=st.integers(1, 5))
def test_cached_user_list_always_matches_a_fresh_sort(ops, chunk):
    hub = _hub(list_chunk=chunk)
    members: list[FakeMember] = []
    counter = itertools.count()
    for op, pick, nick in ops:
        if op == "join" or not members:
            members.append(_join(hub, f"{nick[:28]}{next(counter) % 3 or ''}"))
        elif op == "leave":
            hub.leave(members.pop(pick % len(members)), "quit")
        else:
            member = members[pick % len(members)]
            with contextlib.suppress(Refusal):  # taken or unchanged: list intact
                hub.change_nick(member, p.ChangeNick(ref=1, nick=f"{nick}{pick % 7}"))
        if members:
            _, chunks = _user_list(members[0], hub)
            expected = sorted((m.nick for m in members), key=p.nick_key)
            got = [n for c in chunks for n in c.nicks]
            assert got == expected
            assert [len(c.nicks) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1)
            assert 1 <= len(chunks[-1].nicks) <= chunk
            assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["join", "leave", "flush"]), st.integers(0, 99)),
        max_size=40,
    )
)
def test_everyone_hears_of_each_join_and_leave_after_their_own_once(ops):
    # However joins, leaves and flushes interleave, a member hears every
    # notice from after its own join, once and in order, and none before.
    hub = _hub()
    present: dict[str, FakeMember] = {}
    events: list[tuple[str, str]] = []
    joined_at: dict[int, int] = {}
    for n, (op, pick) in enumerate(ops):
        if op == "join":
            member = FakeMember()
            hub.join(member, p.Hello(version=1, client_name="t", nick=f"n{n}"))
            joined_at[id(member)] = len(events)
            events.append(("UserJoined", f"n{n}"))
            present[f"n{n}"] = member
        elif op == "leave" and present:
            nick = sorted(present)[pick % len(present)]
            hub.leave(present.pop(nick), "quit")
            events.append(("UserLeft", nick))
        else:
            hub.flush_presence()
    hub.flush_presence()
    for member in present.values():
        heard = [
            (type(m).__name__, m.nick)
            for m in member.received()
            if isinstance(m, (p.UserJoined, p.UserLeft))
        ]
        assert heard == events[joined_at[id(member)] + 1 :]


def test_suffixes_follow_the_spec():
    hub = _hub()
    assert _join(hub, "nk").nick == "nk"
    assert _join(hub, "nk").nick == "nk_1"
    # The suffix goes on the nick as asked: nk_1 is taken, so nk_1_1.
    assert _join(hub, "nk_1").nick == "nk_1_1"
    # Lookalikes collide: b0b (zero) and B0B are bob.
    assert _join(hub, "bob").nick == "bob"
    assert _join(hub, "b0b").nick == "b0b_1"
    assert _join(hub, "B0B").nick == "B0B_2"
    base = "y" * 32
    for _ in range(10):
        _join(hub, base)
    # _10 has three characters: the base is cut to 29.
    assert _join(hub, base).nick == "y" * 29 + "_10"


def test_a_member_that_already_left_cannot_join():
    hub = _hub()
    member = FakeMember()
    member.left = True  # condemned by the housekeeper while its Hello was read
    with pytest.raises(Refusal):
        hub.join(member, p.Hello(version=1, client_name="t", nick="ghost"))
    assert hub.nicks() == []


def test_resuming_a_live_session_takes_its_place_silently():
    hub = _hub()
    watcher = _join(hub, "watcher")
    old = FakeMember()
    hello = p.Hello(version=2, client_name="t", nick="ann", capabilities=("session",))
    hub.join(old, hello, p.Identify())
    (token,) = [m for m in old.received() if isinstance(m, p.SessionToken)]
    hub.say(old, p.SendText(ref=7, text="hi"))
    hub.flush_presence()
    watcher.sent.clear()
    new = FakeMember()
    other = attrs.evolve(hello, nick="someone_else")
    joined = hub.join(new, other, p.Identify(token=token.token))
    assert joined.resumed
    assert new.nick == "ann"
    assert old.kicked == [RESUMED_REASON]
    (again,) = [m for m in new.received() if isinstance(m, p.SessionToken)]
    assert (again.token, again.resumed, again.last_ref) == (token.token, True, 7)
    hub.leave(old, "connection closed")  # the old connection goes: nobody hears
    hub.flush_presence()
    assert watcher.received() == []
    assert hub.nicks() == ["ann", "watcher"]


def test_a_batch_of_messages_reaches_each_recipient_in_one_write_in_order():
    hub = _hub()
    ann, bob, cat = (_join(hub, n) for n in ("ann", "bob", "cat"))
    hub.flush_presence()
    for member in (ann, bob, cat):
        member.sent.clear()
    with batched():
        hub.say(ann, p.SendText(ref=1, text="one"))
        hub.say(ann, p.SendText(ref=2, text="two"))
        hub.say(bob, p.SendText(ref=0, text="three"))
        assert bob.sent == []  # queued until the batch ends
        late = _join(hub, "late")  # joins in between: gets none of the above
        hub.direct(ann, p.SendDirect(ref=3, target="bob", text="psst"))
        hub.say(ann, p.SendText(ref=4, text="four"))
        hub.flush_broadcasts()
    # One write for the first three; then the join notice; then "four".
    first = [m.text for m in frames_in(cat.sent[0]) if isinstance(m, p.Delivered)]
    assert first == ["one", "two", "three"]
    texts = [m.text for m in bob.received() if isinstance(m, p.Delivered)]
    assert texts == ["one", "two", "three", "psst", "four"]
    own = [(m.text, m.ref) for m in ann.received() if isinstance(m, p.Delivered)]
    assert own == [("one", 1), ("two", 2), ("three", 0), ("psst", 3), ("four", 4)]
    assert [m.text for m in late.received() if isinstance(m, p.Delivered)] == ["four"]
