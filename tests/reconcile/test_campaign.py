"""Through a real Gateway on the simulator: every fault kind, and a seeded random campaign.

The rule checked everywhere: the resolved receipt equals the simulator's ground truth
(ACCEPTED ⇔ the order exists; REJECTED ⇔ it does not) and no order is ever duplicated.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from gateway import CommandHandle, CommandStatus, Gateway, OrderRequest, OrderType, Side, TimeInForce, Transport
from reconcile import ReconcilePolicy
from tests.reconcile.conftest import binance, wait_until
from venues.sim import Fault, FaultCampaign, FaultKind, SimExchange

POLICY = ReconcilePolicy(grace_seconds=1.5, deadline_seconds=20, interval_seconds=0.2)
WRITE_FAULTS = [
    FaultKind.ACCEPT_THEN_TIMEOUT,
    FaultKind.ACCEPT_THEN_RESET,
    FaultKind.ACCEPT_THEN_5XX,
    FaultKind.REJECT_THEN_5XX,
    FaultKind.UNKNOWN_CODE,
    FaultKind.REJECT_CODE,
    FaultKind.RATE_LIMIT,
    FaultKind.DELAYED_VISIBILITY,
    FaultKind.MALFORMED_2XX,
    FaultKind.WS_DROP,
]


def request(cid: str, transport: Transport, *, resting: bool) -> OrderRequest:
    # Resting GTC orders below the mark, or IOC orders that expire at once.
    return OrderRequest(
        venue="binance",
        instrument="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        time_in_force=TimeInForce.GTC if resting else TimeInForce.IOC,
        client_order_id=cid,
        transport=transport,
    )


def verdict(sim: SimExchange, handle: CommandHandle, receipt_status: CommandStatus) -> str:
    exists = sim.truth.order(handle.command_id, "binance") is not None
    if receipt_status is CommandStatus.UNKNOWN_EXECUTION:
        return "unresolved"
    return "correct" if (receipt_status is CommandStatus.ACCEPTED) == exists else "wrong"


@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_every_write_fault_resolves_to_the_truth(sim: SimExchange, transport: Transport) -> None:
    venue = binance(sim)
    async with Gateway(venues=[venue], reconcile=POLICY) as gw:
        handles = []
        for kind, executed in itertools.product(WRITE_FAULTS, (True, False)):
            if kind is FaultKind.WS_DROP and transport is Transport.REST:
                continue
            if transport is Transport.WEBSOCKET:
                await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
            cid = gw.new_client_order_id()
            code = {FaultKind.UNKNOWN_CODE: -1007, FaultKind.REJECT_CODE: -2019}.get(kind)
            sim.faults.add(
                Fault(kind, venue="binance", client_order_id=cid, executed=executed, delay_seconds=1.0, code=code)
            )
            handle = await gw.submit(request(cid, transport, resting=True))
            handles.append((kind, executed, handle))
        unknown_acks = sum(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for _, _, h in handles)
        assert unknown_acks >= 6  # the faults really left outcomes unknown
        for kind, executed, handle in handles:
            receipt = await handle.resolved(timeout=30)
            assert verdict(sim, handle, receipt.status) == "correct", (kind, executed, receipt)
            if receipt.status is CommandStatus.REJECTED:
                assert receipt.safe_to_resubmit
    assert sim.truth.duplicates() == []
    # never re-sent: one write attempt per command
    for _, _, handle in handles:
        assert len([a for a in sim.truth.attempts(handle.command_id) if a.operation == "create"]) <= 1


async def test_seeded_campaign_of_a_thousand_orders(sim: SimExchange) -> None:
    venue = binance(sim)
    counts = {"correct": 0, "wrong": 0, "unresolved": 0}
    async with Gateway(venues=[venue], reconcile=POLICY) as gw:
        await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
        sim.faults.start_campaign(
            FaultCampaign(seed=2026, probability=0.25, timeout_hold_seconds=0.8, visibility_delay_seconds=0.8)
        )
        handles: list[CommandHandle] = []
        transports = itertools.cycle([Transport.REST, Transport.WEBSOCKET, Transport.AUTO])
        for _ in range(20):
            batch_handles = await asyncio.gather(
                *(
                    gw.submit(request(gw.new_client_order_id(), next(transports), resting=(i % 3 == 0)))
                    for i in range(50)
                )
            )
            handles.extend(batch_handles)
        sim.faults.stop_campaign()
        faulted = len(sim.faults.applied)
        receipts = await asyncio.gather(*(h.resolved(timeout=60) for h in handles))
        for handle, receipt in zip(handles, receipts, strict=True):
            counts[verdict(sim, handle, receipt.status)] += 1
    duplicates = len(sim.truth.duplicates())
    unknown_acks = sum(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for h in handles)
    print(
        f"campaign: {len(handles)} orders, {faulted} faults, {unknown_acks} unknown acks -> {counts}, "
        f"duplicates {duplicates}"
    )
    assert len(handles) >= 1000
    assert unknown_acks > 50
    assert counts == {"correct": len(handles), "wrong": 0, "unresolved": 0}
    assert duplicates == 0
