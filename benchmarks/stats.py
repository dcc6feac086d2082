"""Latency summaries for the benchmarks (microseconds)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary_us(samples_s: Sequence[float]) -> dict[str, float]:
    us = [s * 1e6 for s in samples_s]
    return {
        "n": len(us),
        "median_us": round(statistics.median(us), 1),
        "p90_us": round(percentile(us, 0.90), 1),
        "p99_us": round(percentile(us, 0.99), 1),
    }
