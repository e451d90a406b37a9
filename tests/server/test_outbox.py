"""Outbox on real socket pairs: immediate sends, batching, limits, closing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from server.outbox import Flusher, Outbox, batched


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


def test_overflow_calls_back_and_refuses(flusher, pair):
    ours, _theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    dropped = []
    outbox = Outbox(ours, 100_000, flusher, on_overflow=lambda: dropped.append(True))
    results = [outbox.put(b"y" * 30_000) for _ in range(20)]
    assert results[-1] is False
    assert dropped


def test_finish_sends_last_words_then_shuts_our_side(flusher, pair):
    ours, theirs = pair
    outbox = Outbox(ours, 1024, flusher)
    outbox.put(b"first ")
    outbox.finish(b"goodbye")
    assert outbox.put(b"ignored")
    assert _read_all(theirs, 13) == b"first goodbye"
    assert theirs.recv(100) == b""  # end-of-file after the last words
