"""`SelectorLoop.call_soon` from other threads: everything queued runs, on
the loop's thread, in order, however the wakes interleave with its turns."""

from __future__ import annotations

import functools
import selectors
import threading
import time

from server.loop import SelectorLoop, Waker


class _Loop(SelectorLoop):
    # A call that did not wake the loop would wait this long: longer than
    # any test waits, so a lost wake fails instead of passing slowly.
    SELECT_TIMEOUT = 60.0

    def _ready(self, key: selectors.SelectorKey) -> None:  # no sockets but the waker
        raise AssertionError(key)


def _eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def test_calls_from_many_threads_all_run_in_order_on_the_loop():
    loop = _Loop("test-loop")
    loop.start()
    ran: list[tuple[int, int]] = []
    threads_seen: set[str] = set()

    def call(worker: int, n: int) -> None:
        ran.append((worker, n))
        threads_seen.add(threading.current_thread().name)

    def produce(worker: int) -> None:
        for n in range(500):
            loop.call_soon(functools.partial(call, worker, n))
            if n % 50 == 0:
                time.sleep(0.001)  # let the loop take turns in between

    producers = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    try:
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        assert _eventually(lambda: len(ran) == 2000, timeout=10.0)
    finally:
        loop.stop()
        loop.thread.join(5)
    for worker in range(4):
        assert [n for w, n in ran if w == worker] == list(range(500))
    assert threads_seen == {"test-loop"}


def test_a_wake_already_on_its_way_sends_nothing_more():
    waker = Waker()
    try:
        for _ in range(100):
            waker.wake()
        assert waker.reader.recv(4096) == b"\0"
        waker.drain()
        waker.wake()  # after the drain: a new byte
        assert waker.reader.recv(4096) == b"\0"
    finally:
        waker.close()


def test_a_call_queued_after_a_drain_wakes_the_loop_again():
    # Each call comes after the loop has drained the previous wake and gone
    # back to `select`: each must wake it (none waits for the timeout).
    loop = _Loop("test-loop")
    loop.start()
    try:
        for n in range(20):
            done = threading.Event()
            loop.call_soon(done.set)
            assert done.wait(10.0), f"call {n} did not wake the loop"
            time.sleep(0.01)
    finally:
        loop.stop()
        loop.thread.join(5)
