"""The server under bad input, slow clients, floods and dead peers."""

from __future__ import annotations

import socket
import time

import pytest

import protocol as p
from protocol.constants import FRAME_HEADER, U16, U32
from tests.wire import WireClient

pytestmark = pytest.mark.integration


def _closed_with(client: WireClient, code: p.ErrorCode) -> p.Error:
    events = client.wait_closed()
    errors = [e for e in events if isinstance(e, p.Error)]
    assert errors, f"no Error before close: {events!r}"
    assert errors[-1].code is code
    assert isinstance(events[-1], p.Bye)
    return errors[-1]


def test_oversized_frame_is_refused_and_closed(connect):
    bob = connect("bob")
    ann = connect("ann")
    ann.send_raw(FRAME_HEADER.pack(10_000_000))
    error = _closed_with(ann, p.ErrorCode.FRAME_TOO_LARGE)
    assert "10000000" in error.text
    assert bob.expect(p.UserLeft, skip=(p.UserJoined,)).nick == "ann"


def test_garbage_bytes_are_a_protocol_error(connect):
    ann = connect("ann")
    ann.send_raw(p.frame(bytes([p.MessageType.SEND_TEXT]) + b"\x00"))
    _closed_with(ann, p.ErrorCode.MALFORMED_FRAME)


def test_message_before_handshake_is_refused(connect):
    client = connect()
    client.send_raw(p.frame(p.encode_body(p.SendText(ref=1, text="too early"))))
    _closed_with(client, p.ErrorCode.UNEXPECTED_MESSAGE)


def test_client_sending_server_messages_is_refused(connect):
    ann = connect("ann")
    ann.send_raw(p.frame(p.encode_body(p.UserJoined(nick="fake"))))
    _closed_with(ann, p.ErrorCode.UNEXPECTED_MESSAGE)


def test_text_over_the_limit_is_refused_and_the_connection_stays(connect):
    ann, bob = connect("ann"), connect("bob")
    ann.drain()
    raw = ("x" * (p.MAX_TEXT_CHARS + 1)).encode()
    ann.send_raw(
        p.frame(
            bytes([p.MessageType.SEND_TEXT]) + U32.pack(11) + U16.pack(len(raw)) + raw
        )
    )
    error = ann.expect(p.Error)
    assert (error.code, error.ref) == (p.ErrorCode.TEXT_TOO_LONG, 11)
    ann.send(p.SendText(ref=12, text="shorter"))
    assert ann.expect(p.Delivered).ref == 12
    assert [e.text for e in bob.drain() if isinstance(e, p.Delivered)] == ["shorter"]


def test_unknown_message_type_is_refused_and_the_connection_stays(connect):
    ann = connect("ann")
    ann.send_raw(p.frame(b"\x7f\x01\x02"))
    assert ann.expect(p.Error).code is p.ErrorCode.UNKNOWN_MESSAGE_TYPE
    ann.send(p.Ping(payload=b"ok"))
    assert ann.expect(p.Pong).payload == b"ok"


def test_frame_cut_off_by_disconnect_is_logged(connect, server_log):
    ann = connect("ann")
    ann.send_raw(p.frame(p.encode_body(p.SendText(ref=1, text="hello")))[:-2])
    ann.close()
    deadline = time.monotonic() + 5
    while "inside a frame" not in server_log.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "inside a frame" in server_log.text


def test_handshake_timeout(make_server, connect):
    server = make_server(handshake_timeout=0.3)
    client = connect(target=server)
    _closed_with(client, p.ErrorCode.HANDSHAKE_TIMEOUT)


def test_bad_client_does_not_disturb_others(connect):
    ann, bob = connect("ann"), connect("bob")
    ann.drain()
    evil = connect()
    evil.send_raw(b"\xde\xad\xbe\xef" * 100)
    bob.send(p.SendText(ref=1, text="still here"))
    assert ann.expect(p.Delivered).text == "still here"


