"""Crash drill against the simulator: a child submits with BinanceUsdm through a journaled Gateway,
is SIGKILLed at a seeded point, and the next start recovers and reconciles everything to the
simulator's ground truth: 0 lost, 0 duplicated, every journaled create resolved to the truth.

The parent owns the simulator (a real aiohttp server on 127.0.0.1 in this test's loop); the
child reaches it through the URLs and credentials on its command line (``crash_drill.py``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.journal.crash_drill import SeedResult, campaign


def _missing() -> str | None:
    try:
        importlib.import_module("venues.binance").BinanceUsdm  # noqa: B018 - probing the attribute
        importlib.import_module("reconcile.reconciler").Reconciler  # noqa: B018
    except (ImportError, AttributeError) as exc:
        return f"needs venues.binance.BinanceUsdm and reconcile.reconciler.Reconciler: {exc}"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.sim, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]

SEEDS = list(range(50))


async def test_sigkill_then_recover_matches_the_simulator_truth(tmp_path: Path) -> None:
    results: list[SeedResult] = await campaign(SEEDS, tmp_path, parallel=2, sim=True)
    failures = [r for r in results if not r.ok]
    assert failures == [], "\n".join(
        f"seed {r.seed}: lost={r.lost} duplicated={r.duplicated} mismatched={r.mismatched} unresolved={r.unresolved}"
        for r in failures
    )
    assert sum(r.venue_orders for r in results) > 50
    assert sum(r.recovered for r in results) > 0
