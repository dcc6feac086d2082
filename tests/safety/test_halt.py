"""The kill switch that flattens: halt(cancel_open_orders, close_positions) and resume on both venues at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from gateway import CommandOperation, CommandStatus, Gateway, OrderRequest, OrderState, OrderType, Side, Transport
from gateway.handle import CommandHandle
from risk import PortfolioGate, RiskLimits, RiskRejected
from tests.safety.conftest import BTC, ETH, VENUES, make_adapter
from tests.safety.test_cancel_all import POLICY, final_state, limit
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


def market(venue: str, side: Side, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument=BTC, side=side, type=OrderType.MARKET, quantity=Decimal("0.01"),
        reduce_only=reduce_only, transport=Transport.REST,
    )  # fmt: skip


@pytest_asyncio.fixture
async def both(sim: SimExchange) -> AsyncIterator[tuple[Gateway, PortfolioGate]]:
    adapters = [
        make_adapter(sim, name, request_timeout=1.0, recv_window_ms=500, history_lag_seconds=0.2) for name in VENUES
    ]
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("1000000")))
    async with Gateway(venues=adapters, gate=gate, reconcile=POLICY) as gateway:
        yield gateway, gate


async def resting(gateway: Gateway) -> list[CommandHandle]:
    handles = []
    for venue in VENUES:
        handles.append(await gateway.submit(limit(venue)))
        handles.append(await gateway.submit(limit(venue, ETH, "2900")))
    assert all(h.ack.receipt.status is CommandStatus.ACCEPTED for h in handles)
    return handles


async def test_halt_cancels_everything_through_a_fault_and_only_reduce_only_passes(
    both: tuple[Gateway, PortfolioGate], sim: SimExchange
) -> None:
    gateway, gate = both
    for venue in VENUES:  # a position to reduce later
        assert (await gateway.submit(market(venue, Side.BUY))).ack.receipt.status is CommandStatus.ACCEPTED
    orders = await resting(gateway)
    sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue="binance", operation="cancel_all", symbol="BTCUSDT"))

    cancels = await gateway.halt("drill", cancel_open_orders=True)

    assert gateway.halted is not None and "drill" in gateway.halted
    assert {(h.venue, h.instrument) for h in cancels} == {(v, i) for v in VENUES for i in (BTC, ETH)}
    assert all(h.operation is CommandOperation.CANCEL_ALL for h in cancels)
    lost = [h for h in cancels if h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION]
    assert [(h.venue, h.instrument) for h in lost] == [("binance", BTC)]
    refused = await gateway.submit(limit("bybit"))
    assert refused.ack.receipt.status is CommandStatus.REJECTED and "halt" in refused.ack.receipt.message
    reduce = await gateway.submit(market("binance", Side.SELL, reduce_only=True))
    assert reduce.ack.receipt.status is CommandStatus.ACCEPTED, reduce.ack.receipt.message

    resolved = await asyncio.gather(*(h.resolved(timeout=15) for h in cancels))
    assert {r.status for r in resolved} == {CommandStatus.ACCEPTED}  # the lost one proved from evidence
    assert [await final_state(h) for h in orders] == [OrderState.CANCELED] * len(orders)
    assert {o.status for o in sim.truth.orders() if o.type == "LIMIT"} == {"CANCELED"}
    for venue in VENUES:
        dialect = sim.venues[venue].state.dialect
        assert dialect is not None and dialect.switches is not None
        assert len(dialect.switches.log.of("cancel_all")) == 2  # one per instrument, none re-sent
    await gateway.close()
    snapshot = await gate.snapshot()
    assert not {h.command_id for h in orders} & set(snapshot.reservations)


async def test_halt_is_shared_through_the_ledger_and_resume_lifts_it(both: tuple[Gateway, PortfolioGate]) -> None:
    gateway, gate = both
    assert await gateway.halt("maintenance") == []
    assert gate.halted == "maintenance"
    elsewhere = PortfolioGate(gate.limits, ledger=gate.ledger)  # another process's gate on the same ledger
    probe = limit("binance").model_copy(update={"client_order_id": "probe-1"})
    with pytest.raises(RiskRejected, match="kill_switch"):
        await elsewhere.check_and_reserve(probe, None)
    refused = await gateway.submit(limit("binance"))
    assert refused.ack.receipt.status is CommandStatus.REJECTED and "halt" in refused.ack.receipt.message
    gateway.resume()
    assert gateway.halted is None and gate.halted is None
    assert (await gateway.submit(limit("binance"))).ack.receipt.status is CommandStatus.ACCEPTED


async def test_halt_without_a_gate_still_refuses_new_exposure(sim: SimExchange) -> None:
    adapter = make_adapter(sim, "bybit", request_timeout=1.0)
    async with Gateway(venues=[adapter], reconcile=None) as gateway:
        await gateway.halt("no gate")
        refused = await gateway.submit(limit("bybit"))
        assert refused.ack.receipt.status is CommandStatus.REJECTED and "halt" in refused.ack.receipt.message
        assert sim.truth.orders("bybit") == []


async def test_halt_flattens_positions_with_reduce_only_market_orders(
    both: tuple[Gateway, PortfolioGate], sim: SimExchange
) -> None:
    gateway, _ = both
    for venue in VENUES:
        await gateway.submit(market(venue, Side.BUY))
    await gateway.submit(market("bybit", Side.BUY))  # 0.02 long on Bybit
    await resting(gateway)

    handles = await gateway.halt("flatten", cancel_open_orders=True, close_positions=True)

    flatten = [h for h in handles if h.operation is CommandOperation.CREATE_ORDER]
    assert {(h.venue, h.request.side, h.request.quantity, h.request.reduce_only) for h in flatten} == {  # type: ignore[union-attr]
        ("binance", Side.SELL, Decimal("0.01"), True),
        ("bybit", Side.SELL, Decimal("0.02"), True),
    }
    for handle in flatten:
        assert (await handle.resolved(timeout=15)).status is CommandStatus.ACCEPTED
    for venue in VENUES:
        engine = sim.venues[venue].engine
        assert engine.positions.get((sim.api_key, "BTCUSDT"), Decimal(0)) == 0
    assert await gateway.positions() == []
