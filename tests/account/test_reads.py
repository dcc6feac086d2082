"""Positions, balances and the position mode through the gateway, on both venues over loopback (issue 14)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gateway import Gateway
from gateway.account import HedgeModeError, PositionMode
from risk import PortfolioGate, RiskLimits
from tests.account.conftest import BTC, ETH, make_venue
from tests.binance.conftest import RecordingSink
from venues.sim import SimExchange


async def test_positions_are_the_venues_net_positions_valued_at_the_mark(sim: SimExchange, venue_name: str) -> None:
    sim.set_position(venue_name, "BTCUSDT", "0.5", "49000")
    sim.set_position(venue_name, "ETHUSDT", "-2", "3100")
    async with Gateway(venues=[make_venue(sim, venue_name)], reconcile=None) as gw:
        positions = await gw.positions()
        assert [(p.venue, p.instrument, p.quantity) for p in positions] == [
            (venue_name, BTC, D("0.5")),
            (venue_name, ETH, D("-2")),
        ]
        btc, eth = positions
        assert (btc.entry_price, btc.mark_price, btc.notional) == (D("49000"), D("50000"), D("25000"))
        assert (eth.mark_price, eth.notional) == (D("3000"), D("-6000"))  # signed: a short's notional is negative
        again = await gw.positions(venue_name)
        assert [(p.instrument, p.quantity, p.notional) for p in again] == [
            (BTC, D("0.5"), D("25000")),
            (ETH, D("-2"), D("-6000")),
        ]
        sim.set_position(venue_name, "ETHUSDT", "0")
        assert [p.instrument for p in await gw.positions()] == [BTC]  # flat positions are not listed


async def test_balances_are_the_venues_wallet_and_available_figures(sim: SimExchange, venue_name: str) -> None:
    async with Gateway(venues=[make_venue(sim, venue_name)], reconcile=None) as gw:
        (usdt,) = await gw.balances()
    assert (usdt.venue, usdt.asset, usdt.wallet, usdt.available) == (venue_name, "USDT", D("1000000"), D("1000000"))


async def test_every_open_order_of_the_account_is_listed_whoever_placed_it(sim: SimExchange, venue_name: str) -> None:
    web = sim.external_trade(venue_name, "BTCUSDT", "BUY", "0.002", "45000", client_order_id="web-1")
    venue = make_venue(sim, venue_name)
    async with Gateway(venues=[venue], reconcile=None):
        (found,) = await venue.account_open_orders()
    assert (found.order_id, found.client_order_id, found.quantity, found.price) == (
        web.order_id,
        "web-1",
        D("0.002"),
        D("45000"),
    )


async def test_with_a_gate_a_hedge_mode_account_is_refused_at_start_saying_how_to_switch(
    sim: SimExchange, venue_name: str
) -> None:
    venue = make_venue(sim, venue_name)
    sim.set_hedge_mode(venue_name)
    assert await _mode(sim, venue_name) is PositionMode.HEDGE
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000")))
    with pytest.raises(HedgeModeError) as info:
        async with Gateway(venues=[venue], gate=gate, reconcile=None):
            pytest.fail("the gateway started on a hedge-mode account")
    message = str(info.value)
    assert "hedge mode" in message and "one-way mode" in message and venue.switch_to_one_way in message
    assert ("positionSide/dual" if venue_name == "binance" else "switch-mode") in message
    assert sim.truth.orders(venue_name) == []
    sim.set_hedge_mode(venue_name, False)
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000")))
    async with Gateway(venues=[make_venue(sim, venue_name)], gate=gate, reconcile=None) as gw:
        assert await gw.positions() == []


async def _mode(sim: SimExchange, name: str) -> PositionMode:
    venue = make_venue(sim, name, stream_url=None, ws_api_url=None)
    await venue.start(RecordingSink())
    try:
        return await venue.position_mode()
    finally:
        await venue.close()


async def test_the_user_stream_keeps_positions_and_balances_between_reads(sim: SimExchange, venue_name: str) -> None:
    async with Gateway(venues=[make_venue(sim, venue_name)], reconcile=None) as gw:
        sim.external_trade(venue_name, "BTCUSDT", "SELL", "0.003")  # someone else's MARKET sell
        pushed = await gw.wait_position(venue_name, BTC, D("-0.003"), timeout=5)
        assert pushed.mark_price == D("50000") and pushed.notional == D("-150")
        (balance,) = [b for b in gw.known_balances() if b.asset == "USDT"]
        assert balance.wallet < D("1000000")  # the fill's commission, pushed by the stream


def test_the_account_names_import_from_gateway_as_the_contract_writes_them() -> None:
    from gateway import Balance, Position, PositionDrift  # noqa: F401  (ARCHITECTURE.md, wave-2 additions)
    from gateway.account import Position as Vocabulary

    assert Position is Vocabulary
    held = Position.at_mark("binance", BTC, D("-0.5"), D("51000"), D("50000"))
    assert held.notional == D("-25000") and not held.is_flat
