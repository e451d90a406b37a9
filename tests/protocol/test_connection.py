from __future__ import annotations

import pytest

import protocol as p
from protocol.testing import ConnectionPair


def test_handshake_opens_both_ends():
    pair = ConnectionPair()
    assert pair.client.state is p.State.IDLE
    pair.handshake()
    assert pair.client.state is p.State.OPEN
    assert pair.server.state is p.State.OPEN


def test_chat_flows_after_handshake():
    pair = ConnectionPair()
    pair.handshake()
    assert pair.send(pair.client, p.SendText(ref=1, text="hi")) == [
        p.SendText(ref=1, text="hi")
    ]
    delivered = p.Delivered(id=1, timestamp_ms=5, sender="ann", text="hi", ref=1)
    assert pair.send(pair.server, delivered) == [delivered]


def test_message_before_handshake_is_a_remote_error():
    server = p.Connection(p.Role.SERVER)
    data = p.frame(p.encode_body(p.SendText(ref=1, text="hi")))
    with pytest.raises(p.RemoteProtocolError) as info:
        list(server.receive_data(data))
    assert info.value.error_code is p.ErrorCode.UNEXPECTED_MESSAGE
    assert server.state is p.State.ERROR


def test_sending_out_of_turn_is_a_local_error():
    client = p.Connection(p.Role.CLIENT)
    with pytest.raises(p.LocalProtocolError):
        client.send(p.SendText(ref=1, text="hi"))
    assert client.state is p.State.IDLE


def test_server_cannot_send_client_messages():
    pair = ConnectionPair()
    pair.handshake()
    with pytest.raises(p.LocalProtocolError):
        pair.server.send(p.SendText(ref=1, text="hi"))


def test_last_words_allowed_after_error():
    server = p.Connection(p.Role.SERVER)
    with pytest.raises(p.RemoteProtocolError):
        list(server.receive_data(b"\xff\xff\xff\xff"))
    assert server.state is p.State.ERROR
    assert server.send(p.Error(code=p.ErrorCode.FRAME_TOO_LARGE, text="too big"))
    assert server.send(p.Bye(reason="bye"))
    with pytest.raises(p.LocalProtocolError):
        server.send(p.UserJoined(nick="x"))
    with pytest.raises(p.LocalProtocolError):
        server.receive_data(b"")


def test_messages_before_a_fatal_error_are_still_delivered():
    pair = ConnectionPair()
    pair.handshake()
    good = p.frame(p.encode_body(p.SendText(ref=1, text="kept")))
    received: list[p.Event] = []
    events = pair.server.receive_data(good + p.frame(b""))
    with pytest.raises(p.RemoteProtocolError):
        received.extend(events)
    assert received == [p.SendText(ref=1, text="kept")]


def test_refused_content_is_recoverable_when_open():
    pair = ConnectionPair()
    pair.handshake()
    events = list(
        pair.server.receive_data(
            p.frame(b"\x7f") + p.frame(p.encode_body(p.ListUsers()))
        )
    )
    assert isinstance(events[0], p.Rejected)
    assert events[0].code is p.ErrorCode.UNKNOWN_MESSAGE_TYPE
    assert events[1] == p.ListUsers()
    assert pair.server.state is p.State.OPEN


def test_refused_content_is_fatal_before_handshake():
    server = p.Connection(p.Role.SERVER)
    with pytest.raises(p.InvalidMessage):
        list(server.receive_data(p.frame(b"\x7f")))
    assert server.state is p.State.ERROR


def test_bye_closes():
    pair = ConnectionPair()
    pair.handshake()
    pair.send(pair.client, p.Bye(reason="done"))
    assert pair.client.state is p.State.CLOSED
    assert pair.server.state is p.State.CLOSED


def test_eof_inside_frame_is_error_between_frames_is_closed():
    pair = ConnectionPair()
    pair.handshake()
    pair.server.receive_eof()
    assert pair.server.state is p.State.CLOSED
    other = p.Connection(p.Role.SERVER)
    list(other.receive_data(b"\x00\x00"))
    with pytest.raises(p.RemoteProtocolError):
        other.receive_eof()
    assert other.state is p.State.ERROR


def test_error_frames_do_not_change_state():
    pair = ConnectionPair()
    pair.send(pair.client, p.Hello(version=1, client_name="c", nick="ann"))
    pair.send(pair.server, p.Error(code=p.ErrorCode.INVALID_NICK, text="bad"))
    assert pair.client.state is p.State.HELLO_SENT


def test_frames_in_flight_after_our_bye_are_accepted():
    pair = ConnectionPair()
    pair.handshake()
    late = pair.server.send(p.UserJoined(nick="bob"))
    pair.send(pair.client, p.Bye(reason="bye"))
    assert list(pair.client.receive_data(late)) == [p.UserJoined(nick="bob")]


def test_frames_after_the_peers_bye_are_a_violation():
    pair = ConnectionPair()
    pair.handshake()
    pair.send(pair.server, p.Bye(reason="bye"))
    data = p.frame(p.encode_body(p.UserJoined(nick="bob")))
    with pytest.raises(p.RemoteProtocolError):
        list(pair.client.receive_data(data))


def test_a_bye_with_an_over_long_reason_still_closes():
    pair = ConnectionPair()
    pair.handshake()
    body = bytes([p.MessageType.BYE]) + (401).to_bytes(2, "big") + b"x" * 401
    events = list(pair.server.receive_data(p.frame(body)))
    assert events == [p.Bye(reason="")]
    assert pair.server.state is p.State.CLOSED


def test_identify_may_follow_hello_before_welcome():
    pair = ConnectionPair()
    pair.send(pair.client, p.Hello(version=2, client_name="t", nick="ann"))
    events = pair.send(pair.client, p.Identify(token=b"x" * 16))
    assert events == [p.Identify(token=b"x" * 16)]
    assert pair.server.state is p.State.HELLO_SENT
    pair.send(pair.server, p.Welcome(version=2, nick="ann", server_name="s"))
    with pytest.raises(p.LocalProtocolError):
        pair.client.send(p.Identify())
