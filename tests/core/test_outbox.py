"""`Outbox` on its own: order, pacing, settling, refusals and the journal."""

from __future__ import annotations

import itertools

import pytest

import protocol as p
from clients.core import events as ev
from clients.core.journal import Journal
from clients.core.outbox import SEEN_SAVE_INTERVAL, Outbox
from clients.core.pacing import DEFAULT_BURST
from protocol.testing import ConnectionPair


@pytest.fixture(name="pair")
def _pair() -> ConnectionPair:
    pair = ConnectionPair()
    pair.handshake()
    return pair


def _outbox(*, limit: int = 10, journal: Journal | None = None) -> Outbox:
    refs = itertools.count(1)
    return Outbox(refs=lambda: next(refs), now=0.0, limit=limit, journal=journal)


def _on_wire(pair: ConnectionPair, data: bytes) -> list[p.Event]:
    return list(pair.server.receive_data(data))


def _add(outbox: Outbox, text: str, target: str | None = None) -> ev.Pending:
    added = outbox.add(text, target, queued=False, unreachable=False)
    assert isinstance(added, ev.Pending)
    return added


def test_control_frames_go_first_and_lines_wait_to_be_settled(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    _add(outbox, "hi all")
    outbox.queue(p.ListUsers(), p.Ping(payload=b"x"))
    sent = outbox.send(pair.client, 0.0, posts=False)
    assert [type(m) for m in _on_wire(pair, sent.data)] == [p.ListUsers, p.Ping]
    assert sent.events == []
    assert outbox.settle(None, idempotent=False) == []
    sent = outbox.send(pair.client, 0.0, posts=False)
    (line,) = _on_wire(pair, sent.data)
    assert isinstance(line, p.SendText)
    assert line.text == "hi all"
    (pending,) = sent.events
    assert isinstance(pending, ev.Pending)
    assert not pending.queued


def test_a_direct_line_and_a_post_carry_their_target(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    _add(outbox, "psst", "bob")
    (direct,) = _on_wire(pair, outbox.send(pair.client, 0.0, posts=False).data)
    assert isinstance(direct, p.SendDirect)
    assert direct.target == "bob"
    _add(outbox, "kept", "#tea")
    (post,) = _on_wire(pair, outbox.send(pair.client, 0.0, posts=True).data)
    assert isinstance(post, p.Post)
    assert (post.target, post.text, len(post.txn)) == ("#tea", "kept", p.TXN_BYTES)


def test_sending_stops_at_the_flood_limit_and_resumes_later(pair):
    outbox = _outbox(limit=100)
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    for n in range(DEFAULT_BURST * 2):
        _add(outbox, f"line {n}")
    first = _on_wire(pair, outbox.send(pair.client, 0.0, posts=False).data)
    assert 0 < len(first) < DEFAULT_BURST
    later = _on_wire(pair, outbox.send(pair.client, 60.0, posts=False).data)
    texts = [m.text for m in first + later if isinstance(m, p.SendText)]
    assert texts == [f"line {n}" for n in range(len(texts))]
    assert len(texts) > len(first)


@pytest.mark.parametrize(
    ("text", "unreachable", "limit", "problem"),
    [
        ("x" * (p.MAX_TEXT_CHARS + 1), False, 10, "the limit is"),
        ("hello", True, 10, "bob is not online"),
        ("hello", False, 0, "already wait to be sent"),
    ],
    ids=["too-long", "offline", "full"],
)
def test_a_line_that_cannot_go_is_refused_and_not_queued(
    text, unreachable, limit, problem
):
    outbox = _outbox(limit=limit)
    added = outbox.add(text, "bob", queued=True, unreachable=unreachable)
    assert isinstance(added, str)
    assert problem in added
    assert len(outbox) == 0


def test_rate_limited_lines_are_sent_again_and_the_user_told_once(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    _add(outbox, "one")
    (sent,) = _on_wire(pair, outbox.send(pair.client, 0.0, posts=False).data)
    assert isinstance(sent, p.SendText)
    error = p.Error(ref=sent.ref, code=p.ErrorCode.RATE_LIMITED, text="slow down")
    (notice,) = outbox.refused(error, 0.0) or []
    assert isinstance(notice, ev.Notice)
    assert "slow down" in notice.text
    assert outbox.send(pair.client, 0.5, posts=False).data == b""  # paused
    (again,) = _on_wire(pair, outbox.send(pair.client, 5.0, posts=False).data)
    assert isinstance(again, p.SendText)
    assert again.text == "one"
    error = p.Error(ref=again.ref, code=p.ErrorCode.RATE_LIMITED, text="slow down")
    assert outbox.refused(error, 5.0) == []
    assert len(outbox) == 1


def test_a_line_refused_for_good_is_given_up_and_other_errors_are_not_ours(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    pending = _add(outbox, "hello")
    (sent,) = _on_wire(pair, outbox.send(pair.client, 0.0, posts=False).data)
    assert isinstance(sent, p.SendText)
    other = p.Error(ref=sent.ref + 100, code=p.ErrorCode.INVALID_FIELD, text="no")
    assert outbox.refused(other, 0.0) is None
    error = p.Error(ref=sent.ref, code=p.ErrorCode.INVALID_FIELD, text="no")
    done, notice = outbox.refused(error, 0.0) or []
    assert done == ev.PendingDone(local_id=pending.local_id, delivered=False)
    assert isinstance(notice, ev.Notice)
    assert "was not delivered: no" in notice.text
    assert len(outbox) == 0


def test_a_lost_connection_drops_control_frames_and_keeps_lines(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    _add(outbox, "in flight")
    outbox.send(pair.client, 0.0, posts=False)
    outbox.queue(p.ListUsers())
    (pending,) = outbox.connection_lost()
    assert isinstance(pending, ev.Pending)
    assert pending.queued
    fresh = ConnectionPair()
    fresh.handshake()
    outbox.restart(1.0, spent=0)
    assert outbox.send(fresh.client, 1.0, posts=False).data == b""  # not settled
    outbox.settle(None, idempotent=True)
    (resent,) = _on_wire(fresh, outbox.send(fresh.client, 1.0, posts=False).data)
    assert isinstance(resent, p.SendText)
    assert resent.text == "in flight"


def test_settling_tells_what_became_of_the_lines_in_flight(pair):
    outbox = _outbox()
    outbox.restart(0.0, spent=0)
    outbox.settle(None, idempotent=False)
    _add(outbox, "first")
    _add(outbox, "second")
    outbox.send(pair.client, 0.0, posts=False)
    outbox.connection_lost()
    events = outbox.settle(1, idempotent=False)
    assert [type(e) for e in events] == [ev.PendingDone, ev.Notice]
    assert "delivered before the connection dropped" in str(events[1])
    assert len(outbox) == 1  # the second is sent again


def test_the_journal_keeps_unconfirmed_lines_for_the_next_run(tmp_path):
    journal = Journal("chat.example", 9090, "ann", directory=tmp_path)
    outbox = _outbox(journal=journal)
    _add(outbox, "later")
    current, problems = outbox.keep(7, 0.0)
    assert (current, problems) == (True, [])
    done, notice = outbox.close(kept=True)
    assert isinstance(done, ev.PendingDone)
    assert isinstance(notice, ev.Notice)
    assert "kept to send next time" in notice.text
    again = _outbox(journal=journal)
    assert again.last_seen == 7
    (waiting,) = again.waiting()
    assert isinstance(waiting, ev.Pending)
    assert waiting.text == "later"


def test_a_new_last_seen_alone_is_written_only_every_few_seconds(tmp_path):
    journal = Journal("chat.example", 9090, "ann", directory=tmp_path)
    outbox = _outbox(journal=journal)
    assert outbox.keep(1, 1.0)[0] is False
    assert outbox.keep(1, 1.0, force=True)[0] is True
    assert outbox.keep(2, 2.0)[0] is False
    assert outbox.keep(2, 2.0 + SEEN_SAVE_INTERVAL)[0] is True
    assert journal.load().last_seen == 2


def test_a_journal_that_cannot_be_written_is_reported_once(tmp_path):
    (tmp_path / "blocked").write_text("a file where a directory should be")
    journal = Journal("chat.example", 9090, "ann", directory=tmp_path / "blocked")
    outbox = _outbox(journal=journal)
    _add(outbox, "one")
    current, (problem,) = outbox.keep(None, 0.0)
    assert not current
    assert isinstance(problem, ev.Notice)
    assert problem.level is ev.NoticeLevel.ERROR
    _add(outbox, "two")
    assert outbox.keep(None, 0.0) == (False, [])
    (_, _, _, notice) = outbox.close(kept=False)
    assert isinstance(notice, ev.Notice)
    assert notice.text.startswith("not sent:")
