"""Issue 12, the server items: each test fails if its problem came back."""

from __future__ import annotations

import logging
import socket
import time

import pytest

import protocol as p
from server import ServerConfig
from server.ratelimit import TokenBucket
from tests.server.helpers import (
    SlowRecord,
    TcpProxy,
    events_for,
    expect_alive,
    hello_v2,
    wait_for,
)
from tests.wire import WireClient

pytestmark = pytest.mark.integration

CHAT = (p.Delivered, p.UserJoined, p.UserLeft, p.NickChanged, p.Ping)


def _rate_limited(events) -> list[p.Error]:
    return [
        e
        for e in events
        if isinstance(e, p.Error) and e.code is p.ErrorCode.RATE_LIMITED
    ]


# --- 2. ListUsers ------------------------------------------------------------


def test_list_users_costs_one_token_per_user_list_frame(make_server, connect):
    server = make_server(rate_burst=7, rate_per_second=0.01)
    others = [connect(f"user{i:03d}", target=server) for i in range(200)]
    asker = connect("asker", target=server)  # 201 users: two frames per answer
    assert server.hub.list_cost() == 2
    for _ in range(4):
        asker.send(p.ListUsers())
    events = events_for(asker, 1.0)
    answers = [e for e in events if isinstance(e, p.UserList) and e.final]
    # Hello took one token of 7; three answers cost 6; the fourth is refused.
    assert len(answers) == 3
    assert len(_rate_limited(events)) == 1
    assert len(others) == 200


def test_a_paced_client_is_never_refused_while_the_server_stalls(
    make_server, connect, server_log
):
    """Frames that piled up while the reader was busy are not one burst."""
    server = make_server(reader_threads=1, rate_burst=5, rate_per_second=10.0)
    stall = SlowRecord("nick change", seconds=1.5)
    logging.getLogger("server").addHandler(stall)
    try:
        staller = connect("staller", target=server)
        paced = connect(target=server)
        bucket = TokenBucket(5, 10.0, time.monotonic())  # the spec's pacing, exactly
        assert bucket.take()
        _welcome, limits = hello_v2(paced, "paced", [p.CAP_LIMITS])
        assert (limits.rate_burst, limits.rate_interval_ms) == (5, 100)
        sent = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            bucket.refill(time.monotonic())
            if not bucket.take():
                time.sleep(0.01)
                continue
            sent += 1
            paced.send(p.SendText(ref=sent, text=f"line {sent}"))
            if sent == 8:
                # The one reader thread now spends 1.5 s logging this.
                staller.send(p.ChangeNick(ref=1, nick="stalling"))
        assert stall.stalled.is_set()
        events: list[p.Event] = []
        while sum(isinstance(e, p.Delivered) for e in events) < sent:
            events.append(paced.next(timeout=5))
    finally:
        logging.getLogger("server").removeHandler(stall)
    assert _rate_limited(events) == []
    confirmed = [e.ref for e in events if isinstance(e, p.Delivered) and e.ref]
    assert confirmed == list(range(1, sent + 1))
    assert sent >= 25  # 5 at once, then 10 a second for 3 s


# --- 3. A condemned peer costs nothing more -------------------------------------


def test_nothing_after_the_kick_is_decoded(make_server, connect, server_log):
    server = make_server(rate_burst=3, rate_per_second=0.01, flood_kick_after=5)
    watcher = connect("watcher", target=server)
    flooder = connect("flooder", target=server)
    flood = b"".join(
        p.frame(p.encode_body(p.SendText(ref=n, text=f"spam {n}")))
        for n in range(1, 11)
    )
    malformed = p.frame(bytes([p.MessageType.SEND_TEXT]) + b"\x00")
    flooder.send_raw(flood + malformed)  # one write: one recv on the server
    events = flooder.wait_closed()
    refused = _rate_limited(events)
    # Two messages pass (Hello took a token), five are refused, then the kick:
    # the last three and the malformed frame are never even decoded.
    assert [e.ref for e in refused] == [3, 4, 5, 6, 7, 0]
    assert refused[-1].text == "flooding"
    assert events[-1] == p.Bye(reason="flooding")
    assert "protocol error" not in server_log.text
    left = watcher.expect(p.UserLeft, skip=CHAT)
    assert left == p.UserLeft(nick="flooder", reason="flooding")


