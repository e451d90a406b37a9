"""`Precedence`: readers stand aside while the recorder publishes quiet
clients' messages, but never for longer than they agreed to."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from server.precedence import Precedence

Held = tuple[Precedence, threading.Event, list[str]]


@contextlib.contextmanager
def _thread_in(
    block: Callable[[Precedence], contextlib.AbstractContextManager[None]], done: str
) -> Iterator[Held]:
    """A thread inside `block` until the event is set; it notes `done` as it
    leaves."""
    precedence = Precedence()
    entered, finish = threading.Event(), threading.Event()
    events: list[str] = []

    def run() -> None:
        with block(precedence):
            entered.set()
            finish.wait(10)
            events.append(done)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(10)
    try:
        yield precedence, finish, events
    finally:
        finish.set()
        thread.join(10)


@contextlib.contextmanager
def _urgent(precedence: Precedence) -> Iterator[None]:
    """A batch expedited from its start, as the recorder runs an express one."""
    with precedence.working():
        precedence.expedite()
        yield


@pytest.fixture
def holder() -> Iterator[Held]:
    """A thread in urgent work until the event is set."""
    with _thread_in(_urgent, "urgent work done") as held:
        yield held


def test_nothing_urgent_costs_no_wait():
    precedence = Precedence()
    assert not precedence.held
    assert precedence.give_way(1.0) == 0.0


def _reader_gives_way_while_it_ends(held: Held) -> list[str]:
    """A reader gives way (patiently) while the thread's work ends: what
    happened, in order."""
    precedence, finish, events = held

    def reader() -> None:
        precedence.give_way(10.0)
        events.append("gave way")

    waiter = threading.Thread(target=reader)
    waiter.start()
    time.sleep(0.05)  # long enough for a waiter that does not wait to say so
    finish.set()
    waiter.join(10)
    return events


def test_a_reader_waits_until_the_urgent_work_is_done(holder):
    assert _reader_gives_way_while_it_ends(holder) == ["urgent work done", "gave way"]


def test_a_reader_waits_no_longer_than_its_patience(holder):
    precedence, _finish, events = holder
    waited = precedence.give_way(0.05)
    assert precedence.held, "the urgent work still runs"
    assert events == []
    assert waited >= 0.04


def test_no_patience_left_means_no_wait(holder):
    precedence, _finish, _events = holder
    assert precedence.give_way(0.0) == 0.0


@pytest.fixture
def worker() -> Iterator[Held]:
    """A thread in a batch of ordinary work until the event is set."""
    with _thread_in(Precedence.working, "batch done") as held:
        yield held


def test_ordinary_work_is_not_waited_for(worker):
    precedence, _finish, events = worker
    assert not precedence.held
    assert precedence.give_way(1.0) == 0.0
    assert events == []


def test_an_expedited_batch_is_waited_for_until_it_ends(worker):
    precedence = worker[0]
    precedence.expedite()
    assert precedence.held
    assert _reader_gives_way_while_it_ends(worker) == ["batch done", "gave way"]
    assert not precedence.held, "the next batch is not expedited"


def test_an_expedited_batch_is_waited_for_no_longer_than_patience(worker):
    precedence, _finish, events = worker
    precedence.expedite()
    assert precedence.give_way(0.05) >= 0.04
    assert events == []


def test_expediting_with_no_batch_in_progress_does_nothing():
    precedence = Precedence()
    precedence.expedite()
    assert not precedence.held
    with precedence.working():
        assert not precedence.held, "an earlier call carries no debt"
