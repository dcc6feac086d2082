"""One scenario for both venues: fills and cancels lost in a user-stream gap reach handles and gate.

Resting LIMIT orders are ACCEPTED; a ``STREAM_GAP`` fault drops the user stream on the first
event (a full fill), and the events that follow while no socket is connected (a cancel, a
partial fill, more cancels) are lost too: the simulator sends them to no one. After the
gateway's refresh, the handles must show what the venue shows, the gate must hold the fills as
position and no reservation for the closed orders, and the restored stream must still work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal

from gateway import CommandHandle, CommandStatus, Gateway, OrderRequest, OrderState, OrderType, Side, Transport
from gateway.handle import EndOfLifecycle, HandleState
from gateway.model import EvidenceSource, OrderUpdate
from risk import PortfolioGate, RiskLimits
from risk.ledger import LedgerSnapshot
from venues.base import Venue
from venues.sim import Fault, SimExchange
from venues.sim.engine import MatchingEngine
from venues.sim.faults import FaultKind

BTC = "BTC/USDT:USDT"
PRICE = Decimal("40000")
QTY = Decimal("0.01")


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def gate_shows(gate: PortfolioGate, expected: Callable[[LedgerSnapshot], bool], timeout: float = 10.0) -> None:
    """Poll the gate (its bookkeeping runs on the gateway's gate task) until ``expected`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        snapshot = await gate.snapshot()
        if expected(snapshot):
            return
        if loop.time() > deadline:
            raise AssertionError(f"gate never showed the expected state; last: {snapshot}")
        await asyncio.sleep(0.01)


def view(handle: CommandHandle) -> tuple[OrderState | None, Decimal]:
    """The handle's venue view of its order (state, filled): its most advanced order update."""
    last = handle.order_view
    return (None, Decimal(0)) if last is None else (last.state, last.filled_quantity)


async def order_updates(handle: CommandHandle) -> list[OrderUpdate]:
    """The OrderUpdate events already queued on a handle (``next_lifecycle`` returns each at once)."""
    out: list[OrderUpdate] = []
    while handle.statistics().depth:
        event = await handle.next_lifecycle()
        if isinstance(event, OrderUpdate):
            out.append(event)
    return out


async def final_updates(handle: CommandHandle) -> list[OrderUpdate]:
    out: list[OrderUpdate] = []
    while True:
        try:
            event = await asyncio.wait_for(handle.next_lifecycle(), 5)
        except EndOfLifecycle:
            return out
        if isinstance(event, OrderUpdate):
            out.append(event)


async def run(
    sim: SimExchange,
    venue: Venue,
    engine: MatchingEngine,
    stream_up: Callable[[], bool],
    *,
    lost_closes: int,
    read_faults: Sequence[Fault] = (),
) -> None:
    """``lost_closes`` orders close during the gap: 2 are each queried by id, 3 cost one history read.

    ``read_faults`` hit the refresh's reads (retried, never fatal); a MALFORMED_2XX among them
    must be counted as the gateway's parse error.
    """
    name = venue.name
    gate = PortfolioGate(RiskLimits(max_gross_exposure=Decimal("100000")))
    async with Gateway(venues=[venue], gate=gate) as gw:
        await wait_until(stream_up)

        async def rest(_: int) -> CommandHandle:
            request = OrderRequest(
                venue=name, instrument=BTC, side=Side.BUY, type=OrderType.LIMIT,
                quantity=QTY, price=PRICE, transport=Transport.REST,
            )  # fmt: skip
            handle = await gw.submit(request)
            receipt = handle.ack.receipt
            # Bybit's ack carries no state: it follows on the private stream.
            assert receipt.status is CommandStatus.ACCEPTED and receipt.order_state in (OrderState.NEW, None), receipt
            await wait_until(lambda: view(handle)[0] is OrderState.NEW)
            return handle

        filled, partial, resting, *canceled = [await rest(i) for i in range(2 + lost_closes)]
        await gate_shows(gate, lambda s: len(s.reservations) == 2 + lost_closes)

        def oid(handle: CommandHandle) -> str:
            assert handle.order_id is not None
            return handle.order_id

        for handle in (filled, partial, resting, *canceled):
            await order_updates(handle)  # what the stream delivered before the gap (their NEW) is not under test
        drops = len([1 for fault, _ in sim.faults.applied if fault.kind is FaultKind.STREAM_GAP])
        sim.faults.add(Fault(FaultKind.STREAM_GAP, venue=name, client_order_id=filled.client_order_id))  # type: ignore[arg-type]
        # All in one step, before the client can reconnect: the fill's event drops the stream,
        # and the events after it find no socket to go to.
        parse_errors = gw.parse_errors
        for fault in read_faults:
            sim.faults.add(fault)
        engine.fill(oid(filled), QTY)
        for handle in canceled:
            sim_order = engine.orders[oid(handle)]
            engine.cancel(sim_order.account, sim_order.symbol, order_id=oid(handle))
        engine.fill(oid(partial), Decimal("0.004"))
        assert len([1 for fault, _ in sim.faults.applied if fault.kind is FaultKind.STREAM_GAP]) == drops + 1

        for handle in (filled, *canceled):
            await asyncio.wait_for(final_updates(handle), 10)  # ends only once the handle is final
        await wait_until(lambda: view(partial) == (OrderState.PARTIALLY_FILLED, Decimal("0.004")))

        assert filled.state is HandleState.FINAL
        fill = filled.order_view
        assert fill is not None and (fill.state, fill.filled_quantity) == (OrderState.FILLED, QTY)
        for handle in canceled:
            last = handle.order_view
            assert last is not None and last.state is OrderState.CANCELED
        assert [u.source for u in await order_updates(partial)] == [EvidenceSource.OPEN_ORDERS]
        assert await order_updates(resting) == [] and resting.state is HandleState.ANSWERED

        assert sim.faults.pending == []  # every read fault hit the refresh, which got past them
        malformed = sum(f.kind is FaultKind.MALFORMED_2XX for f in read_faults)
        assert gw.parse_errors - parse_errors == malformed

        # The refresh that found them: one open-orders read, then queries or one history read.
        first = next(r for r in gw._refresher.history if r.venue == name and r.updates)  # type: ignore[union-attr]
        reads = 1 + (lost_closes if lost_closes <= 2 else 1)  # the closed ones are missing from open orders
        assert (first.orders, first.updates, first.reads) == (2 + lost_closes, 1 + lost_closes, reads)

        # The gate holds the fills as position and reserves only what is still open.
        filled_notional = (QTY + Decimal("0.004")) * PRICE
        await gate_shows(
            gate,
            lambda s: (
                s.reservations
                == {partial.client_order_id: (QTY - Decimal("0.004")) * PRICE, resting.client_order_id: QTY * PRICE}
                and s.positions == {(name, BTC): filled_notional}
            ),
        )

        # The stream is back: the next fill arrives on it, and counts once.
        await wait_until(stream_up)
        engine.fill(oid(partial), QTY)
        await wait_until(lambda: partial.state is HandleState.FINAL)
        assert (await order_updates(partial))[-1].source is EvidenceSource.USER_STREAM
        await gate_shows(
            gate,
            lambda s: (
                s.reservations == {resting.client_order_id: QTY * PRICE}
                and s.positions == {(name, BTC): (2 * QTY) * PRICE}
            ),
        )
