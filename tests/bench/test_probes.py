"""The load generators' latency probes are spread over the joining order."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from bench.loadgen import probe_indexes


def test_twenty_probes_among_a_thousand_cover_the_whole_order() -> None:
    chosen = sorted(probe_indexes(1000, 20))
    assert len(chosen) == 20
    assert chosen[0] == 0
    assert chosen[-1] >= 950  # a copy sent last is timed too
    assert all(b - a == 50 for a, b in itertools.pairwise(chosen))


@given(
    st.integers(min_value=0, max_value=5000), st.integers(min_value=0, max_value=100)
)
def test_as_many_probes_as_asked_for_and_all_of_them_clients(
    count: int, probes: int
) -> None:
    chosen = probe_indexes(count, probes)
    assert len(chosen) == min(count, probes)
    assert all(0 <= index < count for index in chosen)
