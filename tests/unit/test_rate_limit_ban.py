"""A venue's rate-limit answer stops our sends until its wait is over: sending into a ban lengthens it.

Regression for the 10,000-command campaign (issue 13): past Binance's request weight the venue
answered 429 and then banned the IP (418, 120 s), and the gateway kept sending into the ban
(1,371 order writes and ~170 reads refused in one run), because no 429/418 wait was recorded.
Now every rate-limit answer (REST or WebSocket, write or read) records its wait, and a write
during it is refused before anything is sent (REJECTED, retriable, retry_after, safe to resubmit).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
from tests.reconcile.conftest import VENUES, wait_until
from venues.sim import Fault, FaultKind, SimExchange


def order(cid: str, venue: str, transport: Transport) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument="BTC/USDT:USDT", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.001"),
        price=Decimal("40000"), time_in_force=TimeInForce.GTC, client_order_id=cid, transport=transport,
    )  # fmt: skip


@pytest.mark.parametrize("venue_name", ["binance", "bybit"])
@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_a_write_during_the_venues_wait_is_refused_before_sending(
    gateway_sim: SimExchange, venue_name: str, transport: Transport
) -> None:
    sim = gateway_sim
    venue = VENUES[venue_name](sim)
    async with Gateway(venues=[venue], reconcile=None) as gw:
        if transport is Transport.WEBSOCKET:
            await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
        sim.faults.add(Fault(FaultKind.RATE_LIMIT, venue=venue_name, retry_after_seconds=30, status=429))
        limited = await gw.submit(order(gw.new_client_order_id(), venue_name, transport))
        first = limited.ack.receipt
        assert first.status is CommandStatus.REJECTED and first.retriable and first.retry_after
        assert venue.rate_limit().ban_left() > 0
        held = await gw.submit(order(gw.new_client_order_id(), venue_name, Transport.REST))
        receipt = held.ack.receipt
        assert receipt.status is CommandStatus.REJECTED and receipt.native_code == "RATE_LIMITED_LOCALLY"
        assert receipt.safe_to_resubmit and receipt.retriable and 0 < (receipt.retry_after or 0) <= first.retry_after
        assert "not sent" in receipt.message
        # Nothing reached the venue for the held command: no write attempt at all.
        assert sim.truth.attempts(held.command_id) == []
        assert sim.truth.order(held.command_id) is None
