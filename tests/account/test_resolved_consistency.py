"""``resolved()`` returns a fill only once the gate's exposure includes it (issue 14), on both venues.

The gate's bookkeeping runs on its own task, off the event path; a ledger held shut here makes
the ordering visible without any timing: ``resolved()`` must still be waiting while the ledger has
not applied the fill, and the position is there the moment it returns.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from gateway import CommandStatus, Gateway, OrderState, Side, Transport
from reconcile import ReconcilePolicy
from risk import InMemoryLedger, PortfolioGate, RiskLimits
from risk.ledger import VenueOrder
from tests.account.conftest import BTC, make_venue, order
from venues.sim import Fault, FaultKind, SimExchange


class HeldLedger(InMemoryLedger):
    """An in-process ledger whose fills wait until ``release`` is set (``holding`` says one is waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def _hold(self) -> None:
        self.holding.set()
        await self.release.wait()

    async def apply_fill(self, command_id: str, cumulative_qty: D, cumulative_notional: D) -> None:
        await self._hold()
        await super().apply_fill(command_id, cumulative_qty, cumulative_notional)

    async def venue_order(self, order: VenueOrder, *, now: float, ttl: float) -> str:
        if order.cumulative_qty:
            await self._hold()
        return await super().venue_order(order, now=now, ttl=ttl)


async def test_resolved_waits_for_the_gate_to_apply_the_fill_it_returns(sim: SimExchange, venue_name: str) -> None:
    ledger = HeldLedger()
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    venue = make_venue(sim, venue_name, request_timeout=1.0)
    policy = ReconcilePolicy(grace_seconds=0.5, interval_seconds=0.1)
    if venue_name == "bybit":
        # Bybit only acks a create: let its answer be lost, so the fill comes back through reconciliation.
        sim.faults.add(Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue="bybit", transport="rest"))
    async with Gateway(venues=[venue], gate=gate, reconcile=policy) as gw:
        handle = await gw.submit(order(venue_name, Side.BUY, "0.002").model_copy(update={"transport": Transport.REST}))
        waiting = asyncio.ensure_future(handle.resolved(timeout=10))
        await ledger.holding.wait()  # the gate is applying the fill now, and is held
        assert handle._current_resolution() is not None and not waiting.done()
        await asyncio.sleep(0)  # give resolved() every chance to return early
        assert not waiting.done()
        ledger.release.set()
        receipt = await waiting
        assert (await ledger.snapshot()).quantities == {(venue_name, BTC): D("0.002")}
    assert receipt.status is CommandStatus.ACCEPTED and receipt.order_state is OrderState.FILLED
