"""The client transport over real TLS, against small TLS servers on 127.0.0.1."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from clients.core.transport import (
    Closed,
    Connected,
    DataReceived,
    Transport,
    TransportEvent,
)
from clients.core.trust import fingerprint_of

pytestmark = pytest.mark.integration


class EchoServer:
    """Accepts one connection at a time and echoes what it reads."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(2)
            conn = raw
            try:
                if self.context:
                    conn = self.context.wrap_socket(raw, server_side=True)
                while data := conn.recv(65536):
                    conn.sendall(data)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()
                raw.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.listener.close()


@pytest.fixture(name="authority")
def _authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(name="tls_server")
def _tls_server(authority) -> Iterator[tuple[EchoServer, bytes]]:
    cert = authority.issue_cert("localhost", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    server = EchoServer(context)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    yield server, der
    server.stop()


def _events(
    transport: Transport, inbox: queue.SimpleQueue[TransportEvent], count: int
) -> list[TransportEvent]:
    events = [inbox.get(timeout=5) for _ in range(count)]
    assert all(e.transport_id == transport.id for e in events)
    return events


def test_an_unknown_certificate_is_reported_with_its_fingerprint(tls_server):
    server, der = tls_server
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    transport = Transport("127.0.0.1", server.port, inbox.put, secure=True)
    transport.start()
    try:
        (connected,) = _events(transport, inbox, 1)
        assert isinstance(connected, Connected)
        assert connected.tls is not None
        assert not connected.tls.verified
        assert connected.tls.fingerprint == fingerprint_of(der)
        transport.send(b"over tls")
        received = b""
        while len(received) < 8:
            event = inbox.get(timeout=5)
            assert isinstance(event, DataReceived)
            received += event.data
        assert received == b"over tls"
    finally:
        transport.close()


def test_a_certificate_from_a_trusted_authority_is_verified(
    tls_server, authority, tmp_path, monkeypatch
):
    server, _ = tls_server
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    transport = Transport("localhost", server.port, inbox.put, secure=True)
    transport.start()
    try:
        (connected,) = _events(transport, inbox, 1)
        assert connected.tls.verified
    finally:
        transport.close()


def test_a_server_without_tls_is_a_final_error():
    server = EchoServer(None)
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    transport = Transport("127.0.0.1", server.port, inbox.put, secure=True)
    transport.start()
    try:
        (closed,) = _events(transport, inbox, 1)
        assert isinstance(closed, Closed)
        assert closed.fatal
        assert "TLS handshake failed" in closed.reason
    finally:
        transport.close()
        server.stop()