# --- 4. SLOW_CONSUMER is said ----------------------------------------------------


def test_a_slow_consumer_gets_whole_frames_then_its_goodbye(
    make_server, connect, server_log
):
    server = make_server(
        outbox_size=64 * 1024,
        close_grace=10.0,
        rate_burst=100_000,
        rate_per_second=100_000,
    )
    # Its receive buffer keeps the kernel's default size: shrunk, the kernel
    # would trickle what it holds out slowly once the victim reads again.
    victim = connect("victim", target=server)
    talker = connect("talker", target=server)
    talker.drain(0.1)
    dropped = p.UserLeft(nick="victim", reason="slow consumer")
    seen: list[p.Event] = []
    for n in range(3000):  # bounded: kernel buffers plus the outbox
        talker.send(p.SendText(ref=n + 1, text="x" * 3000))
        if n % 20 == 19:
            seen += events_for(talker, 0.05)
            if dropped in seen:
                break
    assert dropped in seen
    # Now the victim reads: every frame decodes (the one in progress was
    # completed), the backlog is gone, the goodbye says why, then EOF.
    events = victim.wait_closed(timeout=10)
    delivered = [e.id for e in events if isinstance(e, p.Delivered)]
    assert delivered == list(range(delivered[0], delivered[0] + len(delivered)))
    assert len(delivered) < n + 1
    error, bye = events[-2:]
    assert error.code is p.ErrorCode.SLOW_CONSUMER
    assert bye == p.Bye(reason="slow consumer")
    assert "slow consumer victim" in server_log.text


# --- 5. Per-address limits -------------------------------------------------------


def test_per_address_limits_refuse_saying_which(make_server, connect):
    server = make_server(exempt_loopback=False, max_per_address=2, new_per_address=3)
    first = connect("one", target=server)
    second = connect("two", target=server)
    third = connect(target=server)
    events = third.wait_closed()
    assert events[0].code is p.ErrorCode.SERVER_FULL
    assert "2 at once" in events[0].text
    assert isinstance(events[1], p.Bye)
    first.send(p.Bye())
    first.wait_closed()
    assert wait_for(lambda: server.peer_count() == 1)
    assert connect(target=server).hello("three").nick == "three"  # third new one
    second.send(p.Bye())
    second.wait_closed()
    assert wait_for(lambda: server.peer_count() == 1)
    events = connect(target=server).wait_closed()
    assert events[0].code is p.ErrorCode.SERVER_FULL
    assert "3 per 60 seconds" in events[0].text


def test_a_flooders_address_must_wait_before_it_comes_back(make_server, connect):
    server = make_server(
        exempt_loopback=False,
        rate_burst=3,
        rate_per_second=0.01,
        flood_kick_after=3,
        flood_cooldown=1.0,
    )
    flooder = connect("flooder", target=server)
    flooder.send_raw(
        b"".join(p.frame(p.encode_body(p.SendText(text="x"))) for _ in range(10))
    )
    assert flooder.wait_closed()[-1] == p.Bye(reason="flooding")
    events = connect(target=server).wait_closed()
    assert events[0].code is p.ErrorCode.SERVER_FULL
    assert "flooding" in events[0].text
    # A fresh burst allowance only once the cooldown is over.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        client = connect(target=server)
        try:
            client.next(0.2)  # refused: told at once, before any Hello
        except TimeoutError:
            break  # admitted: nothing comes until Hello
        except EOFError:
            pass
        time.sleep(0.1)
    assert client.hello("back").nick == "back"


def test_loopback_is_exempt_by_default(make_server, connect):
    server = make_server(max_per_address=2, new_per_address=2)
    clients = [connect(f"c{i}", target=server) for i in range(5)]
    assert [c.nick for c in clients] == ["c0", "c1", "c2", "c3", "c4"]


# --- 6. Outboxes: 256 KiB each, and a bound on all of them -------------------------


