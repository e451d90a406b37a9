"""A reader takes at most `FRAMES_PER_TURN` frames from one client per turn."""

from __future__ import annotations

import logging

import pytest

import protocol as p
from server.peer import FRAMES_PER_TURN
from tests.server.helpers import SlowRecord

pytestmark = pytest.mark.integration

BURST = 200
"""Frames in one write: many turns' worth."""


def _frames(*messages: p.Message) -> bytes:
    return b"".join(p.frame(p.encode_body(message)) for message in messages)


def _one_reader(make_server):
    """A server with one reader thread and history off, so the hub publishes
    in the order the reader handles; no flood limit gets in the way."""
    return make_server(
        reader_threads=1,
        history=False,
        rate_burst=10_000,
        rate_per_second=10_000.0,
    )


def _texts(watcher, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        event = watcher.next(timeout=5)
        if isinstance(event, p.Delivered):
            texts.append(event.text)
    return texts


def test_a_long_burst_is_handled_whole_and_in_order(make_server, connect):
    server = make_server(rate_burst=10_000, rate_per_second=10_000.0)
    watcher = connect("watcher", target=server)
    talker = connect("talker", target=server)
    burst = [p.SendText(ref=n, text=f"line {n}") for n in range(1, BURST + 1)]
    talker.send_raw(_frames(*burst))  # and nothing more: no new read wakes it
    assert _texts(watcher, BURST) == [m.text for m in burst]
    confirmed = [talker.expect(p.Delivered).ref for _ in burst]
    assert confirmed == list(range(1, BURST + 1))


def test_a_quiet_message_waits_for_a_helping_of_a_burst_not_all_of_it(
    make_server, connect, server_log
):
    """One turn, two clients: the burst's later frames go after the quiet one."""
    server = _one_reader(make_server)
    watcher = connect("watcher", target=server)
    talker = connect("talker", target=server)
    quiet = connect("quiet", target=server)
    staller = connect("staller", target=server)
    # The quiet client's last read held two frames, the talker's one: in a
    # turn that serves both, the talker is served first.
    quiet.send_raw(_frames(p.SendText(text="warm 1"), p.SendText(text="warm 2")))
    talker.send_raw(_frames(p.SendText(text="warm 3")))
    assert _texts(watcher, 3) == ["warm 1", "warm 2", "warm 3"]
    stall = SlowRecord("nick change", seconds=1.0)
    logging.getLogger("server").addHandler(stall)
    try:
        staller.send(p.ChangeNick(ref=1, nick="stalling"))
        assert stall.stalled.wait(5)
        # The one reader sleeps in its log: both writes wait for one turn.
        talker.send_raw(_frames(*(p.SendText(text=f"burst {n}") for n in range(BURST))))
        quiet.send_raw(_frames(p.SendText(text="quiet")))
        texts = _texts(watcher, BURST + 1)
    finally:
        logging.getLogger("server").removeHandler(stall)
    assert texts.index("quiet") == FRAMES_PER_TURN
    assert [t for t in texts if t != "quiet"] == [f"burst {n}" for n in range(BURST)]


def test_a_light_client_that_becomes_readable_during_a_long_turn_cuts_in(
    make_server, connect, server_log
):
    """A turn that lasts (here a reader stalled in its log) looks again for
    light clients before serving the heavy ones it listed at its start."""
    server = _one_reader(make_server)
    watcher = connect("watcher", target=server)
    heavy = connect("heavy", target=server)
    quiet = connect("quiet", target=server)
    first, second = connect("first", target=server), connect("second", target=server)
    # Appetites: the heavy client's last read held two frames, the quiet
    # one's one, and the second staller's none yet.
    heavy.send_raw(_frames(p.SendText(text="warm 1"), p.SendText(text="warm 2")))
    quiet.send_raw(_frames(p.SendText(text="warm 3")))
    assert _texts(watcher, 3) == ["warm 1", "warm 2", "warm 3"]
    stall = SlowRecord("nick change", seconds=0.5)
    logging.getLogger("server").addHandler(stall)
    try:
        first.send(p.ChangeNick(ref=1, nick="stalling"))
        assert stall.stalled.wait(5)
        stall.stalled.clear()
        # Both ready when the next turn begins: the second staller goes
        # first and stalls the reader again, the heavy client after it.
        heavy.send_raw(_frames(p.SendText(text="heavy 1"), p.SendText(text="heavy 2")))
        second.send(p.ChangeNick(ref=1, nick="stalling2"))
        assert stall.stalled.wait(5)
        quiet.send_raw(_frames(p.SendText(text="quiet")))
        texts = _texts(watcher, 3)
    finally:
        logging.getLogger("server").removeHandler(stall)
    assert texts == ["quiet", "heavy 1", "heavy 2"]
