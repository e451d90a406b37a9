from __future__ import annotations

import pytest

import protocol as p
from protocol.constants import FRAME_HEADER


def _frames(*bodies: bytes) -> bytes:
    return b"".join(p.frame(b) for b in bodies)


def test_many_frames_in_one_chunk():
    decoder = p.FrameDecoder()
    decoder.feed(_frames(b"a", b"bc", b""))
    assert list(decoder.bodies()) == [b"a", b"bc", b""]
    assert decoder.buffered == 0


def test_frame_split_across_chunks():
    decoder = p.FrameDecoder()
    data = _frames(b"hello")
    decoder.feed(data[:2])
    assert list(decoder.bodies()) == []
    decoder.feed(data[2:6])
    assert list(decoder.bodies()) == []
    decoder.feed(data[6:])
    assert list(decoder.bodies()) == [b"hello"]


def test_oversized_header_rejected_before_body_arrives():
    decoder = p.FrameDecoder(max_frame_size=100)
    decoder.feed(p.constants.FRAME_HEADER.pack(101))
    with pytest.raises(p.FrameTooLarge) as info:
        list(decoder.bodies())
    assert info.value.error_code is p.ErrorCode.FRAME_TOO_LARGE
    assert info.value.declared == 101


def test_frame_at_the_limit_is_accepted():
    decoder = p.FrameDecoder(max_frame_size=100)
    decoder.feed(p.frame(b"x" * 100))
    assert list(decoder.bodies()) == [b"x" * 100]


def test_huge_declared_length_does_not_buffer():
    decoder = p.FrameDecoder()
    decoder.feed(b"\xff\xff\xff\xff" + b"x" * 10)
    with pytest.raises(p.FrameTooLarge):
        list(decoder.bodies())


def test_eof_inside_frame_is_an_error():
    decoder = p.FrameDecoder()
    decoder.feed(p.frame(b"hello")[:-1])
    assert list(decoder.bodies()) == []
    with pytest.raises(p.RemoteProtocolError):
        decoder.check_eof()


def test_eof_between_frames_is_fine():
    decoder = p.FrameDecoder()
    decoder.feed(p.frame(b"hello"))
    list(decoder.bodies())
    decoder.check_eof()


def test_abandoned_iteration_does_not_repeat_bodies():
    decoder = p.FrameDecoder()
    decoder.feed(_frames(b"one", b"two"))
    iterator = decoder.bodies()
    assert next(iterator) == b"one"
    iterator.close()
    assert list(decoder.bodies()) == [b"two"]


def test_has_frame_says_whether_bodies_would_yield():
    decoder = p.FrameDecoder(max_frame_size=10)
    assert not decoder.has_frame
    decoder.feed(p.frame(b"one")[:4])
    assert not decoder.has_frame
    decoder.feed(p.frame(b"one")[4:] + p.frame(b"two"))
    assert decoder.has_frame
    iterator = decoder.bodies()
    assert next(iterator) == b"one"
    iterator.close()
    assert decoder.has_frame
    assert list(decoder.bodies()) == [b"two"]
    assert not decoder.has_frame
    decoder.feed(FRAME_HEADER.pack(11))  # too large: bodies() would raise
    assert decoder.has_frame
