"""Binance: a fill and cancels lost in a user-stream gap reach their handles and the gate (REST, real simulator)."""

from __future__ import annotations

import pytest

from tests import stream_gap_scenario
from tests.binance.conftest import make_venue
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


@pytest.mark.parametrize("lost_closes", [2, 3], ids=["queried-by-id", "one-history-read"])
async def test_orders_closed_during_a_stream_gap_are_refreshed(sim: SimExchange, lost_closes: int) -> None:
    venue = make_venue(sim, request_timeout=2.0)

    def stream_up() -> bool:
        return venue.user_stream is not None and venue.user_stream.conn.is_up

    await stream_gap_scenario.run(sim, venue, sim.binance.engine, stream_up, lost_closes=lost_closes)


async def test_the_refresh_retries_failed_and_malformed_reads(sim: SimExchange) -> None:
    venue = make_venue(sim, request_timeout=2.0)

    def stream_up() -> bool:
        return venue.user_stream is not None and venue.user_stream.conn.is_up

    faults = [
        Fault(FaultKind.MALFORMED_2XX, venue="binance", operation="query"),
        Fault(FaultKind.REJECT_THEN_5XX, venue="binance", operation="query", status=503),
        Fault(FaultKind.RATE_LIMIT, venue="binance", operation="query", retry_after_seconds=0.2),
    ]
    await stream_gap_scenario.run(sim, venue, sim.binance.engine, stream_up, lost_closes=3, read_faults=faults)
