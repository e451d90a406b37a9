"""Trust on first use, as the session applies it to what the transport saw."""

from __future__ import annotations

import random

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.formatting import status_text
from clients.core.session import ChatSession, TrustSettings
from clients.core.testing import ManualClock
from clients.core.tls import TlsInfo
from clients.core.trust import KnownServers

FP = ":".join(["AB"] * 32)
OTHER = ":".join(["CD"] * 32)


@pytest.fixture(name="known")
def _known(tmp_path) -> KnownServers:
    return KnownServers(tmp_path / "known_servers")


def _session(known: KnownServers, *, trust_new: bool = False) -> ChatSession:
    session = ChatSession(
        nick="ann",
        server="chat.example:9090",
        clock=ManualClock(),
        rng=random.Random(1),
        trust=TrustSettings(
            known=known, host="chat.example", port=9090, trust_new=trust_new
        ),
    )
    session.start()
    return session


def _sent(data: bytes) -> list[p.Event]:
    return list(p.Connection(p.Role.SERVER).receive_data(data))


def test_a_first_seen_certificate_is_asked_about_and_pinned_on_yes(known):
    session = _session(known)
    out = session.connected(TlsInfo(FP, verified=False, version="TLSv1.3"))
    assert out.data == b""
    (question,) = out.events
    assert isinstance(question, ev.TrustQuestion)
    assert FP in question.text
    out = session.answer_trust(True)
    hello, _identify = _sent(out.data)
    assert isinstance(hello, p.Hello)
    assert known.pinned("chat.example", 9090) == FP


def test_a_pinned_certificate_goes_straight_on(known):
    known.pin("chat.example", 9090, FP)
    session = _session(known)
    out = session.connected(TlsInfo(FP, verified=False, version="TLSv1.3"))
    assert isinstance(_sent(out.data)[0], p.Hello)


def test_a_changed_certificate_is_refused_loudly_and_never_retried(known):
    known.pin("chat.example", 9090, FP)
    session = _session(known)
    out = session.connected(TlsInfo(OTHER, verified=False, version="TLSv1.3"))
    assert out.data == b""
    assert out.disconnect
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    assert status.status is ev.ConnectionStatus.DISCONNECTED
    assert "HAS CHANGED" in status.detail
    assert "--forget-host" in status.detail
    assert not session.tick().connect
    assert known.pinned("chat.example", 9090) == FP


def test_trust_new_pins_without_asking(known):
    session = _session(known, trust_new=True)
    out = session.connected(TlsInfo(FP, verified=False, version="TLSv1.3"))
    assert isinstance(_sent(out.data)[0], p.Hello)
    assert known.pinned("chat.example", 9090) == FP
    assert any(isinstance(e, ev.Notice) and FP in e.text for e in out.events)


def test_no_is_final(known):
    session = _session(known)
    session.connected(TlsInfo(FP, verified=False, version="TLSv1.3"))
    out = session.answer_trust(False)
    assert out.disconnect
    assert session.status is ev.ConnectionStatus.DISCONNECTED
    assert known.pinned("chat.example", 9090) is None


def test_yes_after_the_server_gave_up_waiting_connects_again(known):
    session = _session(known)
    session.connected(TlsInfo(FP, verified=False, version="TLSv1.3"))
    assert session.closed("the server closed the connection").events == []
    out = session.answer_trust(True)
    assert out.connect
    assert known.pinned("chat.example", 9090) == FP


def test_a_certificate_a_ca_vouches_for_needs_no_pin(known):
    session = _session(known)
    out = session.connected(TlsInfo(OTHER, verified=True, version="TLSv1.3"))
    assert isinstance(_sent(out.data)[0], p.Hello)
    assert known.pinned("chat.example", 9090) is None


@pytest.mark.parametrize(
    ("tls", "shown"), [(None, "not encrypted"), (TlsInfo(FP, True, "TLSv1.3"), "")]
)
def test_the_status_says_when_the_connection_is_not_encrypted(known, tls, shown):
    known.pin("chat.example", 9090, FP)
    session = _session(known)
    server = p.Connection(p.Role.SERVER)
    list(server.receive_data(session.connected(tls).data))
    out = session.received(
        server.send(p.Welcome(version=1, nick="ann", server_name="t"))
    )
    (status,) = [e for e in out.events if isinstance(e, ev.ConnectionChanged)]
    text = status_text(status)
    assert ("not encrypted" in text) is bool(shown)
