"""Hypothesis properties of the codec, the decoder and the state machine."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from protocol.constants import FRAME_HEADER
from tests.strategies import messages


@given(messages)
def test_round_trip(message):
    assert p.decode_body(p.encode_body(message)) == message


def _decode_stream(chunks, max_frame_size=p.DEFAULT_MAX_FRAME_SIZE):
    decoder = p.FrameDecoder(max_frame_size)
    out: list[p.Message] = []
    for chunk in chunks:
        decoder.feed(chunk)
        out.extend(p.decode_body(body) for body in decoder.bodies())
    return out


@given(st.lists(messages, max_size=8), st.data())
def test_stream_decodes_the_same_however_it_is_split(batch, data):
    stream = b"".join(p.frame(p.encode_body(m)) for m in batch)
    whole = _decode_stream([stream])
    assert whole == batch
    assert _decode_stream([stream[i : i + 1] for i in range(len(stream))]) == batch
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert _decode_stream(chunks) == batch


@given(st.lists(st.binary(max_size=300), max_size=10))
def test_arbitrary_bytes_give_messages_or_our_error(chunks):
    limit = 1024
    decoder = p.FrameDecoder(limit)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            for body in decoder.bodies():
                p.decode_body(body)
            # Memory stays bounded: what is left is less than one frame.
            assert decoder.buffered < FRAME_HEADER.size + limit
    except p.RemoteProtocolError:
        pass


@given(st.binary(max_size=200))
def test_arbitrary_bodies_give_a_message_or_our_error(body):
    try:
        message = p.decode_body(body)
    except p.RemoteProtocolError:
        return
    assert p.encode_body(message) == body


@given(st.sampled_from(p.State), st.sampled_from(p.Role), messages)
def test_every_move_is_legal_or_refused(state, role, message):
    conn = p.Connection(role)
    conn.state = state
    legal = (role, state, message.TYPE) in p.TRANSITIONS
    try:
        conn.send(message)
    except p.LocalProtocolError:
        assert not legal
        assert conn.state is state
    else:
        assert legal or (
            state is p.State.ERROR
            and message.TYPE in {p.MessageType.ERROR, p.MessageType.BYE}
        )

    receiver = p.Connection(p.Role.SERVER if role is p.Role.CLIENT else p.Role.CLIENT)
    receiver.state = state
    if state is p.State.ERROR:
        return
    try:
        events = list(receiver.receive_data(p.frame(p.encode_body(message))))
    except p.RemoteProtocolError:
        assert not legal
        assert receiver.state is p.State.ERROR
    else:
        assert legal
        assert events == [message]
        assert receiver.state is p.TRANSITIONS[role, state, message.TYPE]


def _take_in_helpings(conn, chunks, helpings, out):
    """Feed `chunks`, taking at most the next helping of events per turn.

    A turn with a whole frame still buffered reads nothing more, as the
    server's readers do; each turn's iterator is closed unfinished.
    """
    pending = list(chunks)
    sizes = itertools.cycle(helpings)
    while pending or conn.frames_waiting:
        data = b"" if conn.frames_waiting else pending.pop(0)
        events = conn.receive_data(data)
        out.extend(itertools.islice(events, next(sizes)))
        events.close()


_from_a_client = messages.filter(
    lambda m: (p.Role.CLIENT, p.State.OPEN, m.TYPE) in p.TRANSITIONS
)


def _outcome(take):
    """The events `take` got, how it failed (only our own error may) and the state."""
    conn = p.Connection(p.Role.SERVER)
    conn.state = p.State.OPEN
    events: list[p.Event] = []
    try:
        take(conn, events)
    except p.RemoteProtocolError as exc:
        return events, type(exc), conn.state
    assert not conn.frames_waiting
    return events, None, conn.state


@given(
    st.lists(_from_a_client, max_size=12),
    st.lists(st.integers(1, 4), min_size=1, max_size=5),
    st.data(),
)
def test_events_taken_a_few_per_turn_are_the_same_events(batch, helpings, data):
    stream = b"".join(p.frame(p.encode_body(m)) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]

    def at_once(conn, events):
        events.extend(conn.receive_data(stream))

    def a_few_per_turn(conn, events):
        _take_in_helpings(conn, chunks, helpings, events)

    assert _outcome(a_few_per_turn) == _outcome(at_once)
