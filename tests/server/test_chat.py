"""The server's chat features, with several real clients over loopback."""

from __future__ import annotations

import threading

import pytest

import protocol as p
from protocol.constants import U16, U32
from tests.wire import WireClient

pytestmark = pytest.mark.integration


def test_welcome_assigns_the_wanted_nick(connect):
    client = connect()
    welcome = client.hello("ann")
    assert isinstance(welcome, p.Welcome)
    assert welcome.nick == "ann"
    assert welcome.version == p.PROTOCOL_VERSION
    assert welcome.server_name == "chinwag"


def test_taken_nicks_get_suffixes_case_insensitively(connect):
    assert connect().hello("ann").nick == "ann"
    assert connect().hello("ANN").nick == "ANN_1"
    assert connect().hello("ann").nick == "ann_2"


def test_long_nick_is_shortened_to_fit_the_suffix(connect):
    base = "x" * 32
    connect(base)
    assert connect().hello(base).nick == "x" * 30 + "_1"


def test_nick_is_normalised(connect):
    assert connect().hello("Zoe\u0308").nick == "Zoë"


@pytest.mark.parametrize("nick", ["a b", "@ann", "x" * 33, "a\u200bb"])
def test_invalid_nick_is_refused_clearly(connect, nick):
    client = connect()
    reply = client.hello(nick)
    assert isinstance(reply, p.Error)
    assert reply.code is p.ErrorCode.INVALID_NICK
    assert "nickname" in reply.text
    assert isinstance(client.next(), p.Bye)
    client.wait_closed()


def test_unsupported_version_is_refused(connect):
    client = connect()
    reply = client.hello("ann", version=0)
    assert isinstance(reply, p.Error)
    assert reply.code is p.ErrorCode.UNSUPPORTED_VERSION


def test_newer_client_version_is_negotiated_down(connect):
    client = connect()
    assert client.hello("ann", version=7).version == p.PROTOCOL_VERSION


def test_unknown_capabilities_are_ignored(connect):
    client = connect()
    client.send(
        p.Hello(version=1, client_name="t", nick="ann", capabilities=("time-travel",))
    )
    assert client.next().capabilities == ()


def test_join_and_leave_are_announced(connect):
    ann = connect("ann")
    bob = connect("bob")
    assert ann.expect(p.UserJoined) == p.UserJoined(nick="bob")
    bob.send(p.Bye(reason="gotta go"))
    left = ann.expect(p.UserLeft)
    assert left.nick == "bob"
    assert left.reason == "quit: gotta go"


def test_dropped_connection_is_announced(connect):
    ann = connect("ann")
    bob = connect("bob")
    ann.expect(p.UserJoined)
    bob.close()
    assert ann.expect(p.UserLeft).nick == "bob"


def test_broadcast_reaches_everyone_and_confirms_to_sender(connect):
    ann, bob, cat = connect("ann"), connect("bob"), connect("cat")
    ann.drain()
    bob.drain()
    ann.send(p.SendText(ref=5, text="hello all"))
    own = ann.expect(p.Delivered)
    assert (own.sender, own.target, own.text, own.ref) == ("ann", None, "hello all", 5)
    for other in (bob, cat):
        seen = other.expect(p.Delivered)
        assert (seen.id, seen.sender, seen.text, seen.ref) == (
            own.id,
            "ann",
            "hello all",
            0,
        )
        assert seen.timestamp_ms == own.timestamp_ms > 1_600_000_000_000


def test_everyone_sees_broadcasts_in_the_same_order(connect):
    senders = [connect(f"s{i}") for i in range(4)]
    watcher = connect("watcher")
    for client in senders:
        client.drain(0.1)

    def talk(client):
        for n in range(20):
            client.send(p.SendText(ref=n + 1, text=f"{client.nick} {n}"))

    threads = [threading.Thread(target=talk, args=(c,)) for c in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    orders = []
    for client in [*senders, watcher]:
        ids = [client.expect(p.Delivered, skip=(p.UserJoined,)).id for _ in range(80)]
        orders.append(ids)
    assert all(order == orders[0] for order in orders)
    assert sorted(orders[0]) == orders[0]


def test_direct_message_reaches_only_its_target(connect):
    ann, bob, cat = connect("ann"), connect("bob"), connect("cat")
    ann.drain()
    bob.drain()
    ann.send(p.SendDirect(ref=9, target="BOB", text="psst"))
    got = bob.expect(p.Delivered)
    assert (got.sender, got.target, got.text, got.ref) == ("ann", "bob", "psst", 0)
    own = ann.expect(p.Delivered)
    assert (own.target, own.ref, own.id) == ("bob", 9, got.id)
    assert cat.drain() == []


def test_direct_message_to_unknown_user_errors_to_sender_only(connect):
    ann, bob = connect("ann"), connect("bob")
    ann.drain()
    ann.send(p.SendDirect(ref=3, target="nobody", text="hi"))
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.UNKNOWN_USER, 3)
    assert "nobody" in error.text
    assert bob.drain() == []


def test_direct_message_to_departed_user_errors(connect):
    ann, bob = connect("ann"), connect("bob")
    bob.close()
    ann.expect(p.UserLeft, skip=(p.UserJoined,))
    ann.send(p.SendDirect(ref=4, target="bob", text="still there?"))
    assert ann.expect(p.Error).code is p.ErrorCode.UNKNOWN_USER


def test_direct_message_to_self_arrives_once(connect):
    ann = connect("ann")
    ann.send(p.SendDirect(ref=1, target="ann", text="note to self"))
    assert ann.expect(p.Delivered).ref == 1
    assert ann.drain() == []