def test_all_outboxes_together_are_bounded(make_server, connect, server_log):
    server = make_server(
        outbox_size=256 * 1024,
        outbox_total=300 * 1024,
        rate_burst=100_000,
        rate_per_second=100_000,
    )
    stallers = []
    for index in range(3):
        staller = connect(target=server)
        staller.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        staller.hello(f"staller{index}")
        stallers.append(staller)
    talker = connect("talker", target=server)
    talker.drain(0.1)
    seen: list[p.Event] = []
    for n in range(6000):
        talker.send(p.SendText(ref=n + 1, text="y" * 3000))
        if n % 20 == 19:
            seen += events_for(talker, 0.05)
            if any(isinstance(e, p.UserLeft) for e in seen):
                break
    left = [e for e in seen if isinstance(e, p.UserLeft)]
    assert left
    assert left[0].reason == "slow consumer"
    # None of them was behind by its own 256 KiB: together they were.
    assert "all outboxes together are full" in server_log.text
    assert "its outbox is full" not in server_log.text
    assert server.budget.used <= 300 * 1024
    for staller in stallers:
        staller.close()
    assert wait_for(lambda: server.budget.used == 0)


def test_the_default_outbox_is_256_kib():
    assert ServerConfig().outbox_size == 256 * 1024
    assert ServerConfig().outbox_total == 64 * 1024 * 1024
    with pytest.raises(ValueError, match="outbox_total"):
        ServerConfig(outbox_size=1 << 20, outbox_total=1 << 19)


# --- 7. A half-open client leaves on time ----------------------------------------


def test_a_half_open_client_leaves_within_a_second_of_its_timeout(make_server, connect):
    idle_timeout = 1.0
    server = make_server(ping_interval=0.3, idle_timeout=idle_timeout, close_grace=3.0)
    watcher = connect("watcher", target=server)
    proxy = TcpProxy(server.address)
    try:
        quiet = WireClient(proxy.address)
        quiet.hello("quiet")
        watcher.expect(p.UserJoined)
        # Its last sign of life reaches the server between these two moments.
        before = time.monotonic()
        quiet.send(p.Ping(payload=b"last"))
        assert quiet.expect(p.Pong).payload == b"last"
        proxy.cut()  # the path dies; nobody closes anything
        left = expect_alive(watcher, p.UserLeft, idle_timeout + 5, skip=CHAT)
        gone_after = time.monotonic() - before
        assert left == p.UserLeft(nick="quiet", reason="ping timeout")
        # Spec 5.5: within a second of the timeout, not after the close grace.
        assert idle_timeout <= gone_after < idle_timeout + 1.0
        quiet.close()
    finally:
        proxy.close()


# --- replies in order ---------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(connect):
    ann = connect("ann")
    connect("bob")
    ann.expect(p.UserJoined)
    requests: list[p.Message] = [
        p.ListUsers(),
        p.SendText(ref=1, text="one"),
        p.ChangeNick(ref=2, nick="BOB"),
        p.Ping(payload=b"3"),
        p.SendDirect(ref=4, target="nobody", text="four"),
        p.ChangeNick(ref=5, nick="anna"),
        p.SendDirect(ref=6, target="bob", text="six"),
    ]
    ann.send_raw(b"".join(p.frame(p.encode_body(r)) for r in requests))
    replies = [ann.next() for _ in requests]
    assert [type(r) for r in replies] == [
        p.UserList,
        p.Delivered,
        p.Error,
        p.Pong,
        p.Error,
        p.NickChanged,
        p.Delivered,
    ]
    assert [getattr(r, "ref", None) for r in replies] == [None, 1, 2, None, 4, None, 6]


# --- UserLeft reasons ---------------------------------------------------------


def _leave_by_bye(client):
    client.send(p.Bye(reason="see you"))
    client.wait_closed()


def _leave_by_empty_bye(client):
    client.send(p.Bye())
    client.wait_closed()


def _leave_by_closing(client):
    client.close()


def _leave_by_reset(client):
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    client.close()


def _leave_by_garbage(client):
    client.send_raw(p.frame(bytes([p.MessageType.SEND_TEXT]) + b"\x00"))
    client.wait_closed()


@pytest.mark.parametrize(
    ("leave", "reason"),
    [
        (_leave_by_bye, "quit: see you"),
        (_leave_by_empty_bye, "quit"),
        (_leave_by_closing, "connection closed"),
        (_leave_by_reset, "connection error: Connection reset by peer"),
        (_leave_by_garbage, "protocol error"),
    ],
)
def test_user_left_reasons(connect, leave, reason):
    watcher = connect("watcher")
    leaver = connect("leaver")
    watcher.expect(p.UserJoined)
    leave(leaver)
    assert watcher.expect(p.UserLeft) == p.UserLeft(nick="leaver", reason=reason)
