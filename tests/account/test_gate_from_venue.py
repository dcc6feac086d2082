"""The portfolio gate starts from the venue and follows it (issue 14), on both venues over loopback.

Seeded before the first submit from the venue's positions and open orders; kept current by every
fill of the account (ours, another client's, a liquidation's), each applied once whatever the
stream repeats or reorders; checked against the venue now and then (``PositionDrift``).
"""

from __future__ import annotations

from decimal import Decimal as D

from gateway import CommandStatus, Gateway, Side
from gateway.account import PositionDrift
from risk import PortfolioGate, RiskLimits
from tests.account.conftest import BTC, make_venue, order
from venues.sim import Fault, FaultKind, SimExchange


async def test_a_position_held_before_start_counts_and_under_halt_a_reduce_only_order_reducing_it_passes(
    sim: SimExchange, venue_name: str
) -> None:
    sim.set_position(venue_name, "BTCUSDT", "0.002", "48000")  # 0.002 x 50000 = 100 at the mark
    gate = PortfolioGate(RiskLimits(max_position_notional=D("130")))
    async with Gateway(venues=[make_venue(sim, venue_name)], gate=gate, reconcile=None) as gw:
        assert await gw.gate_positions() == {(venue_name, BTC): D("0.002")}
        refused = await gw.submit(order(venue_name, Side.BUY, "0.001", "50000"))
        receipt = refused.ack.receipt
        assert receipt.status is CommandStatus.REJECTED and receipt.native_code == "RISK"
        assert "max_position_notional" in receipt.message and "current 100" in receipt.message
        assert await gw.halt("restarted after an incident") == []
        reduce = await gw.submit(order(venue_name, Side.SELL, "0.001", "51000", reduce_only=True))
        assert reduce.ack.receipt.status is CommandStatus.ACCEPTED, reduce.ack.receipt.message
        more = await gw.submit(order(venue_name, Side.BUY, "0.001", "40000"))
        assert "halt" in more.ack.receipt.message
        # A reduce-only BUY of a long adds exposure: the gate, which holds the venue's long, refuses it.
        wrong_way = await gw.submit(order(venue_name, Side.BUY, "0.001", "40000", reduce_only=True))
        assert "kill_switch" in wrong_way.ack.receipt.message
    assert [o.client_order_id for o in sim.truth.orders(venue_name)] == [reduce.client_order_id]


async def test_resting_orders_placed_by_someone_else_count_against_open_orders_and_exposure(
    sim: SimExchange, venue_name: str
) -> None:
    sim.external_trade(venue_name, "BTCUSDT", "BUY", "0.002", "45000", client_order_id="web-7")  # 90 at its price
    gate = PortfolioGate(RiskLimits(max_open_orders=2, max_gross_exposure=D("150")))
    async with Gateway(venues=[make_venue(sim, venue_name)], gate=gate, reconcile=None) as gw:
        snap = await gate.snapshot()
        assert snap.reserved == D("90") and len(snap.reservations) == 1
        too_big = await gw.submit(order(venue_name, Side.BUY, "0.002", "49000"))  # 98: 90 + 98 > 150
        assert "max_gross_exposure" in too_big.ack.receipt.message
        fits = await gw.submit(order(venue_name, Side.BUY, "0.001", "49000"))
        assert fits.ack.receipt.status is CommandStatus.ACCEPTED
        third = await gw.submit(order(venue_name, Side.BUY, "0.001", "10000"))
        assert "max_open_orders" in third.ack.receipt.message


async def test_an_outside_fill_and_a_liquidation_move_the_gate_once_each_under_duplicates_and_reordering(
    sim: SimExchange, venue_name: str
) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")))
    async with Gateway(venues=[make_venue(sim, venue_name)], gate=gate, reconcile=None) as gw:
        mine = await gw.submit(order(venue_name, Side.BUY, "0.004"))
        assert (await mine.resolved(timeout=5)).status is CommandStatus.ACCEPTED
        await gw.wait_position(venue_name, BTC, D("0.004"), timeout=5)
        # The manual buy's NEW is sent twice; its fill is held back behind the position push that follows it.
        for kind in (FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_OUT_OF_ORDER):
            sim.faults.add(Fault(kind, venue=venue_name, symbol="BTCUSDT"))
        sim.external_trade(venue_name, "BTCUSDT", "BUY", "0.003", client_order_id="web-9")  # a manual MARKET buy
        await gw.wait_position(venue_name, BTC, D("0.007"), timeout=5)
        await gw.wait_gate_position(venue_name, BTC, D("0.007"), timeout=5)
        # Two liquidations of part of it: the first one's update twice, the second's behind its push.
        sim.faults.add(Fault(FaultKind.STREAM_DUPLICATE, venue=venue_name, symbol="BTCUSDT"))
        first = sim.liquidate(venue_name, "BTCUSDT", qty="0.003", price="41000")
        await gw.wait_position(venue_name, BTC, D("0.004"), timeout=5)
        await gw.wait_gate_position(venue_name, BTC, D("0.004"), timeout=5)
        sim.faults.add(Fault(FaultKind.STREAM_OUT_OF_ORDER, venue=venue_name, symbol="BTCUSDT"))
        second = sim.liquidate(venue_name, "BTCUSDT", qty="0.002", price="40500", adl=True)
        await gw.wait_position(venue_name, BTC, D("0.002"), timeout=5)
        await gw.wait_gate_position(venue_name, BTC, D("0.002"), timeout=5)
        assert await gw.check_positions() == []  # the venue agrees: nothing was applied twice
        assert await gw.gate_positions() == {(venue_name, BTC): D("0.002")}
    assert first.status == second.status == "FILLED" and not sim.faults.pending


async def test_a_position_changed_behind_the_gateways_back_is_a_drift_the_gate_adopts(
    sim: SimExchange, venue_name: str, tmp_path: object
) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")))
    async with Gateway(
        venues=[make_venue(sim, venue_name)], gate=gate, reconcile=None, journal=f"{tmp_path}/journal.db"
    ) as gw:
        audit: list[object] = []
        gw.bus.add_tap(audit.append)
        sim.set_position(venue_name, "BTCUSDT", "-0.01", "52000")  # no event: the gate cannot know
        assert await gw.check_positions() == []  # one sighting proves nothing: a fill may be in flight
        (drift,) = await gw.check_positions()
        assert isinstance(drift, PositionDrift) and audit == [drift]
        assert (drift.venue, drift.instrument, drift.venue_quantity, drift.gate_quantity) == (
            venue_name,
            BTC,
            D("-0.01"),
            D("0"),
        )
        assert (drift.venue_notional, drift.mark_price) == (D("-500"), D("50000"))
        assert await gw.gate_positions() == {(venue_name, BTC): D("-0.01")}
        assert await gw.check_positions() == []