def test_user_list(connect):
    connect("bob")
    connect("ann")
    cat = connect("Cat")
    cat.send(p.ListUsers())
    assert cat.expect(p.UserList, skip=(p.UserJoined,)) == p.UserList(
        nicks=("ann", "bob", "Cat"), final=True
    )


def test_long_user_list_comes_in_chunks(connect, server):
    clients = [connect(f"user{i:03d}") for i in range(230)]
    last = clients[-1]
    last.send(p.ListUsers())
    first = last.expect(p.UserList, skip=(p.UserJoined,))
    second = last.expect(p.UserList, skip=(p.UserJoined,))
    assert (len(first.nicks), first.final) == (200, False)
    assert (len(second.nicks), second.final) == (30, True)
    assert len(set(first.nicks + second.nicks)) == 230


def test_nick_change_is_announced_to_everyone(connect):
    ann, bob = connect("ann"), connect("bob")
    ann.drain()
    ann.send(p.ChangeNick(ref=2, nick="anna"))
    assert ann.expect(p.NickChanged) == p.NickChanged(old="ann", new="anna")
    assert bob.expect(p.NickChanged) == p.NickChanged(old="ann", new="anna")
    bob.send(p.SendDirect(ref=1, target="anna", text="hi anna"))
    assert ann.expect(p.Delivered).text == "hi anna"


def test_nick_change_to_taken_or_invalid_nick_is_refused(connect):
    ann, bob = connect("ann"), connect("bob")
    ann.drain()
    ann.send(p.ChangeNick(ref=7, nick="Bob"))
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.NICK_IN_USE, 7)
    ann.send(p.ChangeNick(ref=8, nick="b b"))
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.INVALID_NICK, 8)
    assert bob.drain() == []


def test_changing_only_case_is_allowed(connect):
    ann = connect("ann")
    ann.send(p.ChangeNick(ref=1, nick="Ann"))
    assert ann.expect(p.NickChanged) == p.NickChanged(old="ann", new="Ann")


def test_simultaneous_joins_with_one_nick_all_get_distinct_nicks(server):
    count = 40
    barrier = threading.Barrier(count)
    nicks: list[str] = []
    clients: list[WireClient] = []
    lock = threading.Lock()

    def join():
        client = WireClient(server.address)
        barrier.wait()
        welcome = client.hello("same")
        with lock:
            nicks.append(welcome.nick)
            clients.append(client)

    threads = [threading.Thread(target=join) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(nicks) == count
        assert len({p.nick_key(n) for n in nicks}) == count
        assert "same" in nicks
    finally:
        for client in clients:
            client.close()


def test_ping_is_answered(connect):
    ann = connect("ann")
    ann.send(p.Ping(payload=b"abc"))
    assert ann.expect(p.Pong) == p.Pong(payload=b"abc")


def test_changing_to_ones_own_nick_is_refused(connect):
    ann = connect("ann")
    ann.send(p.ChangeNick(ref=3, nick="ann"))
    error = ann.expect(p.Error)
    assert (error.code, error.text, error.ref) == (
        p.ErrorCode.INVALID_NICK,
        "you are already called ann",
        3,
    )


def test_changing_to_the_same_nick_in_another_normal_form_is_refused(connect):
    zoe = connect("Zoë")
    zoe.send(p.ChangeNick(ref=4, nick="Zoe\u0308"))
    assert zoe.expect(p.Error).text == "you are already called Zoë"


def _raw_hello(nick: str) -> bytes:
    raw = nick.encode()
    body = (
        bytes([p.MessageType.HELLO])
        + U16.pack(1)
        + U16.pack(1)
        + b"t"
        + U16.pack(len(raw))
        + raw
        + U16.pack(0)
    )
    return p.frame(body)


@pytest.mark.parametrize("nick", ["", "x" * 65])
def test_a_nick_field_out_of_its_wire_limits_is_invalid_field(connect, nick):
    client = connect()
    client.send_raw(_raw_hello(nick))
    events = client.wait_closed()
    assert [type(e) for e in events] == [p.Error, p.Bye]
    assert events[0].code is p.ErrorCode.INVALID_FIELD


def test_an_empty_nick_in_change_nick_is_refused_and_the_connection_stays(connect):
    ann = connect("ann")
    ann.send_raw(
        p.frame(bytes([p.MessageType.CHANGE_NICK]) + U32.pack(6) + U16.pack(0))
    )
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.INVALID_FIELD, 6)
    ann.send(p.Ping(payload=b"on"))
    assert ann.expect(p.Pong).payload == b"on"


def test_suffixes_go_on_the_nick_as_asked(connect):
    assert connect().hello("nk").nick == "nk"
    assert connect().hello("nk").nick == "nk_1"
    assert connect().hello("nk_1").nick == "nk_1_1"
    assert connect().hello("b0b").nick == "b0b"
    assert connect().hello("Bob").nick == "Bob_1"  # looks like b0b


def test_the_largest_legal_frame_passes_the_smallest_allowed_limit(
    make_server, connect
):
    server = make_server(max_frame_size=17_033)
    wide = "\U00020000"  # a CJK letter, four bytes in UTF-8
    hello = p.Hello(
        version=1,
        client_name=wide * 64,
        nick=wide * 64,
        capabilities=tuple(wide * 64 for _ in range(64)),
    )
    assert len(p.encode_body(hello)) == 17_033
    client = connect(target=server)
    client.send(hello)
    error = client.expect(p.Error)
    assert error.code is p.ErrorCode.INVALID_NICK  # read whole, judged on content
    big = connect(target=server)
    big.send_raw(U32.pack(17_034))
    assert big.wait_closed()[0].code is p.ErrorCode.FRAME_TOO_LARGE
