"""The gate follows every order of the account (issue 14): ours by client order id, anyone else's by venue order id.

Run on both ledgers (in-process and Redis): an outside order still open counts like a reservation
(unchecked: it exists whatever the limits say); its fills, and a liquidation's, move the position
once each however often or in whatever order the stream repeats them; the venue's positions seed
and replace the gate's.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gateway.account import Position
from gateway.model import OrderReport, OrderRequest, OrderState, OrderType, Side
from risk import Ledger, PortfolioGate, RiskLimits, RiskRejected

BTC = "BTC/USDT:USDT"


def ours(cid: str, qty: str = "0.001", side: Side = Side.BUY) -> OrderRequest:
    return OrderRequest(
        venue="v",
        instrument=BTC,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D("50000"),
        client_order_id=cid,
    )


def seen(
    order_id: str,
    state: OrderState,
    filled: str = "0",
    *,
    cid: str | None = None,
    side: Side = Side.BUY,
    qty: str = "0.002",
    price: str | None = "50000",
    avg: str | None = None,
    at_ms: int | None = None,
    reduce_only: bool = False,
) -> OrderReport:
    return OrderReport(
        venue="v",
        instrument=BTC,
        order_id=order_id,
        client_order_id=cid,
        side=side,
        type=OrderType.LIMIT if price else OrderType.MARKET,
        quantity=D(qty),
        price=None if price is None else D(price),
        state=state,
        filled_quantity=D(filled),
        average_price=None if avg is None else D(avg),
        updated_at_ms=at_ms,
        reduce_only=reduce_only,
    )


async def held(gate: PortfolioGate) -> D:
    return (await gate.held_positions()).get(("v", BTC), (D(0), D(0)))[0]


async def test_an_outside_open_order_counts_against_open_orders_and_exposure_until_it_ends(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_open_orders=1, max_gross_exposure=D("200")), ledger)
    await gate.on_order_update(seen("9001", OrderState.NEW, cid="web_1"))  # 0.002 x 50000 = 100, unchecked
    snap = await gate.snapshot()
    assert snap.reserved == D("100") and list(snap.reservations) == ["v|9001"]
    with pytest.raises(RiskRejected, match="max_open_orders"):
        await gate.check_and_reserve(ours("a"), None)
    await gate.on_order_update(seen("9001", OrderState.CANCELED, cid="web_1"))
    assert (await gate.snapshot()).reserved == 0
    await gate.check_and_reserve(ours("a"), None)  # the slot is free again


async def test_outside_fills_apply_once_under_duplicates_and_reordering(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    updates = [
        seen("9002", OrderState.NEW, cid="web_2"),
        seen("9002", OrderState.PARTIALLY_FILLED, "0.001", cid="web_2", avg="50000"),
        seen("9002", OrderState.FILLED, "0.002", cid="web_2", avg="50000"),
        seen("9002", OrderState.PARTIALLY_FILLED, "0.001", cid="web_2", avg="50000"),  # a late duplicate
        seen("9002", OrderState.FILLED, "0.002", cid="web_2", avg="50000"),  # and again
        seen("9002", OrderState.NEW, cid="web_2"),  # a replayed NEW after the end reserves nothing
    ]
    for update in updates:
        await gate.on_order_update(update)
    assert await held(gate) == D("0.002")
    snap = await gate.snapshot()
    assert snap.reserved == 0 and snap.positions[("v", BTC)] == D("100")


async def test_a_liquidation_reduces_the_position_our_fills_built(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    await gate.check_and_reserve(ours("long", "0.004"), None)
    await gate.on_order_update(seen("1", OrderState.FILLED, "0.004", cid="long", qty="0.004", avg="50000"))
    # The venue's own order: no client order id of ours (Bybit: none at all), filled in one update.
    liquidation = seen("7", OrderState.FILLED, "0.003", side=Side.SELL, qty="0.003", price=None, avg="41000")
    for _ in range(3):
        await gate.on_order_update(liquidation)
    assert await held(gate) == D("0.001")


async def test_our_order_is_never_mistaken_for_an_outside_one(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    await gate.check_and_reserve(ours("mine", "0.002"), None)
    # Its stream updates name it by client order id (the venue order id is new to the gate).
    await gate.on_order_update(seen("555", OrderState.PARTIALLY_FILLED, "0.001", cid="mine", avg="50000"))
    await gate.on_order_update(seen("555", OrderState.FILLED, "0.002", cid="mine", avg="50000"))
    snap = await gate.snapshot()
    assert await held(gate) == D("0.002") and list(snap.reservations) == [] and snap.reserved == 0


async def test_the_seed_replaces_positions_and_counts_resting_orders_without_their_past_fills(
    ledger: Ledger,
) -> None:
    gate = PortfolioGate(RiskLimits(max_position_notional=D("150")), ledger)
    await gate.check_and_reserve(ours("old"), None)
    await gate.on_order_update(seen("1", OrderState.FILLED, "0.001", cid="old", qty="0.001", avg="50000"))
    resting = seen("9003", OrderState.PARTIALLY_FILLED, "0.0005", cid="web_3", qty="0.0015", at_ms=1_000)
    long = Position.at_mark("v", BTC, D("0.002"), D("48000"), D("50000"))
    await gate.seed_account("v", [long], [resting], as_of_ms=2_000)
    # The venue's figure, valued at the mark (0.002 x 50000), not the gate's own 0.001.
    assert (await gate.held_positions())[("v", BTC)] == (D("0.002"), D("100"))
    # The resting order's fill so far is in the position already; what is left is reserved (0.001 x 50000).
    assert (await gate.snapshot()).reserved == D("50")
    with pytest.raises(RiskRejected, match="max_position_notional"):
        await gate.check_and_reserve(ours("new"), None)  # 100 + 50 + 50 > 150
    # A fill of it stamped after the read counts; a replay of one before does not.
    await gate.on_order_update(seen("9003", OrderState.FILLED, "0.0015", cid="web_3", qty="0.0015", at_ms=3_000))
    assert await held(gate) == D("0.003")
    stale = seen("9004", OrderState.FILLED, "0.001", cid="web_4", qty="0.001", at_ms=1_500)
    await gate.on_order_update(stale)
    assert await held(gate) == D("0.003")


async def test_a_seed_flattens_what_the_venue_no_longer_holds_and_a_drift_adopts_the_venue(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    await gate.check_and_reserve(ours("x", "0.002"), None)
    await gate.on_order_update(seen("1", OrderState.FILLED, "0.002", cid="x", avg="50000"))
    await gate.seed_account("v", [], [], as_of_ms=0)
    assert await gate.held_positions() == {}
    await gate.adopt_position(Position.at_mark("v", BTC, D("-0.5"), D("51000"), D("52000")))
    assert (await gate.held_positions())[("v", BTC)] == (D("-0.5"), D("-26000"))
    assert (await gate.snapshot()).gross_exposure == D("26000")


async def test_positions_count_at_the_mark_in_every_limit_once_the_gate_hears_one(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_position_notional=D("150"), max_gross_exposure=D("1000")), ledger)
    await gate.check_and_reserve(ours("long", "0.002"), None)
    await gate.on_order_update(seen("1", OrderState.FILLED, "0.002", cid="long", avg="50000"))
    assert (await gate.snapshot()).gross_exposure == D("100")  # no mark yet: at its fill price
    await gate.on_mark("v", BTC, D("100000"))  # the mark doubled: the position is worth 200 now
    snap = await gate.snapshot()
    assert snap.gross_exposure == D("200") and snap.positions[("v", BTC)] == D("100")  # the basis is kept
    with pytest.raises(RiskRejected, match="max_position_notional: current 200"):
        await gate.check_and_reserve(ours("more", "0.0005"), None)
    await gate.on_mark("v", BTC, D("100005"))  # under a basis point: not written
    assert (await gate.snapshot()).gross_exposure == D("200")
    await gate.on_mark("v", BTC, D("40000"))
    await gate.check_and_reserve(ours("more", "0.0005"), None)  # 80 + 25 <= 150
    assert (await gate.snapshot()).gross_exposure == D("105")
