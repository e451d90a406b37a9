"""Outbox on real socket pairs: immediate sends, batching, limits, closing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

import protocol as p
from server.outbox import Flusher, Outbox, OutboxBudget, Overflow, batched
from tests.server.helpers import wait_for


@pytest.fixture(name="flusher")
def _flusher() -> Iterator[Flusher]:
    flusher = Flusher()
    flusher.start()
    yield flusher
    flusher.stop()
    flusher.thread.join(1)


@pytest.fixture(name="pair")
def _pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def _read_all(sock: socket.socket, expected: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < expected and time.monotonic() < deadline:
        data += sock.recv(1 << 20)
    return data


def test_put_sends_at_once(flusher, pair):
    ours, theirs = pair
    outbox = Outbox(ours, 1024, flusher)
    assert outbox.put(b"hello")
    assert theirs.recv(100) == b"hello"
    assert outbox.pending == 0


def test_batched_writes_wait_for_the_end_and_nest(flusher, pair):
    ours, theirs = pair
    theirs.setblocking(False)
    outbox = Outbox(ours, 1024, flusher)
    with batched():
        outbox.put(b"a")
        with batched():
            outbox.put(b"b")
        outbox.put(b"c")
        with pytest.raises(BlockingIOError):
            theirs.recv(100)
    assert _read_all(theirs, 3) == b"abc"


def test_what_the_kernel_refuses_is_finished_by_the_flusher(flusher, pair):
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    outbox = Outbox(ours, 10 << 20, flusher)
    chunk = b"x" * 65536
    for _ in range(16):
        assert outbox.put(chunk)
    assert outbox.pending > 0
    assert len(_read_all(theirs, 16 * 65536)) == 16 * 65536


def _frame(size: int, fill: bytes = b"y") -> bytes:
    return p.frame(fill * size)


def _unread_pair(pair):
    """Our end of `pair`, with the kernel's buffers as small as they go."""
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return ours, theirs


def test_overflow_calls_back_and_refuses(flusher, pair):
    ours, _theirs = _unread_pair(pair)
    dropped: list[Overflow] = []
    outbox = Outbox(ours, 100_000, flusher, on_overflow=dropped.append)
    results = [outbox.put(_frame(30_000)) for _ in range(20)]
    # Refused once; after that the peer is finishing and puts are discarded.
    assert results.count(False) == 1
    assert dropped == [Overflow.OUTBOX]
    assert outbox.is_finishing()


def test_one_answer_fits_whatever_its_size(flusher, pair):
    # A UserList answer for every client can exceed the limit on its own: a
    # put that finds the backlog under the limit is always taken (spec 5.7
    # asks that the outbox hold a full answer).
    ours, _theirs = _unread_pair(pair)
    dropped: list[Overflow] = []
    outbox = Outbox(ours, 8192, flusher, on_overflow=dropped.append)
    assert outbox.put(_frame(200_000))
    assert not dropped
    assert outbox.put(_frame(10)) is False
    assert dropped == [Overflow.OUTBOX]


@pytest.fixture(name="tcp_pair")
def _tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection: unlike a socketpair, it takes partial frames."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_dropped_peer_gets_whole_frames_then_its_goodbye(flusher, tcp_pair):
    ours, theirs = tcp_pair
    # Only our side is small: a tiny receive window would make the kernel
    # trickle the rest out slowly once the client reads again.
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    goodbye = p.encode_frame(p.Error(code=p.ErrorCode.SLOW_CONSUMER, text="slow"))
    goodbye += p.encode_frame(p.Bye(reason="slow consumer"))
    dropped: list[Overflow] = []
    outbox = Outbox(ours, 50_000, flusher, on_overflow=dropped.append, goodbye=goodbye)
    frames = [_frame(7_001 + n, bytes([65 + n % 26])) for n in range(80)]
    results = [outbox.put(f) for f in frames]
    assert False in results
    accepted = frames[: results.index(False)]
    # The client reads again: a prefix of the frames it was sent, the one in
    # progress completed, then the goodbye, then end-of-file.
    theirs.settimeout(5)
    data = b""
    while chunk := theirs.recv(65536):
        data += chunk
    decoder = p.FrameDecoder()
    decoder.feed(data)
    bodies = list(decoder.bodies())
    assert decoder.buffered == 0
    *chat, error, bye = bodies
    assert chat == [f[4:] for f in accepted[: len(chat)]]
    assert len(chat) < len(accepted)  # the backlog was dropped
    assert p.decode_body(error).code is p.ErrorCode.SLOW_CONSUMER
    assert p.decode_body(bye) == p.Bye(reason="slow consumer")


def test_budget_drops_the_outbox_that_would_pass_it(flusher):
    budget = OutboxBudget(60_000)
    pairs = [_unread_pair(socket.socketpair()) for _ in range(2)]
    try:
        dropped: dict[int, list[Overflow]] = {0: [], 1: []}
        outboxes = [
            Outbox(ours, 1 << 20, flusher, budget=budget, on_overflow=dropped[i].append)
            for i, (ours, _) in enumerate(pairs)
        ]
        # Far below each one's own limit; together over the budget.
        for _ in range(10):
            assert outboxes[0].put(_frame(4_000))
        first = budget.used
        assert 0 < first <= 60_000
        results = [outboxes[1].put(_frame(4_000)) for _ in range(30)]
        assert False in results
        assert dropped == {0: [], 1: [Overflow.TOTAL]}
        assert budget.used <= 60_000
        outboxes[0].close()
        outboxes[1].close()
        assert wait_for(lambda: budget.used == 0)
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def test_finish_sends_last_words_then_shuts_our_side(flusher, pair):
    ours, theirs = pair
    outbox = Outbox(ours, 1024, flusher)
    outbox.put(b"first ")
    outbox.finish(b"goodbye")
    assert outbox.put(b"ignored")
    assert _read_all(theirs, 13) == b"first goodbye"
    assert theirs.recv(100) == b""  # end-of-file after the last words
