"""PortfolioGate behaviour; the same suite runs against every ledger (see conftest ``ledger``)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from gateway.model import (
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    Side,
)
from risk import Ledger, PortfolioGate, RiskLimits, RiskRejected

BTC = "BTC/USDT:USDT"
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def order(
    cid: str,
    qty: str = "0.01",
    price: str = "50000",
    side: Side = Side.BUY,
    reduce_only: bool = False,
    instrument: str = BTC,
) -> OrderRequest:
    return OrderRequest(
        venue="v",
        instrument=instrument,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(qty),
        price=D(price),
        client_order_id=cid,
        reduce_only=reduce_only,
    )


def receipt(cid: str, status: CommandStatus, **kw: object) -> CommandReceipt:
    return CommandReceipt(
        operation=CommandOperation.CREATE_ORDER,
        status=status,
        venue="v",
        instrument=BTC,
        client_order_id=cid,
        safe_to_resubmit=status is CommandStatus.REJECTED,
        **kw,
    )  # type: ignore[arg-type]


def update(cid: str, filled: str, state: OrderState, avg: str = "50000") -> OrderReport:
    return OrderReport(
        venue="v",
        instrument=BTC,
        order_id=f"o-{cid}",
        client_order_id=cid,
        state=state,
        filled_quantity=D(filled),
        average_price=D(avg),
    )


async def test_refusal_names_limit_current_requested_and_cap(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000")), ledger)
    await gate.check_and_reserve(order("a", "0.01"), None)  # 500
    with pytest.raises(RiskRejected) as info:
        await gate.check_and_reserve(order("b", "0.02"), None)  # +1000
    assert str(info.value) == "risk limit max_gross_exposure: current 500 + requested 1000 would exceed cap 1000"
    assert (info.value.limit, info.value.cap) == ("max_gross_exposure", D("1000"))


@pytest.mark.parametrize(
    ("limits", "limit_name"),
    [
        (RiskLimits(max_notional_per_order=D("100")), "max_notional_per_order"),
        (RiskLimits(max_position_notional=D("600")), "max_position_notional"),
        (RiskLimits(max_open_orders=1), "max_open_orders"),
        (RiskLimits(max_concurrent_positions=1), "max_concurrent_positions"),
        (RiskLimits(max_orders_per_second=1), "max_orders_per_second"),
        (RiskLimits(max_orders_per_second_per_venue=1), "max_orders_per_second_per_venue"),
    ],
)
async def test_each_limit_refuses_by_name(ledger: Ledger, limits: RiskLimits, limit_name: str) -> None:
    gate = PortfolioGate(limits, ledger, clock=Clock())
    other = "ETH/USDT:USDT" if limit_name == "max_concurrent_positions" else BTC
    with pytest.raises(RiskRejected, match=f"risk limit {limit_name}"):
        if limit_name != "max_notional_per_order":
            await gate.check_and_reserve(order("a", "0.01"), None)
        await gate.check_and_reserve(
            order("b", "0.01", price="3000" if other != BTC else "50000", instrument=other), None
        )


async def test_rejected_and_absent_release_unknown_keeps(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000")), ledger)
    for cid in ("r", "u", "x"):
        await gate.check_and_reserve(order(cid, "0.005"), None)  # 250 each
    await gate.on_receipt(order("r", "0.005"), receipt("r", CommandStatus.REJECTED))
    await gate.on_receipt(order("u", "0.005"), receipt("u", CommandStatus.UNKNOWN_EXECUTION, retriable=True))
    report = ReconcileReport(
        command_id="x",
        operation=CommandOperation.CREATE_ORDER,
        venue="v",
        instrument=BTC,
        client_order_id="x",
        outcome=ReconcileOutcome.ABSENT,
        trigger=ReconcileTrigger.UNKNOWN_EXECUTION,
        evidence=EvidenceSource.ORDER_HISTORY,
    )
    await gate.on_reconciled(order("x", "0.005"), report)
    snap = await gate.snapshot()
    assert snap.reservations == {"u": D("250.000")}  # per command: releasing r and x never freed u
    assert snap.gross_exposure == D("250")


async def test_fills_convert_partially_and_idempotently(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("10000")), ledger)
    await gate.check_and_reserve(order("f", "0.04"), None)  # 2000 reserved
    part = update("f", "0.01", OrderState.PARTIALLY_FILLED)
    for _ in range(3):  # duplicate deliveries change nothing
        await gate.on_order_update(part)
    snap = await gate.snapshot()
    assert snap.reservations["f"] == D("1500")
    assert snap.positions[("v", BTC)] == D("500")
    assert snap.gross_exposure == D("2000")
    await gate.on_order_update(update("f", "0.04", OrderState.FILLED))
    await gate.on_order_update(part)  # a late, stale partial after the fill: ignored
    snap = await gate.snapshot()
    assert snap.reservations == {}
    assert snap.positions[("v", BTC)] == D("2000")


async def test_ttl_expires_with_a_warning(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("600"), reservation_ttl_seconds=60), ledger, clock=clock)
    await gate.check_and_reserve(order("old", "0.01"), None)
    with pytest.raises(RiskRejected):
        await gate.check_and_reserve(order("new", "0.01"), None)
    clock.now += 61
    with caplog.at_level(logging.WARNING, logger="risk"):
        await gate.check_and_reserve(order("new2", "0.01"), None)
    assert "reservation of old expired by TTL" in caplog.text


async def test_kill_switch_allows_reduce_only_and_refuses_new_exposure(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("100000")), ledger)
    await gate.check_and_reserve(order("long", "0.02"), None)
    await gate.on_order_update(update("long", "0.02", OrderState.FILLED))
    gate.halt("drawdown")
    with pytest.raises(RiskRejected, match="kill_switch: trading halted \\(drawdown\\)"):
        await gate.check_and_reserve(order("more", "0.01"), None)
    with pytest.raises(RiskRejected, match="kill_switch"):  # reduce-only in the adding direction is not reducing
        await gate.check_and_reserve(order("add", "0.01", reduce_only=True), None)
    await gate.check_and_reserve(order("close", "0.01", side=Side.SELL, reduce_only=True), None)
    gate.resume()
    await gate.check_and_reserve(order("again", "0.01"), None)


async def test_market_without_price_fails_closed(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000")), ledger)
    market = OrderRequest(
        venue="v", instrument=BTC, side=Side.BUY, type=OrderType.MARKET, quantity=D("0.01"), client_order_id="m"
    )
    with pytest.raises(RiskRejected, match="needs a reference price"):
        await gate.check_and_reserve(market, None)
    await gate.check_and_reserve(market, D("50000"))


async def test_race_admits_exactly_the_limit(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("5000")), ledger)  # admits exactly 10 x 500

    async def attempt(i: int) -> bool:
        try:
            await gate.check_and_reserve(order(f"c{i}", "0.01"), None)
            return True
        except RiskRejected:
            return False

    admitted = await asyncio.gather(*(attempt(i) for i in range(1000)))
    assert sum(admitted) == 10


async def test_a_flat_round_trip_leaves_no_exposure(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("100000"), max_concurrent_positions=1), ledger)
    await gate.check_and_reserve(order("buy", "1"), None)
    await gate.on_order_update(update("buy", "1", OrderState.FILLED, avg="50000"))
    await gate.check_and_reserve(order("sell", "1", price="51000", side=Side.SELL, reduce_only=True), None)
    await gate.on_order_update(update("sell", "1", OrderState.FILLED, avg="51000"))
    snap = await gate.snapshot()
    # Flat: no exposure left whatever the prices were, so another instrument is not refused.
    assert snap.gross_exposure == 0
    assert all(p == 0 for p in snap.positions.values())
    await gate.check_and_reserve(order("eth", "0.1", price="3000", instrument="ETH/USDT:USDT"), None)


async def test_reducing_scales_the_basis_and_a_flip_restarts_it(ledger: Ledger) -> None:
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000000")), ledger)
    await gate.check_and_reserve(order("b", "2"), None)
    await gate.on_order_update(update("b", "2", OrderState.FILLED, avg="50000"))  # long 2 @ 50k = 100k
    await gate.check_and_reserve(order("s1", "1", price="60000", side=Side.SELL), None)
    await gate.on_order_update(update("s1", "1", OrderState.FILLED, avg="60000"))  # long 1: basis 50k
    assert (await gate.snapshot()).positions[("v", BTC)] == D("50000")
    await gate.check_and_reserve(order("s2", "3", price="40000", side=Side.SELL), None)
    await gate.on_order_update(update("s2", "3", OrderState.FILLED, avg="40000"))  # short 2 @ 40k
    assert (await gate.snapshot()).positions[("v", BTC)] == D("-80000")


async def test_a_halt_reaches_every_gate_sharing_the_ledger(
    ledger: Ledger, ledger_namespace: str, request: pytest.FixtureRequest
) -> None:
    from risk.redis_ledger import RedisLedger

    if isinstance(ledger, RedisLedger):  # another process's client on the same namespace
        other: Ledger = RedisLedger(request.getfixturevalue("redis_url"), namespace=ledger_namespace)
    else:
        other = ledger
    a = PortfolioGate(RiskLimits(max_gross_exposure=D("100000")), ledger)
    b = PortfolioGate(RiskLimits(max_gross_exposure=D("100000")), other)
    await b.check_and_reserve(order("long", "0.02"), None)
    await b.on_order_update(update("long", "0.02", OrderState.FILLED))
    a.halt("desk-wide stop")
    await a.shared()
    with pytest.raises(RiskRejected, match=r"kill_switch: trading halted \(desk-wide stop\)"):
        await b.check_and_reserve(order("b-new", "0.01"), None)
    await b.check_and_reserve(order("b-close", "0.01", side=Side.SELL, reduce_only=True), None)
    a.resume()
    await a.shared()
    await b.check_and_reserve(order("b-again", "0.01"), None)
    if other is not ledger:
        await other.close()


async def test_a_fill_reported_after_the_ttl_expired_still_counts_as_position(ledger: Ledger) -> None:
    # Found by the differential property test: the in-process ledger used to drop such a fill.
    clock = Clock()
    gate = PortfolioGate(RiskLimits(max_gross_exposure=D("1000"), reservation_ttl_seconds=60), ledger, clock=clock)
    await gate.check_and_reserve(order("slow", "0.01"), None)  # 500 reserved
    clock.now += 61
    assert await gate.expire() == ["slow"]
    await gate.on_order_update(update("slow", "0.01", OrderState.FILLED))  # the venue did fill it
    snap = await ledger.snapshot()
    assert snap.reserved == 0 and snap.gross_exposure == D("500")
    with pytest.raises(RiskRejected, match="max_gross_exposure"):
        await gate.check_and_reserve(order("more", "0.012"), None)  # 500 held + 600 > 1000
