"""Per-connection TLS memory: server/memory.py and what server/tls.py does for it.

`HeapTrimmer` calls glibc's malloc_trim after TLS handshakes, rate-limited;
the trims are real `ctypes` calls into this machine's C library, only the
clock is injected. `TlsEngine` passes bursts through its BIOs in pieces and
the server sends no session tickets. What each saves is measured in
docs/performance.md, never asserted here (RSS on a shared machine is noisy).
"""

from __future__ import annotations

import gc
import platform
import ssl
import threading
import weakref
from pathlib import Path

import pytest

import protocol as p
from server import memory
from server.memory import HeapTrimmer
from server.tls import (
    BIO_PIECE,
    CertPaths,
    TlsEngine,
    TlsProtocolError,
    ensure_certificate,
    server_context,
)
from tests.server.helpers import wait_for

GLIBC = platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")


@pytest.fixture(name="pair")
def _pair(tmp_path: Path) -> CertPaths:
    return ensure_certificate(tmp_path, ["localhost", "127.0.0.1"])


def client_context(pair: CertPaths) -> ssl.SSLContext:
    """A client trusting exactly this certificate, like a pinning Chinwag client."""
    return ssl.create_default_context(cadata=pair.cert_file.read_text())


def handshake(server: TlsEngine, client: TlsEngine) -> None:
    client.receive(b"")
    for _ in range(10):
        server.receive(client.outgoing())
        client.receive(server.outgoing())
        if server.handshake_done and client.handshake_done:
            return
    msg = "handshake did not finish in 10 round trips"
    raise AssertionError(msg)


def engines(pair: CertPaths) -> tuple[TlsEngine, TlsEngine]:
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(
        client_context(pair), server_side=False, server_hostname="localhost"
    )
    return server, client


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@needs_glibc
@pytest.mark.parametrize("library", [None, "libc.so.6"])
def test_glibc_is_found_and_trimmed(clock, library):
    trimmer = HeapTrimmer(library, clock=clock)
    assert trimmer.available
    assert trimmer.trim()
    assert trimmer.trims == 1


@needs_glibc
def test_no_trim_without_a_handshake(clock):
    trimmer = HeapTrimmer(clock=clock)
    assert not trimmer.pending
    assert not trimmer.trim_if_due()
    clock.now += 60
    assert not trimmer.trim_if_due()
    assert trimmer.trims == 0


@needs_glibc
def test_at_most_one_trim_per_interval(clock):
    trimmer = HeapTrimmer(interval=1.0, clock=clock)
    trimmer.note_freed()
    assert trimmer.trim_if_due()
    assert not trimmer.pending
    trimmer.note_freed()
    clock.now += 0.5
    assert not trimmer.trim_if_due()  # too soon: the handshake stays noted
    assert trimmer.pending
    clock.now += 0.5
    assert trimmer.trim_if_due()
    assert not trimmer.trim_if_due()  # nothing new since
    assert trimmer.trims == 2


@needs_glibc
def test_trims_from_several_threads_stay_rate_limited(clock):
    trimmer = HeapTrimmer(interval=1.0, clock=clock)
    trimmer.note_freed()
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(trimmer.trim_if_due()))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results.count(True) == 1
    assert trimmer.trims == 1


def test_a_missing_library_turns_trimming_off(clock):
    trimmer = HeapTrimmer("libchinwag-no-such-library.so.0", clock=clock)
    assert not trimmer.available
    trimmer.note_freed()
    clock.now += 60
    assert not trimmer.trim_if_due()
    assert not trimmer.trim()
    assert trimmer.trims == 0


def test_the_process_trimmer_is_one():
    assert memory.trimmer() is memory.trimmer()
    assert memory.trimmer().available == GLIBC


@needs_glibc
def test_a_finished_handshake_is_noted(pair):
    process = memory.trimmer()
    process.trim()  # clears what earlier tests noted
    assert not process.pending
    server, client = engines(pair)
    client.receive(b"")
    server.receive(client.outgoing())  # ClientHello: not finished yet
    assert not process.pending
    handshake(server, client)
    assert process.pending


# --- TlsEngine: bursts in pieces, no tickets ---------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, BIO_PIECE - 1, BIO_PIECE, BIO_PIECE + 1, 5 * BIO_PIECE + 7, 300_000]
)
def test_bursts_of_any_size_cross_both_ways_whole(pair, size):
    server, client = engines(pair)
    handshake(server, client)
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert client.receive(server.send(data)) == data
    assert server.receive(client.send(data)) == data


def test_ciphertext_cut_anywhere_gives_the_same_plaintext(pair):
    server, client = engines(pair)
    handshake(server, client)
    frames = [bytes([n % 251]) * (n * 97 % 9000) for n in range(40)]
    sealed = b"".join(client.send(frame) for frame in frames)
    cut = 3 * BIO_PIECE + 5
    got = [
        server.receive(sealed[start : start + cut])
        for start in range(0, len(sealed), cut)
    ]
    assert b"".join(got) == b"".join(frames)


def test_a_held_burst_goes_out_in_order_after_the_handshake(pair):
    server, client = engines(pair)
    early = b"e" * (3 * BIO_PIECE + 11)
    assert server.send(early) == b""
    assert server.send(b"!") == b""
    client.receive(b"")
    server.receive(client.outgoing())  # ServerHello...: not finished yet
    client.receive(server.outgoing())
    server.receive(client.outgoing())  # client Finished: the held bytes go out
    assert server.handshake_done
    assert client.receive(server.outgoing()) == early + b"!"
    assert client.receive(server.send(b"later")) == b"later"


def test_a_bad_record_inside_a_burst_fails_cleanly(pair):
    server, client = engines(pair)
    handshake(server, client)
    sealed = bytearray(client.send(b"a" * (4 * BIO_PIECE)))
    sealed[2 * BIO_PIECE] ^= 0xFF  # inside a record that is not the first
    with pytest.raises(TlsProtocolError, match="TLS data failed"):
        server.receive(bytes(sealed))
    assert server.failure is not None


def test_the_server_sends_no_session_ticket(pair):
    context = server_context(pair.cert_file, pair.key_file)
    assert context.num_tickets == 0
    server = TlsEngine(context)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context(pair).wrap_bio(
        incoming, outgoing, server_side=False, server_hostname="localhost"
    )
    for _ in range(10):
        try:
            client.do_handshake()
            break
        except ssl.SSLWantReadError:
            incoming.write(server.receive(outgoing.read()) + server.outgoing())
    assert client.version() == "TLSv1.3"
    incoming.write(server.receive(outgoing.read()) + server.send(b"hi"))
    assert client.read(10) == b"hi"  # tickets, had any come, are read by now
    assert client.session is not None
    assert not client.session.has_ticket


def test_a_closed_connection_is_freed_at_once_not_at_the_next_full_collection(
    server, connect
):
    """Peer and outbox refer to each other; closing breaks the cycle, so
    plain reference counting frees them (helps RSS after departures)."""
    client = connect()
    client.send(p.Hello(version=1, client_name="t", nick="ann"))
    assert wait_for(lambda: len(server.hub) == 1)
    (peer,) = list(server._peers)
    gone = weakref.ref(peer)
    outbox = weakref.ref(peer.outbox)
    del peer
    gc.collect()
    gc.disable()
    try:
        client.close()
        assert wait_for(lambda: server.peer_count() == 0)
        # A reader's last turn may still hold the peer's selector key until
        # its next `select` returns (at most a second).
        assert wait_for(lambda: gone() is None and outbox() is None, timeout=5.0)
    finally:
        gc.enable()
