"""Gateway.cancel_all on both venues over loopback: accepted, each lost answer settled to the truth, sent once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from gateway import CommandOperation, CommandStatus, Gateway, OrderRequest, OrderState, OrderType, Side, Transport
from gateway.handle import CommandHandle
from reconcile import ReconcilePolicy
from risk import PortfolioGate, RiskLimits
from tests.safety.conftest import BTC, ETH, VENUES, make_adapter
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind
from venues.sim.switches import SwitchLog

# A short grace window (recvWindow 0.5 s + a 0.2 s history lag, at least 1 s) keeps the tests quick.
POLICY = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=20.0, interval_seconds=0.1)


def limit(venue: str, instrument: str = BTC, price: str = "49000") -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument=instrument, side=Side.BUY, type=OrderType.LIMIT,
        quantity=Decimal("0.01"), price=Decimal(price), transport=Transport.REST,
    )  # fmt: skip


def switch_log(sim: SimExchange, venue: str) -> SwitchLog:
    dialect = sim.venues[venue].state.dialect
    assert dialect is not None and dialect.switches is not None
    return dialect.switches.log


async def final_state(handle: CommandHandle, timeout: float = 10.0) -> OrderState | None:
    """Wait for the create's handle to be final (its order terminal); its most advanced venue view's state."""
    async with asyncio.timeout(timeout):
        async for _ in handle.lifecycle():
            pass
    view = handle.order_view
    return view.state if view is not None else None


@pytest_asyncio.fixture
async def gw(sim: SimExchange, venue_name: str) -> AsyncIterator[tuple[Gateway, PortfolioGate]]:
    adapter = make_adapter(sim, venue_name, request_timeout=1.0, recv_window_ms=500, history_lag_seconds=0.2)
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("1000000")))
    async with Gateway(venues=[adapter], gate=gate, reconcile=POLICY) as gateway:
        yield gateway, gate


@pytest.fixture(params=VENUES)
def venue_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_cancel_all_accepted_cancels_and_releases(
    gw: tuple[Gateway, PortfolioGate], sim: SimExchange, venue_name: str
) -> None:
    gateway, gate = gw
    creates = [await gateway.submit(limit(venue_name)) for _ in range(3)]
    other = await gateway.submit(limit(venue_name, ETH, "2900"))
    assert all(h.ack.receipt.status is CommandStatus.ACCEPTED for h in [*creates, other])
    handle = await gateway.cancel_all(venue_name, BTC)
    receipt = handle.ack.receipt
    assert (receipt.operation, receipt.status, receipt.instrument) == (
        CommandOperation.CANCEL_ALL, CommandStatus.ACCEPTED, BTC,
    )  # fmt: skip
    assert receipt.request_id == handle.command_id and (await handle.resolved()).status is CommandStatus.ACCEPTED
    assert [await final_state(h) for h in creates] == [OrderState.CANCELED] * 3
    assert gateway.handle(other.command_id) is other and not other.final  # another instrument: untouched
    await gateway.close()  # waits for the gate's bookkeeping
    snapshot = await gate.snapshot()
    assert set(snapshot.reservations) == {other.command_id}
    assert len(switch_log(sim, venue_name).of("cancel_all")) == 1


async def test_cancel_all_without_an_instrument_covers_every_traded_one(
    gw: tuple[Gateway, PortfolioGate], sim: SimExchange, venue_name: str
) -> None:
    gateway, _ = gw
    creates = [await gateway.submit(limit(venue_name)), await gateway.submit(limit(venue_name, ETH, "2900"))]
    handle = await gateway.cancel_all(venue_name)
    assert (handle.ack.receipt.status, handle.instrument) == (CommandStatus.ACCEPTED, "*")
    assert [await final_state(h) for h in creates] == [OrderState.CANCELED] * 2
    assert {e.scope for e in switch_log(sim, venue_name).of("cancel_all")} == {"BTCUSDT", "ETHUSDT"}


async def test_cancel_all_with_nothing_open_is_accepted(gw: tuple[Gateway, PortfolioGate], venue_name: str) -> None:
    gateway, _ = gw
    handle = await gateway.cancel_all(venue_name, BTC)
    assert handle.ack.receipt.status is CommandStatus.ACCEPTED and handle.final


# Each way an answer can be lost, and whether the venue acted before losing it.
LOST = [
    pytest.param(Fault(FaultKind.ACCEPT_THEN_TIMEOUT, operation="cancel_all", delay_seconds=1.5), True, id="timeout"),
    pytest.param(Fault(FaultKind.ACCEPT_THEN_RESET, operation="cancel_all"), True, id="reset"),
    pytest.param(Fault(FaultKind.ACCEPT_THEN_5XX, operation="cancel_all"), True, id="accept-5xx"),
    pytest.param(Fault(FaultKind.REJECT_THEN_5XX, operation="cancel_all"), False, id="reject-5xx"),
    pytest.param(Fault(FaultKind.MALFORMED_2XX, operation="cancel_all"), True, id="malformed"),
    pytest.param(Fault(FaultKind.UNKNOWN_CODE, operation="cancel_all", executed=True), True, id="unknown-done"),
    pytest.param(Fault(FaultKind.UNKNOWN_CODE, operation="cancel_all", executed=False), False, id="unknown-not"),
]


@pytest.mark.parametrize(("fault", "executes"), LOST)
async def test_lost_answer_is_unknown_then_settled_to_the_truth(
    gw: tuple[Gateway, PortfolioGate], sim: SimExchange, venue_name: str, fault: Fault, executes: bool
) -> None:
    gateway, gate = gw
    creates = [await gateway.submit(limit(venue_name)) for _ in range(2)]
    sim.faults.add(fault)
    handle = await gateway.cancel_all(venue_name, BTC)
    assert handle.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
    resolved = await handle.resolved(timeout=15)
    truth = {o.client_order_id: o.status for o in sim.truth.orders(venue_name)}
    if executes:
        assert resolved.status is CommandStatus.ACCEPTED, resolved.message
        assert [await final_state(h) for h in creates] == [OrderState.CANCELED] * 2
        assert {truth[h.command_id] for h in creates} == {"CANCELED"}
    else:
        assert (resolved.status, resolved.safe_to_resubmit) == (CommandStatus.REJECTED, True), resolved.message
        assert {truth[h.command_id] for h in creates} == {"NEW"}
        assert not any(h.final for h in creates)
    assert len(switch_log(sim, venue_name).of("cancel_all")) == 1  # sent once, never re-sent
    await gateway.close()
    snapshot = await gate.snapshot()
    held = {h.command_id for h in creates} & set(snapshot.reservations)
    assert held == (set() if executes else {h.command_id for h in creates})  # released once proven


async def test_a_cancel_all_proved_to_have_done_nothing_may_be_sent_again(
    gw: tuple[Gateway, PortfolioGate], sim: SimExchange, venue_name: str
) -> None:
    gateway, _ = gw
    create = await gateway.submit(limit(venue_name))
    sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, operation="cancel_all"))
    first = await gateway.cancel_all(venue_name, BTC)
    assert (await first.resolved(timeout=15)).safe_to_resubmit
    second = await gateway.cancel_all(venue_name, BTC)
    assert second.ack.receipt.status is CommandStatus.ACCEPTED
    assert await final_state(create) is OrderState.CANCELED


async def test_over_the_websocket_is_refused_before_anything_is_sent(
    gw: tuple[Gateway, PortfolioGate], sim: SimExchange, venue_name: str
) -> None:
    gateway, _ = gw
    with pytest.raises(ValueError, match="WebSocket"):
        await gateway.cancel_all(venue_name, BTC, transport=Transport.WEBSOCKET)
    with pytest.raises(ValueError, match="name the instrument"):
        await gateway.cancel_all(venue_name)  # nothing traded yet
    assert switch_log(sim, venue_name).of("cancel_all") == []
