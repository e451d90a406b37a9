"""Connection timing on its own: the retry schedule and the keepalive."""

from __future__ import annotations

import random

import pytest

from clients.core.reconnect import (
    HANDSHAKE_TIMEOUT,
    Alarm,
    Backoff,
    Countdown,
    Keepalive,
    RetryTimer,
)
from protocol import State


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_doubles_up_to_its_cap_with_jitter(attempt):
    backoff = Backoff(base=1.0, cap=30.0)
    ceiling = min(30.0, 2.0**attempt)
    delays = [backoff.delay(attempt, random.Random(seed)) for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


def _timer() -> RetryTimer:
    return RetryTimer(Backoff(base=4.0, cap=60.0), random.Random(7))


def test_a_retry_counts_down_in_whole_seconds_and_is_due_once():
    timer = _timer()
    retry = timer.schedule("refused", 100.0)
    assert 2 <= retry.retry_in <= 4
    assert not retry.repeated
    assert timer.scheduled
    assert timer.tick(100.0) == Countdown()  # already shown
    ticks = [timer.tick(100.0 + t / 10) for t in range(1, 10 * (retry.retry_in + 2))]
    countdown = [c.retry_in for c in ticks if c.retry_in is not None]
    assert countdown == list(range(retry.retry_in - 1, 0, -1))
    assert [c.connect for c in ticks].count(True) == 1
    assert not timer.scheduled
    assert timer.tick(300.0) == Countdown()


def test_failures_back_off_further_until_a_connection_succeeds():
    timer = _timer()
    first = timer.schedule("refused", 0.0)
    second = timer.schedule("refused", 0.0)
    third = timer.schedule("refused", 0.0)
    assert second.repeated
    assert third.retry_in > first.retry_in
    timer.succeeded()
    again = timer.schedule("refused", 0.0)
    assert not again.repeated
    assert again.retry_in <= 4


def test_a_cancelled_or_reset_timer_never_comes_due():
    timer = _timer()
    timer.schedule("refused", 0.0)
    timer.cancel()
    assert timer.tick(1000.0) == Countdown()
    timer.schedule("refused", 0.0)
    timer.reset()
    assert not timer.scheduled
    assert timer.schedule("refused", 0.0).retry_in <= 4


def test_a_silent_server_is_pinged_once_then_given_up():
    keepalive = Keepalive(ping_interval=20.0, dead_after=45.0)
    keepalive.started(0.0)
    assert keepalive.check(19.0, State.OPEN) is Alarm.NONE
    assert keepalive.check(21.0, State.OPEN) is Alarm.PING
    assert keepalive.check(30.0, State.OPEN) is Alarm.NONE
    assert keepalive.check(46.0, State.OPEN) is Alarm.DEAD


def test_hearing_from_the_server_restarts_the_silence():
    keepalive = Keepalive(ping_interval=20.0, dead_after=45.0)
    keepalive.started(0.0)
    assert keepalive.check(21.0, State.OPEN) is Alarm.PING
    keepalive.heard(40.0)
    assert keepalive.check(50.0, State.OPEN) is Alarm.NONE
    assert keepalive.check(61.0, State.OPEN) is Alarm.PING


def test_a_server_that_never_welcomes_is_given_up():
    keepalive = Keepalive(ping_interval=1.0, dead_after=2.0)
    keepalive.started(0.0)
    assert keepalive.check(HANDSHAKE_TIMEOUT, State.HELLO_SENT) is Alarm.NONE
    assert keepalive.check(HANDSHAKE_TIMEOUT + 1, State.HELLO_SENT) is Alarm.NO_WELCOME
    assert keepalive.check(100.0, State.IDLE) is Alarm.NONE
