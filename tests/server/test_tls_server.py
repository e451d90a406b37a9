"""The server's TLS on a real socket: plaintext and TLS share the port."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
import trustme

import protocol as p
from clients.core import events as ev
from clients.core.launch import Security, build_client
from clients.core.transport import (
    Closed,
    Connected,
    DataReceived,
    Transport,
    TransportEvent,
)
from tests.server.conftest import FAST
from tests.wire import WireClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def _tls_connected(port: int, host: str = "127.0.0.1") -> Connected:
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    transport = Transport(host, port, inbox.put, secure=True)
    transport.start()
    try:
        event = inbox.get(timeout=5)
        assert isinstance(event, Connected), event
        return event
    finally:
        transport.close(flush=False)


def _pump(client, inbox, seconds: float) -> list[ev.UiEvent]:
    events: list[ev.UiEvent] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            events += client.handle(inbox.get(timeout=0.02))
        except queue.Empty:
            events += client.tick()
    return events


def test_tls_and_plaintext_clients_share_the_port(tmp_path, make_server):
    server = make_server(data_dir=tmp_path / "data")
    host, port = server.address
    plain = WireClient(server.address)
    plain.hello("plain")
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    secure = build_client(
        host,
        port,
        "secure",
        inbox.put,
        security=Security(
            trust_new=True,
            known_servers=tmp_path / "known",
            tokens=tmp_path / "tokens.json",
        ),
    )
    try:
        events = secure.start() + _pump(secure, inbox, 0.5)
        connected = [
            e
            for e in events
            if isinstance(e, ev.ConnectionChanged)
            and e.status is ev.ConnectionStatus.CONNECTED
        ]
        assert connected
        assert connected[-1].encrypted
        assert any(
            isinstance(e, ev.Notice) and server.fingerprint in e.text for e in events
        )
        secure.submit("hello from TLS")
        plain.send(p.SendText(ref=1, text="hello from plaintext"))
        events = _pump(secure, inbox, 0.5)
        texts = [e.text for e in events if isinstance(e, ev.ChatLine)]
        assert sorted(texts) == ["hello from TLS", "hello from plaintext"]
        seen = plain.drain(0.3)
        # Everyone sees the same order, whichever way they are connected.
        assert [m.text for m in seen if isinstance(m, p.Delivered)] == texts
    finally:
        secure.close()
        plain.close()


def test_the_client_sees_the_fingerprint_the_server_prints(tmp_path, make_server):
    server = make_server(data_dir=tmp_path / "data")
    connected = _tls_connected(server.address[1])
    assert connected.tls is not None
    assert not connected.tls.verified
    assert connected.tls.fingerprint == server.fingerprint
    # The same certificate is kept across restarts.
    again = make_server(data_dir=tmp_path / "data")
    assert again.fingerprint == server.fingerprint


def test_a_certificate_from_a_real_authority_verifies(
    tmp_path, make_server, monkeypatch
):
    authority = trustme.CA()
    leaf = authority.issue_cert("localhost", "127.0.0.1")
    chain, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    server = make_server(tls_cert=chain, tls_key=key)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    connected = _tls_connected(server.address[1], host="localhost")
    assert connected.tls.verified


def test_a_silent_tls_client_blocks_nobody_and_is_cut_off(tmp_path, make_server):
    server = make_server(data_dir=tmp_path / "data", handshake_timeout=0.5)
    silent = socket.create_connection(server.address)
    half = socket.create_connection(server.address)
    half.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]))  # a ClientHello's first bytes
    try:
        talker = WireClient(server.address)
        assert isinstance(talker.hello("talker"), p.Welcome)
        assert _tls_connected(server.address[1]).tls is not None
        talker.close()
        silent.settimeout(3)
        half.settimeout(3)
        assert silent.recv(100) is not None  # closed (b"" or last words)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and half.recv(100):
            pass
    finally:
        silent.close()
        half.close()


def test_garbage_instead_of_tls_is_refused_cleanly(tmp_path, make_server, server_log):
    server = make_server(data_dir=tmp_path / "data")
    sock = socket.create_connection(server.address)
    sock.sendall(bytes([0x16]) + b"\xff" * 200)
    sock.settimeout(3)
    try:
        while sock.recv(100):
            pass
    except OSError:
        pass
    finally:
        sock.close()
    time.sleep(0.2)
    assert not [r for r in server_log.records if r.exc_info]
    assert any("TLS failed" in r.getMessage() for r in server_log.records)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_s_client_completes_a_handshake(tmp_path, make_server):
    server = make_server(data_dir=tmp_path / "data")
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.address[1]}", "-brief"],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "CONNECTION ESTABLISHED" in output or "Protocol version" in output, output


def test_sighup_reloads_a_renewed_certificate(tmp_path):
    authority = trustme.CA()
    chain, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"

    def issue() -> None:
        leaf = authority.issue_cert("localhost", "127.0.0.1")
        chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))

    issue()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "server", "--port", "0",
            "--tls-cert", str(chain), "--tls-key", str(key),
            "--log-file", str(tmp_path / "server.log"),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")},
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(re.search(r":(\d+) ", server.stdout.readline()).group(1))
        server.stdout.readline()
        printed = server.stdout.readline().split()[-1]
        before = _tls_connected(port).tls.fingerprint
        assert before == printed
        issue()
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while _tls_connected(port).tls.fingerprint == before:
            assert time.monotonic() < deadline, "the new certificate was not served"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()


def test_config_needs_both_certificate_and_key(tmp_path):
    with pytest.raises(ValueError, match="both"):
        attrs.evolve(FAST, tls_cert=tmp_path / "c.pem")


def test_a_server_without_tls_still_serves_plaintext(make_server):
    server = make_server(tls=False)
    assert server.fingerprint is None
    client = WireClient(server.address)
    assert isinstance(client.hello("ann"), p.Welcome)
    client.close()
    inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
    transport = Transport("127.0.0.1", server.address[1], inbox.put, secure=True)
    transport.start()
    try:
        event = inbox.get(timeout=5)
        assert isinstance(event, Closed | DataReceived)
    finally:
        transport.close(flush=False)
