"""One venue's slow reads (a rate-limit wait, retries) never hold another venue's reconciliation.

Regression for the 10,000-command campaign (issue 13): while Binance was banned, its retried
reads held the reconciler's shared read slots and the loop waited for them, so Bybit's unknown
cancels were all decided only at 31 s. Read slots are now per venue, and the background loop
starts each (venue, instrument) group without waiting for the slow ones.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from gateway.model import ReconcileTrigger
from reconcile import ReconcilePolicy, Reconciler
from tests.reconcile.conftest import VENUES, NullStream, RecordingSink, pending, wait_until
from venues.sim import SimExchange


class StuckReads:
    """A venue whose every read waits until released (as one waiting out a long ban would)."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue
        self.release = asyncio.Event()
        self.waiting = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    async def _stuck(self, *args: Any, **kw: Any) -> Any:
        self.waiting += 1
        await self.release.wait()
        return [] if kw.get("end_ms") or len(args) > 1 else None

    query_order = open_orders = order_history = trades = _stuck


async def test_a_venue_with_stuck_reads_does_not_delay_another_venue(sim: SimExchange) -> None:
    binance, bybit = VENUES["binance"](sim), VENUES["bybit"](sim)
    await binance.start(NullStream())
    await bybit.start(NullStream())
    stuck = StuckReads(binance)
    sink = RecordingSink()
    policy = ReconcilePolicy(grace_seconds=0.2, deadline_seconds=30, interval_seconds=0.05, max_concurrency=1)
    rec = Reconciler({"binance": stuck, "bybit": bybit}, policy, sink)  # type: ignore[dict-item]
    await rec.start()
    try:
        for n in range(3):  # more stuck groups than the slots a shared pool would have
            rec.track(
                pending(f"bn-{n}", ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"][n]),
                ReconcileTrigger.UNKNOWN_EXECUTION,
            )
        await wait_until(lambda: stuck.waiting >= 1)
        sim.venues["bybit"].engine.place(
            sim.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", qty=Decimal("0.001"), price=Decimal("40000"),
            client_order_id="by-1",
        )  # fmt: skip
        rec.track(pending("by-1", venue="bybit"), ReconcileTrigger.UNKNOWN_EXECUTION)
        await wait_until(lambda: sink.outcomes("by-1") == ["SYNCHRONIZED"], timeout=5)
        assert not any(sink.outcomes(f"bn-{n}") for n in range(3))  # still stuck, and nothing else held
    finally:
        stuck.release.set()
        await rec.close()
        await binance.close()
        await bybit.close()
