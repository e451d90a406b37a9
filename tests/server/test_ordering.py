"""`StepQueue`: steps keep their order within a lane, barriers hold, and a
quiet lane's step is not stuck behind another lane's burst."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.ordering import StepQueue


def _drain(queue: StepQueue) -> list[list[object]]:
    batches = []
    while len(queue):
        batches.append(queue.take())
        queue.done()
    return batches


def test_a_quiet_senders_message_goes_out_ahead_of_a_burst():
    queue = StepQueue()
    for n in range(20):
        queue.add(("flood", n), ["flooder"])
    queue.add(("hello", 0), ["quiet"])
    assert _drain(queue) == [[("hello", 0)], [("flood", n) for n in range(20)]]


def test_adding_tells_whether_the_step_is_quiet():
    queue = StepQueue()
    assert queue.add("a1", ["a"]), "the first in an empty lane"
    assert not queue.add("a2", ["a"]), "behind another in its lane"
    assert queue.add("b1", ["b"])
    assert not queue.add("everyone", None), "a barrier"
    assert not queue.add("c1", ["c"]), "behind a barrier"


def test_busy_lanes_share_rounds():
    queue = StepQueue()
    for n in range(3):
        queue.add(("a", n), ["a"])
        queue.add(("b", n), ["b"])
    queue.add(("c", 0), ["c"])
    queue.add(("c", 1), ["c"])
    (batch,) = _drain(queue)
    assert batch == [
        ("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2)
    ]  # fmt: skip


def test_express_batches_never_starve_the_busy_lanes():
    # A new quiet sender before every batch: at most every other batch is an
    # express one, and the burst moves on in each of the others.
    queue = StepQueue(max_cost=2)
    for n in range(4):
        queue.add(("flood", n), ["flooder"])
    batches = []
    for quiet in range(6):
        queue.add(("quiet", quiet), [f"quiet {quiet}"])
        batches.append(queue.take())
        queue.done()
    assert batches == [
        [("quiet", 0)],
        [("flood", 0), ("quiet", 1)],
        [("quiet", 2)],
        [("flood", 1), ("quiet", 3)],
        [("quiet", 4)],
        [("flood", 2), ("quiet", 5)],
    ]


def test_a_lane_that_comes_late_joins_the_round_being_served():
    # Not the round its lane would have had at the start: b's steps go
    # beside a's next ones, not after a's whole backlog nor before it.
    queue = StepQueue(max_cost=3)
    for n in range(10):
        queue.add(("a", n), ["a"])
    assert queue.take() == [("a", 0), ("a", 1), ("a", 2)]
    queue.done()
    queue.add(("b", 0), ["b"])
    queue.add(("b", 1), ["b"])
    assert queue.take() == [("a", 3), ("b", 0), ("a", 4)]
    queue.done()
    assert queue.take() == [("b", 1), ("a", 5), ("a", 6)]
    queue.done()


def test_thousands_waiting_still_come_out_in_rounds():
    queue = StepQueue(max_cost=100)
    for n in range(20):
        for lane in range(500):
            queue.add((lane, n), [lane])
    batches = _drain(queue)
    assert all(len(batch) == 100 for batch in batches)
    flat = [step for batch in batches for step in batch]
    assert flat == [(lane, n) for n in range(20) for lane in range(500)]


def test_a_backlog_starts_with_a_small_batch_that_doubles_while_it_lasts():
    queue = StepQueue(max_cost=64, first_cost=8)
    for n in range(200):
        queue.add(n, [n % 10])
    sizes = [len(batch) for batch in _drain(queue)]
    assert sizes == [8, 16, 32, 64, 64, 16]
    for n in range(20):  # a new burst after the queue ran empty starts small
        queue.add(n, [n % 10])
    assert [len(batch) for batch in _drain(queue)] == [8, 12]


def test_while_quiet_lanes_are_served_a_burst_goes_in_small_batches():
    queue = StepQueue(max_cost=64, first_cost=8)
    for n in range(100):
        queue.add(("flood", n), ["flooder"])
    flood_batches = []
    for quiet in range(4):
        queue.add(("quiet", quiet), [f"quiet {quiet}"])
        assert queue.take() == [("quiet", quiet)]  # express
        queue.done()
        flood_batches.append(queue.take())
        queue.done()
    assert [len(batch) for batch in flood_batches] == [8, 8, 8, 8]


def test_the_queue_tells_whether_the_batch_it_gave_holds_quiet_steps_alone():
    queue = StepQueue()
    queue.add("a1", ["a"])
    assert queue.take() == ["a1"]
    assert queue.express, "a lone quiet step"
    queue.done()
    for n in range(3):
        queue.add(("flood", n), ["flooder"])
    queue.add("b1", ["b"])
    assert queue.take() == ["b1"]
    assert queue.express
    queue.done()
    assert queue.take() == [("flood", n) for n in range(3)]
    assert not queue.express
    queue.done()


def test_a_lane_just_published_is_not_quiet():
    # A sender whose last step went out in the batch before is still busy:
    # its next step takes a place in a round, not an express batch.
    queue = StepQueue()
    queue.add("a1", ["a"])
    queue.add("b1", ["b"])
    queue.add("b2", ["b"])
    assert queue.take() == ["a1"]  # express: a is quiet
    queue.done()
    queue.add("a2", ["a"])
    assert queue.take() == ["b1", "a2", "b2"]
    queue.done()
    queue.add("a3", ["a"])
    queue.add("c1", ["c"])
    assert queue.take() == ["c1"]  # c is quiet, a is not: it just went
    queue.done()


def test_a_batch_stops_at_its_cost_and_the_rest_waits_in_order():
    queue = StepQueue(max_cost=10)
    for n in range(6):
        queue.add(("a", n), ["a"], cost=4)
    batches = _drain(queue)
    assert batches == [[("a", 0), ("a", 1)], [("a", 2), ("a", 3)], [("a", 4), ("a", 5)]]


def test_one_step_goes_even_when_it_costs_more_than_a_batch():
    queue = StepQueue(max_cost=10)
    queue.add("huge", ["a"], cost=1000)
    queue.add("small", ["a"], cost=1)
    assert _drain(queue) == [["huge"], ["small"]]


def test_a_barrier_waits_for_everything_before_it_and_holds_back_everything_after():
    queue = StepQueue()
    queue.add("a1", ["a"])
    queue.add("a2", ["a"])
    queue.add("b1", ["b"])
    queue.add("everyone", None)
    queue.add("c1", ["c"])
    flat = [step for batch in _drain(queue) for step in batch]
    assert flat.index("everyone") == 3
    assert flat[-1] == "c1"


def test_a_step_in_two_lanes_waits_for_both():
    queue = StepQueue()
    queue.add("a1", ["a"])
    queue.add("a2", ["a"])
    queue.add("b1", ["b"])
    queue.add("a3+b2", ["a", "b"])
    queue.add("b3", ["b"])
    (batch,) = _drain(queue)
    assert batch == ["a1", "b1", "a2", "a3+b2", "b3"]


def test_messages_go_first_within_a_round():
    queue = StepQueue(first=lambda step: isinstance(step, tuple))
    queue.add("answer to a", ["a"])
    queue.add(("message", "b"), ["b"])
    (batch,) = [queue.take()]
    assert batch == [("message", "b"), "answer to a"]


def test_busy_tells_whether_a_step_must_queue():
    queue = StepQueue()
    assert not queue.busy(["a"])
    assert not queue.busy(None)
    queue.add("a1", ["a"])
    assert queue.busy(["a"])
    assert not queue.busy(["b"])
    assert queue.busy(None)
    queue.take()
    assert queue.busy(["a"]), "taken but not published: still pending"
    queue.done()
    assert not queue.busy(["a"])
    assert not queue


def test_a_pending_barrier_makes_every_lane_busy():
    queue = StepQueue()
    queue.add("everyone", [])
    assert queue.busy(["anyone"])
    _drain(queue)
    assert not queue.busy(["anyone"])


def test_an_empty_queue_gives_an_empty_batch():
    queue = StepQueue()
    assert queue.take() == []
    queue.done()
    queue.add("a1", ["a"])
    assert queue.take() == ["a1"]


def test_a_batch_must_be_published_before_the_next_is_taken():
    queue = StepQueue()
    queue.add("a1", ["a"])
    queue.add("a2", ["a"])
    queue.take()
    with pytest.raises(RuntimeError):
        queue.take()


_lanes = st.one_of(
    st.none(),
    st.frozensets(st.sampled_from("abcde"), min_size=1, max_size=3),
)


@given(
    steps=st.lists(st.tuples(_lanes, st.integers(1, 50)), max_size=80),
    max_cost=st.integers(1, 120),
    max_steps=st.integers(1, 20),
    added_between=st.lists(st.tuples(_lanes, st.integers(1, 50)), max_size=20),
)
def test_every_step_goes_once_and_after_all_it_must_follow(
    steps, max_cost, max_steps, added_between
):
    """Whatever the lanes, costs and limits: each step is published once,
    and never before an earlier step it shares a lane with or a barrier
    between them."""
    queue = StepQueue(max_cost=max_cost, max_steps=max_steps)
    lanes_of = {}
    for index, (lanes, cost) in enumerate(steps):
        queue.add(index, lanes, cost)
        lanes_of[index] = lanes
    published: list[int] = []
    pending_extra = list(enumerate(added_between, start=len(steps)))
    while len(queue):
        batch = queue.take()
        assert batch, "a non-empty queue always gives a step"
        published.extend(batch)  # type: ignore[arg-type]
        if pending_extra:  # new steps may arrive while a batch is published
            index, (lanes, cost) = pending_extra.pop(0)
            queue.add(index, lanes, cost)
            lanes_of[index] = lanes
        queue.done()
        assert len(published) <= len(lanes_of)
        if not len(queue) and pending_extra:
            index, (lanes, cost) = pending_extra.pop(0)
            queue.add(index, lanes, cost)
            lanes_of[index] = lanes
    assert sorted(published) == sorted(lanes_of)
    position = {step: n for n, step in enumerate(published)}
    for earlier, a in lanes_of.items():
        for later, b in lanes_of.items():
            if earlier >= later:
                continue
            if a is None or b is None or a & b:
                assert position[earlier] < position[later], (earlier, later)
    assert not queue
