"""Pure functions between message objects and frame bodies.

The layout of a body is its one-byte type tag followed by the fields of the
message class in declaration order, each encoded by the codec its attrs
field carries (see `protocol.fields`). Any failure on peer bytes comes out as
a `RemoteProtocolError`; nothing else escapes `decode_body`.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs

from protocol.constants import ErrorCode, MessageType
from protocol.errors import InvalidMessage, RemoteProtocolError
from protocol.fields import CODEC_KEY, FieldCodec, FieldValueError
from protocol.framing import frame
from protocol.messages import MESSAGE_CLASSES, REGISTRY, Message

_LAYOUTS: dict[type[Message], tuple[tuple[str, FieldCodec], ...]] = {
    cls: tuple((f.name, f.metadata[CODEC_KEY]) for f in attrs.fields(cls))
    for cls in MESSAGE_CLASSES
}
"""Message class → (attribute name, codec) in wire order."""


def encode_body(message: Message) -> bytes:
    """Return the frame body (type tag + fields) for `message`."""
    out = bytearray((message.TYPE,))
    for name, codec in _LAYOUTS[type(message)]:
        codec.encode(getattr(message, name), out)
    return bytes(out)


def encode_frame(message: Message) -> bytes:
    """The whole frame (length prefix included) for `message`.

    For senders that encode once and share the bytes (a server's broadcast);
    `Connection.send` is the same plus the state-machine check.
    """
    return frame(encode_body(message))


def decode_body(body: bytes) -> Message:
    """Parse one frame body into its message.

    Raises:
        InvalidMessage: the frame is intact but refused (unknown type, a field
            over its limit); the stream can continue.
        RemoteProtocolError: the body is malformed; the stream is unusable.
    """
    if not body:
        msg = "empty frame body: no message type"
        raise RemoteProtocolError(msg)
    tag = body[0]
    try:
        cls = REGISTRY[MessageType(tag)]
    except ValueError:
        msg = f"unknown message type 0x{tag:02x}"
        raise InvalidMessage(msg, ErrorCode.UNKNOWN_MESSAGE_TYPE, tag) from None
    values: dict[str, Any] = {}
    pos = 1
    try:
        for name, codec in _LAYOUTS[cls]:
            values[name], pos = codec.decode(body, pos)
    except (struct.error, ValueError) as exc:
        msg = f"malformed {cls.__name__}: {exc}"
        raise RemoteProtocolError(msg) from exc
    if pos != len(body):
        msg = f"malformed {cls.__name__}: {len(body) - pos} unexpected trailing byte(s)"
        raise RemoteProtocolError(msg)
    try:
        return cls(**values)
    except FieldValueError as exc:
        ref = values.get("ref", 0)
        raise InvalidMessage(str(exc), exc.error_code, tag, ref) from exc
    except (ValueError, TypeError) as exc:
        ref = values.get("ref", 0)
        raise InvalidMessage(str(exc), ErrorCode.INVALID_FIELD, tag, ref) from exc
