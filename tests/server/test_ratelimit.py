"""The token bucket behind the flood limit, on a fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.ratelimit import TokenBucket


def _burst(bucket: TokenBucket, count: int) -> int:
    return sum(bucket.take() for _ in range(count))


def test_burst_then_refill_rate():
    bucket = TokenBucket(5, 2.0, now=0.0)
    assert _burst(bucket, 10) == 5
    bucket.refill(1.0)
    assert _burst(bucket, 10) == 2


def test_idle_client_gains_no_more_than_the_burst():
    bucket = TokenBucket(5, 10.0, now=0.0)
    bucket.refill(3600.0, late=0.001)
    assert _burst(bucket, 100) == 5


def test_jitter_allowance_is_rate_times_jitter():
    bucket = TokenBucket(5, 10.0, now=0.0, jitter=0.25)
    assert _burst(bucket, 100) == 7  # 5 + 10/s * 0.25 s = 7.5 tokens


def test_frames_that_piled_up_during_a_stall_are_not_one_burst():
    # A client at exactly the rate: one frame every 0.1 s. The server reads
    # nothing for 3 s, then all 30 frames at once.
    bucket = TokenBucket(5, 10.0, now=0.0)
    bucket.refill(3.0, late=3.0)
    assert _burst(bucket, 30) == 30
    # Without the lateness only the burst would pass.
    plain = TokenBucket(5, 10.0, now=0.0)
    plain.refill(3.0)
    assert _burst(plain, 30) == 5


def test_extra_capacity_ends_with_the_stall():
    bucket = TokenBucket(5, 10.0, now=0.0)
    bucket.refill(3.0, late=3.0)
    assert _burst(bucket, 3) == 3  # 32 tokens left, while the reader was late
    bucket.refill(3.1, late=0.0)
    assert _burst(bucket, 100) == 5


def test_costly_request_waits_for_a_full_bucket_and_leaves_a_debt():
    bucket = TokenBucket(5, 1.0, now=0.0)
    assert bucket.take(11)  # more than the capacity: allowed when full
    bucket.refill(5.0)
    assert not bucket.take()  # -6 + 5 tokens: still in debt
    bucket.refill(7.0)
    assert bucket.take()


@given(
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
    burst=st.integers(1, 30),
    rate=st.floats(0.5, 50.0),
)
def test_a_client_pacing_by_the_same_bucket_is_never_refused(gaps, burst, rate):
    """The spec's promise (12.1), with the server reading each frame on arrival."""
    client = TokenBucket(burst, rate, now=0.0)
    server = TokenBucket(burst, rate, now=0.0, jitter=0.25)
    now = 0.0
    for gap in gaps:
        now += gap
        client.refill(now)
        if not client.take():
            continue  # a pacing client waits instead of sending
        server.refill(now)
        assert server.take()
