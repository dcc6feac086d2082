"""Bybit: a fill and cancels lost in a user-stream gap reach their handles and the gate (REST, real simulator)."""

from __future__ import annotations

import pytest

from tests import stream_gap_scenario
from tests.bybit.conftest import make_venue
from venues.sim import SimExchange


@pytest.mark.parametrize("lost_closes", [2, 3], ids=["queried-by-id", "one-history-read"])
async def test_orders_closed_during_a_stream_gap_are_refreshed(sim: SimExchange, lost_closes: int) -> None:
    venue = make_venue(sim, request_timeout=2.0)

    def stream_up() -> bool:
        return venue.private_stream is not None and venue.private_stream.conn.is_up

    await stream_gap_scenario.run(sim, venue, sim.bybit.engine, stream_up, lost_closes=lost_closes)
