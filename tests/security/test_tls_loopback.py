"""`TlsEngine` against real `ssl` clients over real loopback TCP connections.

The test thread plays the selector loop: it moves bytes between the server's
socket and the engine (`EngineServer`), while the client runs the stdlib's
blocking `SSLSocket` in a worker thread.
"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme

import protocol as p
from clients.core.trust import FirstSeen, KnownServers, Trusted, fingerprint_of
from server.tls import (
    CertPaths,
    ReloadableContext,
    TlsEngine,
    TlsProtocolError,
    classify_first_byte,
    ensure_certificate,
    fingerprint_file,
    server_context,
)
from tests.security.loopback import HANG_GUARD, EngineServer, socket_pair

pytestmark = pytest.mark.integration


@pytest.fixture(name="pair")
def _pair(tmp_path: Path) -> CertPaths:
    return ensure_certificate(
        tmp_path, ["chat.example.org", "localhost", "127.0.0.1", "::1"]
    )


def strict_client_trusting(pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pem)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def ssl_client(
    sock: socket.socket,
    context: ssl.SSLContext,
    hostname: str,
    message: bytes,
    expect: int,
) -> tuple[bytes, bytes, str | None]:
    """A plain stdlib TLS client: handshake, send, read `expect` bytes."""
    with context.wrap_socket(sock, server_hostname=hostname) as tls:
        tls.sendall(message)
        received = b""
        while len(received) < expect:
            chunk = tls.recv(expect - len(received))
            if not chunk:
                break
            received += chunk
        return received, tls.getpeercert(binary_form=True) or b"", tls.version()


def exchange(
    server_context_: ssl.SSLContext, client_context: ssl.SSLContext, hostname: str
) -> tuple[bytes, str | None, TlsEngine]:
    """One connection: client says ping, the engine-backed server says pong."""
    with socket_pair() as (client_sock, server_sock), ThreadPoolExecutor(1) as pool:
        engine = TlsEngine(server_context_)
        server = EngineServer(server_sock, engine)
        future = pool.submit(
            ssl_client, client_sock, client_context, hostname, b"ping", 4
        )
        assert server.take(4) == b"ping"
        assert engine.handshake_done
        server.send(b"pong")
        received, peer_der, version = future.result(timeout=HANG_GUARD)
    assert received == b"pong"
    assert version == engine.version
    return peer_der, version, engine


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "chat.example.org"])
def test_strict_client_verifies_the_self_signed_certificate(pair, hostname):
    peer_der, version, _ = exchange(
        server_context(pair.cert_file, pair.key_file),
        strict_client_trusting(pair.cert_file.read_text()),
        hostname,
    )
    assert fingerprint_of(peer_der) == pair.fingerprint
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_a_name_not_in_the_certificate_is_refused_by_the_client(pair):
    with socket_pair() as (client_sock, server_sock), ThreadPoolExecutor(1) as pool:
        server = EngineServer(
            server_sock, TlsEngine(server_context(pair.cert_file, pair.key_file))
        )
        client = strict_client_trusting(pair.cert_file.read_text())
        future = pool.submit(
            ssl_client, client_sock, client, "elsewhere.example", b"x", 1
        )
        with pytest.raises(TlsProtocolError, match="rejected this certificate"):
            server.run_until(lambda: False)
        server.flush()
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            future.result(timeout=HANG_GUARD)


def test_a_tls12_client_works_too(pair):
    client = strict_client_trusting(pair.cert_file.read_text())
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    _, version, _ = exchange(
        server_context(pair.cert_file, pair.key_file), client, "localhost"
    )
    assert version == "TLSv1.2"


def test_lets_encrypt_style_chain_just_works(tmp_path):
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert("localhost", "127.0.0.1")
    chain = tmp_path / "fullchain.pem"
    key = tmp_path / "privkey.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))

    client = ssl.create_default_context()
    ca.configure_trust(client)  # the root only: the server must send the intermediate
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    peer_der, _, _ = exchange(server_context(chain, key), client, "localhost")
    assert fingerprint_of(peer_der) == fingerprint_file(chain)


def test_pinning_client_with_the_known_servers_file(tmp_path, pair):
    """What a client with no CA for the server does: TOFU on the fingerprint."""
    known = KnownServers(tmp_path / "known_servers")
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    context = server_context(pair.cert_file, pair.key_file)

    peer_der, _, _ = exchange(context, client, "localhost")
    state = known.check("localhost", 9090, fingerprint_of(peer_der))
    assert state == FirstSeen(pair.fingerprint)
    known.pin("localhost", 9090, state.fingerprint)

    peer_der, _, _ = exchange(context, client, "localhost")
    assert known.check("localhost", 9090, fingerprint_of(peer_der)) == Trusted(
        pair.fingerprint
    )


def _client_hello(context: ssl.SSLContext) -> tuple[TlsEngine, bytes]:
    client = TlsEngine(context, server_side=False, server_hostname="localhost")
    client.receive(b"")
    return client, client.outgoing()


def test_half_a_client_hello_then_silence_just_waits(pair):
    _, hello = _client_hello(strict_client_trusting(pair.cert_file.read_text()))
    with socket_pair() as (client_sock, server_sock):
        engine = TlsEngine(server_context(pair.cert_file, pair.key_file))
        server = EngineServer(server_sock, engine)
        client_sock.sendall(hello[: len(hello) // 2])
        assert server.step(HANG_GUARD)  # the half arrives and is fed in
        assert not engine.handshake_done
        assert engine.failure is None
        assert engine.outgoing() == b""
        assert not server.step(0.2)  # nothing more comes; the engine is not stuck
        client_sock.close()  # the client gives up
        server.run_until(lambda: False)
        assert server.eof
        assert engine.failure is None  # no error: timing out is the caller's job


def test_a_client_hello_split_across_sends_completes(pair):
    client, hello = _client_hello(strict_client_trusting(pair.cert_file.read_text()))
    with socket_pair() as (client_sock, server_sock):
        engine = TlsEngine(server_context(pair.cert_file, pair.key_file))
        server = EngineServer(server_sock, engine)
        client_sock.sendall(hello[:40])
        assert server.step(HANG_GUARD)
        assert engine.outgoing() == b""
        client_sock.sendall(hello[40:])
        client_sock.settimeout(0.05)
        deadline = time.monotonic() + HANG_GUARD
        while not (engine.handshake_done and client.handshake_done):
            assert time.monotonic() < deadline, "handshake stuck"
            server.step(0.01)
            try:
                data = client_sock.recv(65536)
            except TimeoutError:
                data = b""
            client.receive(data)
            client_sock.sendall(client.outgoing())
        client_sock.sendall(client.send(b"hello over a split hello"))
        assert server.take(24) == b"hello over a split hello"


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x16\x03\x01\x00\x04junk" + b"\x00" * 64,
    ],
)
def test_garbage_from_a_real_socket_is_a_clean_error(pair, garbage):
    with socket_pair() as (client_sock, server_sock):
        engine = TlsEngine(server_context(pair.cert_file, pair.key_file))
        server = EngineServer(server_sock, engine)
        client_sock.sendall(garbage)
        with pytest.raises(TlsProtocolError):
            server.run_until(lambda: False)
        server.flush()  # the alert, if any, as a real server would
        server_sock.close()
        received = b""
        while chunk := client_sock.recv(4096):
            received += chunk
        assert engine.failure is not None
        assert b"HTTP" not in received  # only TLS alert bytes, or nothing


def test_first_byte_peek_leaves_the_bytes_for_the_engine(pair):
    """The single-port design: peek, classify, then hand everything to TLS."""
    client_context = strict_client_trusting(pair.cert_file.read_text())
    with socket_pair() as (client_sock, server_sock), ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            ssl_client, client_sock, client_context, "localhost", b"hi", 2
        )
        first = server_sock.recv(1, socket.MSG_PEEK)
        assert classify_first_byte(first[0]) == "tls"
        server = EngineServer(
            server_sock, TlsEngine(server_context(pair.cert_file, pair.key_file))
        )
        assert server.take(2) == b"hi"
        server.send(b"ok")
        assert future.result(timeout=HANG_GUARD)[0] == b"ok"
    with socket_pair() as (client_sock, server_sock):
        client_sock.sendall(
            p.encode_frame(p.Hello(version=2, client_name="t", nick="bob"))
        )
        first = server_sock.recv(1, socket.MSG_PEEK)
        assert classify_first_byte(first[0]) == "plain"


def test_reload_serves_new_connections_and_spares_open_ones(tmp_path, pair):
    holder = ReloadableContext(pair.cert_file, pair.key_file)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    with socket_pair() as (old_client, old_server_sock):
        old_tls = client_context.wrap_socket(old_client, do_handshake_on_connect=False)
        old_server = EngineServer(old_server_sock, TlsEngine(holder.context))
        with ThreadPoolExecutor(1) as pool:
            handshake = pool.submit(old_tls.do_handshake)
            old_server.run_until(lambda: old_server.engine.handshake_done)
            handshake.result(timeout=HANG_GUARD)

        renewed = ensure_certificate(tmp_path / "renewed", ["localhost"])
        pair.cert_file.write_bytes(renewed.cert_file.read_bytes())
        pair.key_file.write_bytes(renewed.key_file.read_bytes())
        assert holder.reload().changed

        peer_der, _, _ = exchange(holder.context, client_context, "localhost")
        assert fingerprint_of(peer_der) == renewed.fingerprint

        old_tls.sendall(b"still here")  # the open connection is unaffected
        assert old_server.take(10) == b"still here"
        assert (
            fingerprint_of(old_tls.getpeercert(binary_form=True) or b"")
            == pair.fingerprint
        )
        old_tls.close()
