"""`CertificateGate` on its own: the verdicts trust on first use leads to."""

from __future__ import annotations

import pytest

from clients.core import events as ev
from clients.core.certificates import CertificateGate, TrustSettings, Verdict
from clients.core.tls import TlsInfo
from clients.core.trust import KnownServers

FP = ":".join(["AB"] * 32)
OTHER = ":".join(["CD"] * 32)
HOST, PORT = "chat.example", 9090


@pytest.fixture(name="known")
def _known(tmp_path) -> KnownServers:
    return KnownServers(tmp_path / "known_servers")


def _gate(known: KnownServers, *, trust_new: bool = False) -> CertificateGate:
    return CertificateGate(
        TrustSettings(known=known, host=HOST, port=PORT, trust_new=trust_new)
    )


def _self_signed(fingerprint: str = FP) -> TlsInfo:
    return TlsInfo(fingerprint, verified=False, version="TLSv1.3")


@pytest.mark.parametrize(
    "tls",
    [None, TlsInfo(FP, verified=True, version="TLSv1.3")],
    ids=["plaintext", "ca-verified"],
)
def test_plaintext_and_ca_verified_connections_go_on_unasked(known, tls):
    gate = _gate(known)
    judgement = gate.judge(tls)
    assert judgement.verdict is Verdict.HELLO
    assert judgement.events == ()
    assert not gate.asking
    assert known.pinned(HOST, PORT) is None


def test_without_settings_any_certificate_is_accepted():
    judgement = CertificateGate(None).judge(_self_signed())
    assert judgement.verdict is Verdict.HELLO
    assert CertificateGate(None).answer(True).verdict is Verdict.NOTHING


def test_a_first_seen_certificate_is_asked_about_then_pinned_on_yes(known):
    gate = _gate(known)
    judgement = gate.judge(_self_signed())
    assert judgement.verdict is Verdict.ASK
    (question,) = judgement.events
    assert isinstance(question, ev.TrustQuestion)
    assert question.fingerprint == FP
    assert gate.asking
    assert gate.answer(True).verdict is Verdict.HELLO
    assert not gate.asking
    assert known.pinned(HOST, PORT) == FP


def test_no_to_the_question_refuses_and_pins_nothing(known):
    gate = _gate(known)
    gate.judge(_self_signed())
    judgement = gate.answer(False)
    assert judgement.verdict is Verdict.REFUSE
    assert "did not trust" in judgement.fatal
    assert judgement.reason == "certificate not trusted"
    assert known.pinned(HOST, PORT) is None


def test_an_answer_nobody_asked_for_does_nothing(known):
    gate = _gate(known)
    assert gate.answer(True).verdict is Verdict.NOTHING
    gate.judge(_self_signed())
    gate.answer(True)
    assert gate.answer(True).verdict is Verdict.NOTHING


def test_a_new_connection_drops_the_open_question(known):
    gate = _gate(known)
    gate.judge(_self_signed())
    known.pin(HOST, PORT, FP)
    assert gate.judge(_self_signed()).verdict is Verdict.HELLO
    assert not gate.asking


def test_trust_new_pins_without_asking_and_says_so(known):
    judgement = _gate(known, trust_new=True).judge(_self_signed())
    assert judgement.verdict is Verdict.HELLO
    assert [type(e) for e in judgement.events] == [ev.Notice]
    assert known.pinned(HOST, PORT) == FP


def test_a_changed_certificate_is_refused_with_the_way_out(known):
    known.pin(HOST, PORT, OTHER)
    judgement = _gate(known, trust_new=True).judge(_self_signed())
    assert judgement.verdict is Verdict.REFUSE
    assert judgement.reason == "the server's certificate changed"
    assert "chinwag-tui" in judgement.fatal
    assert known.pinned(HOST, PORT) == OTHER


def test_a_pin_that_cannot_be_written_still_trusts_this_connection(tmp_path):
    known = KnownServers(tmp_path / "missing-dir" / "sub" / "known_servers")
    (tmp_path / "missing-dir").write_text("a file where a directory should be")
    gate = _gate(known)
    gate.judge(_self_signed())
    judgement = gate.answer(True)
    assert judgement.verdict is Verdict.HELLO
    (problem,) = judgement.events
    assert isinstance(problem, ev.Notice)
    assert problem.level is ev.NoticeLevel.ERROR
    assert "could not remember" in problem.text
