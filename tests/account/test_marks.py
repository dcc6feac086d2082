"""Live reference prices (issue 14): a MARKET order is checked at the venue's current mark, never a stale one."""

from __future__ import annotations

from decimal import Decimal as D

from gateway import CommandStatus, Gateway, Side
from risk import PortfolioGate, RiskLimits
from tests.account.conftest import BTC, make_venue, order
from venues.marks import MarkBook
from venues.sim import SimExchange


async def test_a_market_order_is_checked_against_the_mark_the_stream_just_moved(
    sim: SimExchange, venue_name: str
) -> None:
    gate = PortfolioGate(RiskLimits(max_notional_per_order=D("60"), max_position_notional=D("80")))
    venue = make_venue(sim, venue_name)
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        resting = await gw.submit(order(venue_name, Side.BUY, "0.001", "30000"))  # its instrument's mark is watched
        assert resting.ack.receipt.status is CommandStatus.ACCEPTED
        sim.set_mark("BTCUSDT", "100000", venue=venue_name)
        await venue.marks.wait_for(BTC, D("100000"))  # pushed on the public mark stream
        market = await gw.submit(order(venue_name, Side.BUY, "0.001"))
        receipt = market.ack.receipt
        assert receipt.status is CommandStatus.REJECTED and receipt.native_code == "RISK"
        assert "max_notional_per_order" in receipt.message and "requested 100" in receipt.message
    assert [o.client_order_id for o in sim.truth.orders(venue_name)] == [resting.client_order_id]


async def test_a_stale_mark_is_read_again_over_rest_before_a_market_order_is_checked(
    sim: SimExchange, venue_name: str
) -> None:
    now = [1000.0]
    venue = make_venue(sim, venue_name, market_stream_url=None)  # no stream: marks only age
    venue.marks = MarkBook(clock=lambda: now[0])
    gate = PortfolioGate(RiskLimits(max_notional_per_order=D("60"), max_reference_age_seconds=5))
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        sim.set_mark("BTCUSDT", "40000", venue=venue_name)
        now[0] += 30  # the mark loaded at start is 30 s old
        market = await gw.submit(order(venue_name, Side.BUY, "0.001"))
        assert market.ack.receipt.status is CommandStatus.ACCEPTED, market.ack.receipt.message
        assert venue.reference_price(BTC) == D("40000") and venue.reference_age(BTC) == 0


async def test_a_mark_older_than_the_limit_refuses_a_market_order_naming_its_age_and_the_limit(
    sim: SimExchange, venue_name: str
) -> None:
    gate = PortfolioGate(RiskLimits(max_notional_per_order=D("1000"), max_reference_age_seconds=1e-9))
    venue = make_venue(sim, venue_name)
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        market = await gw.submit(order(venue_name, Side.BUY, "0.001"))
        limit = await gw.submit(order(venue_name, Side.BUY, "0.001", "30000"))  # a LIMIT order has its own price
    receipt = market.ack.receipt
    assert receipt.status is CommandStatus.REJECTED and receipt.safe_to_resubmit
    assert "max_reference_age_seconds" in receipt.message and "s old, over the 1e-09s limit" in receipt.message
    assert limit.ack.receipt.status is CommandStatus.ACCEPTED
    assert [o.client_order_id for o in sim.truth.orders(venue_name)] == [limit.client_order_id]


async def test_the_gate_values_a_held_position_at_the_mark_the_stream_moves(sim: SimExchange, venue_name: str) -> None:
    sim.set_position(venue_name, "BTCUSDT", "0.002", "45000")  # 100 at the mark, 90 at its entry
    gate = PortfolioGate(RiskLimits(max_position_notional=D("200")))
    venue = make_venue(sim, venue_name)
    async with Gateway(venues=[venue], gate=gate, reconcile=None) as gw:
        first = await gw.submit(order(venue_name, Side.BUY, "0.001", "40000"))  # 100 + 40 <= 200
        assert first.ack.receipt.status is CommandStatus.ACCEPTED, first.ack.receipt.message
        sim.set_mark("BTCUSDT", "70000", venue=venue_name)
        await venue.marks.wait_for(BTC, D("70000"))
        await gw.gate_positions()  # the gate has applied what the stream delivered
        assert (await gate.snapshot()).gross_exposure == D("180")  # the position at 70000, and the order's 40
        second = await gw.submit(order(venue_name, Side.BUY, "0.001", "40000"))  # 140 + 40 + 40 > 200
        assert "max_position_notional: current 180" in second.ack.receipt.message
