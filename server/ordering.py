"""`StepQueue`: the hub's ordered queue, fair between senders.

Everything the hub publishes once messages are durable waits here as a
*step*: a message to store and fan out (`history.Record`), or something to
send after the messages it must follow (an answer, a join notice, last
words). Each step names its *lanes*, the orderings it belongs to: a sender's
lane (its messages and the answers to it), the roster lane (join, leave and
rename notices, and the user lists that must agree with them). A step waits
only for earlier steps that share a lane with it; a step with no lanes is a
*barrier*, after everything before it and before everything after it.

The recorder takes steps in rounds: the first waiting step of every lane,
then the second of every lane, and so on, until the batch reaches its cost
(deliveries) or its size. So a burst one sender got in within its rate limit
is published a round at a time beside everyone else's messages (the fair
queueing of deficit round robin, with a step as the quantum).

A step's round is given once, when it is added, as start-time fair queueing
gives a packet its virtual start time: one more than the round of the step
before it in any of its lanes, or, for a lane with nothing pending, the
round now being served. The waiting steps sit in a heap by round, so a
batch costs a few operations per step it takes, however many steps wait
(thousands, under a flood of requests), and not a pass over all of them.

Quiet lanes go first, as fq_codel serves its sparse flows: when some lanes
hold a single step, which arrived when nothing else was pending in them,
and were not in the previous batch (someone chatting, not a burst), the
next batch is those steps alone, an *express* batch. A
quiet client's message then waits for the batch in progress and its own
small batch, not for a batch full of someone's burst. Express batches never
follow each other, so busy lanes move on in at least every other batch.

Message ids are given when a batch is taken, in the order it is published,
so ids still grow in the order everyone receives the messages.

Not thread-safe: the hub's lock guards it.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Callable, Hashable, Iterable

import attrs

Lane = Hashable
ROSTER: Lane = "roster"
"""The lane of everything that changes or shows who is online."""

MAX_BATCH_STEPS = 1024
MAX_BATCH_COST = 32_768
"""About this many deliveries are published per batch (at least one step):
a few tens of milliseconds of fan-out. Large batches make a sustained load
cheap: each recipient gets one write per batch, however many messages."""
FIRST_BATCH_COST = 4_096
"""The budget of a batch that starts a backlog, doubled for each batch
after it while the backlog lasts, up to `MAX_BATCH_COST` (as TCP's slow
start grows its window). A burst that begins just before a quiet message
arrives makes that message wait for a batch of this size, a few
milliseconds, rather than the largest."""


@attrs.define(slots=True, eq=False)
class _Entry:
    step: object
    lanes: frozenset[Lane] | None
    cost: int
    key: tuple[int, int, int]
    """(round, 0 for a step that goes first within its round else 1, arrival)."""
    taken: bool = False


class StepQueue:
    """Steps waiting to be published, and the batch being published.

    Args:
        first: True for steps to put first within a round (messages, so a
            round's messages go out as one group).
        max_cost: a batch stops before the step that would take it past
            this cost (but holds at least one step).
        max_steps: nor does a batch hold more steps than this.
        first_cost: the cost a batch may have when it starts a backlog.
    """

    def __init__(
        self,
        *,
        first: Callable[[object], bool] = lambda _step: True,
        max_cost: int = MAX_BATCH_COST,
        max_steps: int = MAX_BATCH_STEPS,
        first_cost: int = FIRST_BATCH_COST,
    ) -> None:
        self._first = first
        self._max_cost = max_cost
        self._first_cost = min(first_cost, max_cost)
        self._budget = self._first_cost
        self._max_steps = max_steps
        # (key, entry) of the waiting steps, and of express-taken ones not yet
        # popped; keys are unique, so entries are never compared.
        self._heap: list[tuple[tuple[int, int, int], _Entry]] = []
        self._waiting = 0
        self._taken: list[_Entry] = []
        self._arrivals = itertools.count()
        # Steps queued or taken but not yet published, per lane; and barriers.
        self._pending: collections.Counter[Lane] = collections.Counter()
        self._barriers = 0
        # The round of each lane's latest step; rounds below `_floor` are
        # closed (a barrier came after them); `_top` is the highest given.
        self._latest: dict[Lane, int] = {}
        self._floor = 0
        self._top = -1
        self._served = 0  # the highest round in the last batch
        # Steps that arrived in a lane with nothing pending: maybe quiet.
        self._quiet: list[_Entry] = []
        self._last_lanes: frozenset[Lane] = frozenset()
        self._express_last = False
        self._quiet_batch = False

    def __bool__(self) -> bool:
        """Whether anything waits or is being published."""
        return bool(self._waiting or self._taken)

    def __len__(self) -> int:
        return self._waiting

    @property
    def express(self) -> bool:
        """Whether the batch taken last holds quiet lanes' steps alone."""
        return self._quiet_batch

    def busy(self, lanes: Iterable[Lane] | None) -> bool:
        """Whether a step in `lanes` must queue (None: a barrier)."""
        if lanes is None:
            return bool(self)
        if self._barriers:
            return True
        pending = self._pending
        return any(pending[lane] for lane in lanes)

    def add(self, step: object, lanes: Iterable[Lane] | None, cost: int = 1) -> bool:
        """Queue `step` after the steps it shares a lane with.

        Returns:
            Whether it is quiet: nothing else pending in its lanes, no
            barrier before it (it may go in an express batch).
        """
        kept = None if lanes is None else frozenset(lanes)
        quiet = False
        if not kept:
            kept = None
            round_ = self._top + 1
            self._floor = round_ + 1
            self._barriers += 1
        else:
            pending = self._pending
            round_ = max(self._floor, self._now_serving())
            quiet = not self._barriers
            for lane in kept:
                if pending[lane]:
                    quiet = False
                    round_ = max(round_, self._latest[lane] + 1)
            for lane in kept:
                self._latest[lane] = round_
            pending.update(kept)
        self._top = max(self._top, round_)
        entry = _Entry(
            step,
            kept,
            max(1, cost),
            (round_, 0 if self._first(step) else 1, next(self._arrivals)),
        )
        heapq.heappush(self._heap, (entry.key, entry))
        self._waiting += 1
        if quiet:
            self._quiet.append(entry)
        return quiet

    def _head(self) -> _Entry | None:
        """The first waiting step in (round, first, arrival) order, if any
        (express-taken ones met on the way leave the heap)."""
        heap = self._heap
        while heap and heap[0][1].taken:
            heapq.heappop(heap)
        return heap[0][1] if heap else None

    def _now_serving(self) -> int:
        """The lowest round waiting, or the last one served if none waits."""
        head = self._head()
        return head.key[0] if head is not None else self._served

    def take(self) -> list[object]:
        """The next batch, in publishing order; it stays pending until `done`."""
        if self._taken:
            raise RuntimeError("the previous batch was not published")
        express = [] if self._express_last else self._sparse()
        # Quiet steps alone; when they are all that waits, that is no
        # reason to hold back the next batch's busy lanes.
        self._express_last = bool(express) and len(express) < self._waiting
        self._quiet_batch = bool(express)
        chosen = self._cut(express) if express else self._pop_batch()
        for entry in chosen:
            entry.taken = True
        self._waiting -= len(chosen)
        if self._waiting and not express:
            self._budget = min(self._max_cost, 2 * self._budget)
        else:  # the backlog is gone, or quiet lanes are being served
            self._budget = self._first_cost
        self._taken = chosen
        self._served = max([self._served, *(entry.key[0] for entry in chosen)])
        self._last_lanes = frozenset(
            lane for entry in chosen for lane in entry.lanes or ()
        )
        return [entry.step for entry in chosen]

    def _fits(self, chosen: list[_Entry], cost: int, entry: _Entry) -> bool:
        """Whether `entry` may join a batch holding `chosen` at `cost`
        (the first step always may)."""
        return not chosen or (
            cost + entry.cost <= self._budget and len(chosen) < self._max_steps
        )

    def _cut(self, entries: list[_Entry]) -> list[_Entry]:
        """The longest prefix of `entries` within the batch limits (one at least)."""
        chosen: list[_Entry] = []
        cost = 0
        for entry in entries:
            if not self._fits(chosen, cost, entry):
                break
            chosen.append(entry)
            cost += entry.cost
        return chosen

    def _pop_batch(self) -> list[_Entry]:
        """The waiting steps lowest in (round, first, arrival), within the limits."""
        chosen: list[_Entry] = []
        cost = 0
        while (entry := self._head()) is not None and self._fits(chosen, cost, entry):
            heapq.heappop(self._heap)
            chosen.append(entry)
            cost += entry.cost
        return chosen

    def _sparse(self) -> list[_Entry]:
        """The steps of quiet lanes, in publishing order: each the only step
        pending in every one of its lanes, none of which was in the previous
        batch, and no barrier before it.

        A step that arrived behind others in a lane, or that another step
        has joined since, is never quiet again and is forgotten here.
        """
        pending, last = self._pending, self._last_lanes
        kept: list[_Entry] = []
        ready: list[_Entry] = []
        for entry in self._quiet:
            lanes = entry.lanes or ()
            if entry.taken or any(pending[lane] != 1 for lane in lanes):
                continue
            kept.append(entry)
            if not any(lane in last for lane in lanes):
                ready.append(entry)
        self._quiet = kept
        ready.sort(key=lambda entry: entry.key)
        return ready

    def done(self) -> None:
        """The batch from `take` is published: its lanes move on."""
        for entry in self._taken:
            if entry.lanes is None:
                self._barriers -= 1
            else:
                self._pending.subtract(entry.lanes)
                for lane in entry.lanes:
                    if self._pending[lane] <= 0:
                        del self._pending[lane]
                        del self._latest[lane]
        self._taken = []