def test_stalled_reader_is_dropped_while_others_keep_receiving(make_server, connect):
    server = make_server(
        outbox_size=64 * 1024, rate_burst=100_000, rate_per_second=100_000
    )
    stalled = WireClient(server.address)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.hello("stalled")
    # The talker reads too (its own copies): only the stalled client lags.
    talker = connect("talker", target=server)
    talker.drain(0.1)
    text = "x" * 3000
    received = 0
    others: list[p.Event] = []
    dropped = p.UserLeft(nick="stalled", reason="slow consumer")
    # Kernel socket buffers on loopback hold megabytes, so keep talking (a
    # bounded amount) until they and the 64 KiB outbox are full.
    for n in range(6000):
        talker.send(p.SendText(ref=n + 1, text=text))
        if n % 20 == 19:
            # Everyone who reads keeps up while the stalled client backs up.
            while received < n + 1:
                event = talker.next()
                if isinstance(event, p.Delivered):
                    received += 1
                else:
                    others.append(event)
            if dropped in others:
                break
    assert dropped in others
    assert received < 6000
    stalled.close()


def test_flood_is_limited_then_kicked(make_server, connect):
    server = make_server(rate_burst=5, rate_per_second=1.0, flood_kick_after=20)
    flooder = connect("flooder", target=server)
    watcher = connect("watcher", target=server)
    flooder.drain(0.1)
    for n in range(40):
        flooder.send(p.SendText(ref=n + 1, text=f"spam {n}"))
    events = flooder.wait_closed()
    errors = [e for e in events if isinstance(e, p.Error)]
    assert {e.code for e in errors} == {p.ErrorCode.RATE_LIMITED}
    delivered_refs = {e.ref for e in events if isinstance(e, p.Delivered)}
    refused_refs = {e.ref for e in errors if e.ref}
    # Every request is either delivered or refused by name, until the kick.
    assert delivered_refs.isdisjoint(refused_refs)
    assert len(delivered_refs) + len(refused_refs) >= 20
    # The burst of 5 covers Hello and the first few messages; the rest is dropped.
    delivered = sum(isinstance(e, p.Delivered) for e in events)
    assert 3 <= delivered <= 6
    seen = watcher.drain(0.3)
    assert sum(isinstance(e, p.Delivered) for e in seen) == delivered
    assert p.UserLeft(nick="flooder", reason="flooding") in seen


def test_silent_client_is_pinged_and_dropped(make_server, connect):
    server = make_server(ping_interval=0.2, idle_timeout=0.6)
    quiet = connect("quiet", target=server)
    assert isinstance(quiet.next(), p.Ping)
    _closed_with(quiet, p.ErrorCode.PING_TIMEOUT)
    # Its nick is free again (a half-open connection no longer holds it).
    deadline = time.monotonic() + 5
    while server.hub.nicks() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert connect(target=server).hello("quiet").nick == "quiet"


def test_client_that_answers_pings_stays(make_server, connect):
    server = make_server(ping_interval=0.2, idle_timeout=0.6)
    alive = connect("alive", target=server)
    deadline = time.monotonic() + 1.5
    pings = 0
    while time.monotonic() < deadline:
        try:
            event = alive.next(0.1)
        except TimeoutError:
            continue
        assert isinstance(event, p.Ping)
        pings += 1
        alive.send(p.Pong(payload=event.payload))
    assert pings >= 2
    alive.send(p.ListUsers())
    assert alive.expect(p.UserList, skip=(p.Ping,)).nicks == ("alive",)


def test_server_full(make_server, connect):
    server = make_server(max_clients=2)
    connect("one", target=server)
    connect("two", target=server)
    third = connect(target=server)
    _closed_with(third, p.ErrorCode.SERVER_FULL)


def test_stop_says_bye_and_leaves_no_threads(make_server, connect):
    server = make_server()
    clients = [connect(f"c{i}", target=server) for i in range(5)]
    half_open = connect(target=server)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    for client in clients:
        events = client.wait_closed()
        assert p.Bye(reason="server shutting down") in events
    half_open.wait_closed()
    assert server.peer_count() == 0


def test_a_bye_is_never_refused_by_the_flood_limit(make_server, connect):
    server = make_server(rate_burst=3, rate_per_second=0.01, flood_kick_after=50)
    watcher = connect("watcher", target=server)
    leaver = connect("leaver", target=server)
    for n in range(5):  # the bucket is empty after these
        leaver.send(p.SendText(ref=n + 1, text="x"))
    leaver.send(p.Bye(reason="done"))
    leaver.wait_closed()
    left = watcher.expect(p.UserLeft, skip=(p.UserJoined, p.Delivered))
    assert (left.nick, left.reason) == ("leaver", "quit: done")
