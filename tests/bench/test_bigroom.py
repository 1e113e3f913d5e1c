"""bench/bigroom.py merges its load generators' results: histograms summed, not averaged."""

from __future__ import annotations

from typing import Any

from bench.bigroom import bucket_mid_us, merge, merged_latency, shares, source_addrs


def _go(hist: dict[int, int], max_us: int, lo: int = 10, hi: int = 10) -> dict[str, Any]:
    return {
        "latency_hist": sorted([i, n] for i, n in hist.items()),
        "latency_count": sum(hist.values()),
        "latency_sum_us": sum(bucket_mid_us(i) * n for i, n in hist.items()),
        "latency_max_us": max_us,
        "per_reader_deliveries_min": lo,
        "per_reader_deliveries_max": hi,
        "open_readers": 1,
    }


def test_bucket_middles_follow_the_load_generator() -> None:
    assert bucket_mid_us(5) == 5.0
    assert bucket_mid_us(127) == 127.0
    # 128..255 µs: buckets of 2 µs; 1,000,000 µs: a bucket of 16,384 µs around it.
    assert bucket_mid_us(128) == 129.0
    assert bucket_mid_us(191) == 255.0
    index = 128 + (19 - 6 - 1) * 64 + ((1_000_000 >> (19 - 6)) - 64)
    assert abs(bucket_mid_us(index) - 1_000_000) < 16_384


def test_percentiles_come_from_the_summed_histograms() -> None:
    # One process saw 99 fast deliveries, the other 1 fast and 100 slow ones: averaging
    # their p50s would say 50 µs; over all 200 deliveries the median is slow.
    fast, slow = 10, 127
    a = _go({fast: 99}, max_us=fast)
    b = _go({fast: 1, slow: 100}, max_us=slow)
    merged = merged_latency([a, b])
    assert merged["latency_count"] == 200
    assert merged["latency_p50_ms"] == slow / 1000
    assert merged["latency_p99_ms"] == slow / 1000
    assert merged["latency_max_ms"] == slow / 1000
    assert merged_latency([a])["latency_p99_ms"] == fast / 1000


def test_counts_are_summed_and_expected_deliveries_follow_the_sample() -> None:
    def part(joined: int, deliveries: int, lo: int, hi: int, **extra: Any) -> dict[str, Any]:
        return {
            "joined": joined,
            "deliveries": deliveries,
            "deliveries_per_s": deliveries / 10,
            "deliveries_total": deliveries,
            "error_kinds": {"join": 1},
            "errors": 1,
            "closed": 2,
            "close_codes": {"1008": 2},
            "loadgen_cpu_seconds": 1.0,
            "join_seconds": 3.0,
            "go": _go({10: deliveries}, 10, lo, hi),
            **extra,
        }

    pub = part(
        100,
        1000,
        9,
        11,
        window_seconds=10.0,
        sent=50,
        sent_total=60,
        sent_per_s=5.0,
        publish_skipped=0,
        server_cpu_seconds=5.0,
    )
    other = part(100, 1000, 8, 12)
    r = merge([other, pub], pub, every=5)
    assert r["viewers"] == 200
    assert r["expected_deliveries"] == 50 * 200 / 5
    assert r["deliveries"] == 2000 and r["delivery_ratio"] == 1.0
    assert (r["per_viewer_min"], r["per_viewer_max"]) == (8, 12)
    assert r["errors"] == 2 and r["error_kinds"] == {"join": 2}
    assert r["closed"] == 4 and r["close_codes"] == {"1008": 4}
    assert r["server_cpu_pct"] == 50.0
    assert r["loadgen_cpu_pct"] == 20.0


def test_connections_and_addresses_are_split() -> None:
    assert shares(50_000, 4) == [12_500] * 4
    assert shares(10, 3) == [4, 3, 3]
    assert source_addrs(0, 2) == "127.0.0.2,127.0.0.3"
    assert source_addrs(3, 2) == "127.0.0.8,127.0.0.9"
