"""Token buckets and strike counters, with an injected clock."""

from __future__ import annotations

from pchat.core.ratelimit import BucketMap, StrikeCounter, TokenBucket


def test_bucket_burst_then_rate() -> None:
    b = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == 0.5
    assert b.take(0.5) == 0.0  # one token refilled in 0.5 s


def test_bucket_map_disabled_and_forgetting() -> None:
    assert BucketMap(None, 1).take("a", 0.0) == 0.0
    m = BucketMap(1.0, 1, sweep_every=2)
    assert m.take("a", 0.0) == 0.0
    assert m.take("a", 0.0) > 0
    m.take("b", 100.0)
    m.take("b", 100.0)  # sweep: "a" is full again and forgotten
    assert len(m) == 1


def test_strikes_window() -> None:
    c = StrikeCounter(limit=2, window=10.0)
    assert not c.strike(0.0) and not c.strike(1.0)
    assert c.strike(2.0)
    later = StrikeCounter(limit=2, window=1.0)
    assert not any(later.strike(t) for t in (0.0, 2.0, 4.0, 6.0))
    assert not StrikeCounter(None, 1.0).strike(0.0)
