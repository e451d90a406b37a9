from __future__ import annotations

import pytest

import protocol as p
from protocol.constants import U16, U32


def test_protocol_error_is_abstract():
    with pytest.raises(TypeError):
        p.ProtocolError("nope")


def test_empty_body_is_malformed():
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_body(b"")
    assert not isinstance(info.value, p.InvalidMessage)


def test_unknown_type_is_refused_but_recoverable():
    with pytest.raises(p.InvalidMessage) as info:
        p.decode_body(b"\x7f")
    assert info.value.error_code is p.ErrorCode.UNKNOWN_MESSAGE_TYPE
    assert info.value.message_type == 0x7F


def test_truncated_field_is_malformed():
    body = p.encode_body(p.SendText(ref=1, text="hello"))
    with pytest.raises(p.RemoteProtocolError) as info:
        p.decode_body(body[:-1])
    assert info.value.error_code is p.ErrorCode.MALFORMED_FRAME


def test_trailing_bytes_are_malformed():
    body = p.encode_body(p.ListUsers()) + b"\x00"
    with pytest.raises(p.RemoteProtocolError, match="trailing"):
        p.decode_body(body)


def test_invalid_utf8_is_malformed():
    body = bytes([p.MessageType.SEND_TEXT]) + U32.pack(1) + U16.pack(1) + b"\xff"
    with pytest.raises(p.RemoteProtocolError):
        p.decode_body(body)


def test_bool_other_than_0_or_1_is_malformed():
    body = bytearray(p.encode_body(p.UserList(nicks=(), final=True)))
    body[-1] = 2
    with pytest.raises(p.RemoteProtocolError, match="boolean"):
        p.decode_body(bytes(body))


def test_unknown_error_code_is_malformed():
    body = bytes([p.MessageType.ERROR]) + U16.pack(999) + U16.pack(0) + U32.pack(0)
    with pytest.raises(p.RemoteProtocolError):
        p.decode_body(body)


def test_text_over_limit_is_refused_with_its_ref():
    text = "x" * (p.MAX_TEXT_CHARS + 1)
    raw = text.encode()
    body = bytes([p.MessageType.SEND_TEXT]) + U32.pack(9) + U16.pack(len(raw)) + raw
    with pytest.raises(p.InvalidMessage) as info:
        p.decode_body(body)
    assert info.value.error_code is p.ErrorCode.TEXT_TOO_LONG
    assert info.value.ref == 9


def test_limit_counts_characters_not_bytes():
    text = "é" * p.MAX_TEXT_CHARS  # 8000 UTF-8 bytes, 4000 characters
    message = p.SendText(ref=1, text=text)
    assert p.decode_body(p.encode_body(message)) == message


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: p.SendText(ref=1, text=""), "at least 1"),
        (lambda: p.SendText(ref=1, text="x" * 4001), "limit is 4000"),
        (lambda: p.SendText(ref=-1, text="x"), "ref"),
        (lambda: p.SendText(ref=2**32, text="x"), "ref"),
        (lambda: p.Ping(payload=b"x" * 65), "limit is 64"),
        (lambda: p.UserList(nicks=("a",) * 201), "limit is 200"),
        (lambda: p.SendText(ref=1, text="\ud800"), "surrogate"),
        (lambda: p.UserList(nicks=(), final=1), "bool"),  # type: ignore[arg-type]
    ],
)
def test_constructing_an_invalid_message_fails(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_lists_become_tuples():
    assert p.UserList(nicks=["a", "b"]).nicks == ("a", "b")  # type: ignore[arg-type]
