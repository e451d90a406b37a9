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

Quiet lanes go first, as fq_codel serves its sparse flows: when some lanes
hold a single step and were not in the previous batch (someone chatting,
not a burst), the next batch is those steps alone, an *express* batch. A
quiet client's message then waits for the batch in progress and its own
small batch, not for a batch full of someone's burst. Express batches never
follow each other, so busy lanes move on in at least every other batch.

Message ids are given when a batch is taken, in the order it is published,
so ids still grow in the order everyone receives the messages.

Not thread-safe: the hub's lock guards it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Iterable

import attrs

Lane = Hashable
ROSTER: Lane = "roster"
"""The lane of everything that changes or shows who is online."""

MAX_BATCH_STEPS = 1024
MAX_BATCH_COST = 32_768
"""About this many deliveries are published per batch (at least one step):
a few tens of milliseconds of fan-out, the most a newly arrived message
waits before its own batch starts."""
SCAN = 4096
"""Only this many of the oldest steps are looked at per batch."""


@attrs.define(slots=True)
class _Entry:
    step: object
    lanes: frozenset[Lane] | None
    cost: int


class StepQueue:
    """Steps waiting to be published, and the batch being published."""

    def __init__(
        self,
        *,
        max_cost: int = MAX_BATCH_COST,
        max_steps: int = MAX_BATCH_STEPS,
        scan: int = SCAN,
    ) -> None:
        self._max_cost = max_cost
        self._max_steps = max_steps
        self._scan = scan
        self._waiting: list[_Entry] = []
        self._taken: list[_Entry] = []
        # Steps queued or taken but not yet published, per lane; and barriers.
        self._pending: collections.Counter[Lane] = collections.Counter()
        self._barriers = 0
        self._last_lanes: frozenset[Lane] = frozenset()
        self._express_last = False

    def __bool__(self) -> bool:
        """Whether anything waits or is being published."""
        return bool(self._waiting or self._taken)

    def __len__(self) -> int:
        return len(self._waiting)

    def busy(self, lanes: Iterable[Lane] | None) -> bool:
        """Whether a step in `lanes` must queue (None: a barrier)."""
        if lanes is None:
            return bool(self)
        if self._barriers:
            return True
        pending = self._pending
        return any(pending[lane] for lane in lanes)

    def add(self, step: object, lanes: Iterable[Lane] | None, cost: int = 1) -> None:
        """Queue `step` after the steps it shares a lane with."""
        kept = None if lanes is None else frozenset(lanes)
        if kept is None or not kept:
            kept = None
            self._barriers += 1
        else:
            self._pending.update(kept)
        self._waiting.append(_Entry(step, kept, max(1, cost)))

    def take(self, first: Callable[[object], bool] | None = None) -> list[object]:
        """The next batch, in publishing order; it stays pending until `done`.

        Args:
            first: True for steps to put first within a round (messages, so
                a round's messages go out as one group).
        """
        if self._taken:
            raise RuntimeError("the previous batch was not published")
        count = min(len(self._waiting), self._scan)
        entries = self._waiting[:count]
        keys = _rounds(entries, first or (lambda _step: True))
        express = [] if self._express_last else self._sparse(entries, keys)
        self._express_last = bool(express) and len(express) < count
        order = (
            express
            if self._express_last
            else sorted(range(count), key=keys.__getitem__)
        )
        chosen: list[int] = []
        cost = 0
        for index in order:
            entry = entries[index]
            if chosen and (
                cost + entry.cost > self._max_cost or len(chosen) >= self._max_steps
            ):
                break
            chosen.append(index)
            cost += entry.cost
        taken = set(chosen)
        self._waiting[:count] = [entries[i] for i in range(count) if i not in taken]
        self._taken = [entries[i] for i in chosen]
        self._last_lanes = frozenset(
            lane for entry in self._taken for lane in entry.lanes or ()
        )
        return [entry.step for entry in self._taken]

    def _sparse(
        self, entries: list[_Entry], keys: list[tuple[int, int, int]]
    ) -> list[int]:
        """The steps of quiet lanes, in publishing order: each the only step
        pending in every one of its lanes, none of which was in the previous
        batch, and no barrier before it."""
        pending, last = self._pending, self._last_lanes
        quiet = [
            index
            for index, entry in enumerate(entries)
            if entry.lanes is not None
            and keys[index][0] == 0
            and all(pending[lane] == 1 and lane not in last for lane in entry.lanes)
        ]
        return sorted(quiet, key=keys.__getitem__)

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
        self._taken = []


def _rounds(
    entries: list[_Entry], first: Callable[[object], bool]
) -> list[tuple[int, int, int]]:
    """Each entry's sort key: (round, 0 for `first` steps else 1, position).

    A step's round is one more than the latest round among the earlier steps
    it shares a lane with; a barrier's is one more than every earlier round,
    and every later step's is more than the barrier's. Sorting by round keeps
    every step after those it must follow.
    """
    latest: dict[Lane, int] = {}
    floor = 0
    top = -1
    keys = []
    for position, entry in enumerate(entries):
        if entry.lanes is None:
            round_ = top + 1
            floor = round_ + 1
        else:
            round_ = floor
            for lane in entry.lanes:
                seen = latest.get(lane)
                if seen is not None and seen >= round_:
                    round_ = seen + 1
            for lane in entry.lanes:
                latest[lane] = round_
        top = max(top, round_)
        keys.append((round_, 0 if first(entry.step) else 1, position))
    return keys
