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
from tests.reconcile.conftest import VENUES, wait_until
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


# Codes a venue answers for UNKNOWN_CODE / REJECT_CODE faults.
FAULT_CODES = {
    "binance": {FaultKind.UNKNOWN_CODE: -1007, FaultKind.REJECT_CODE: -2019},
    "bybit": {FaultKind.UNKNOWN_CODE: 10016, FaultKind.REJECT_CODE: 110007},
}


def request(cid: str, transport: Transport, *, resting: bool, venue: str = "binance") -> OrderRequest:
    # Resting GTC orders below the mark, or IOC orders that expire at once.
    return OrderRequest(
        venue=venue,
        instrument="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        time_in_force=TimeInForce.GTC if resting else TimeInForce.IOC,
        client_order_id=cid,
        transport=transport,
    )


def verdict(sim: SimExchange, handle: CommandHandle, receipt_status: CommandStatus, venue: str = "binance") -> str:
    exists = sim.truth.order(handle.command_id, venue) is not None
    if receipt_status is CommandStatus.UNKNOWN_EXECUTION:
        return "unresolved"
    return "correct" if (receipt_status is CommandStatus.ACCEPTED) == exists else "wrong"


@pytest.mark.parametrize("venue_name", ["binance", "bybit"])
@pytest.mark.parametrize("transport", [Transport.REST, Transport.WEBSOCKET])
async def test_every_write_fault_resolves_to_the_truth(sim: SimExchange, transport: Transport, venue_name: str) -> None:
    venue = VENUES[venue_name](sim)
    async with Gateway(venues=[venue], reconcile=POLICY) as gw:
        handles = []
        for kind, executed in itertools.product(WRITE_FAULTS, (True, False)):
            if kind is FaultKind.WS_DROP and transport is Transport.REST:
                continue
            if transport is Transport.WEBSOCKET:
                await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
            cid = gw.new_client_order_id()
            code = FAULT_CODES[venue_name].get(kind)
            sim.faults.add(
                Fault(kind, venue=venue_name, client_order_id=cid, executed=executed, delay_seconds=1.0, code=code)
            )
            handle = await gw.submit(request(cid, transport, resting=True, venue=venue_name))
            handles.append((kind, executed, handle))
        unknown_acks = sum(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for _, _, h in handles)
        assert unknown_acks >= 6  # the faults really left outcomes unknown
        for kind, executed, handle in handles:
            receipt = await handle.resolved(timeout=30)
            assert verdict(sim, handle, receipt.status, venue_name) == "correct", (kind, executed, receipt)
            if receipt.status is CommandStatus.REJECTED:
                assert receipt.safe_to_resubmit
    assert sim.truth.duplicates() == []
    # never re-sent: one write attempt per command
    for _, _, handle in handles:
        assert len([a for a in sim.truth.attempts(handle.command_id) if a.operation == "create"]) <= 1


# A thousand orders on Binance; Bybit runs the same campaign at half the size to keep CI short.
@pytest.mark.parametrize(("venue_name", "batches"), [("binance", 20), ("bybit", 10)])
async def test_seeded_campaign_of_a_thousand_orders(sim: SimExchange, venue_name: str, batches: int) -> None:
    venue = VENUES[venue_name](sim)
    counts = {"correct": 0, "wrong": 0, "unresolved": 0}
    async with Gateway(venues=[venue], reconcile=POLICY) as gw:
        await wait_until(lambda: venue.transport_for(Transport.AUTO) is Transport.WEBSOCKET)
        sim.faults.start_campaign(
            FaultCampaign(
                seed=2026, probability=0.25, timeout_hold_seconds=0.8, visibility_delay_seconds=0.8, venue=venue_name
            )
        )
        handles: list[CommandHandle] = []
        transports = itertools.cycle([Transport.REST, Transport.WEBSOCKET, Transport.AUTO])
        for _ in range(batches):
            batch_handles = await asyncio.gather(
                *(
                    gw.submit(
                        request(gw.new_client_order_id(), next(transports), resting=(i % 3 == 0), venue=venue_name)
                    )
                    for i in range(50)
                )
            )
            handles.extend(batch_handles)
        sim.faults.stop_campaign()
        faulted = len(sim.faults.applied)
        receipts = await asyncio.gather(*(h.resolved(timeout=60) for h in handles))
        for handle, receipt in zip(handles, receipts, strict=True):
            counts[verdict(sim, handle, receipt.status, venue_name)] += 1
    duplicates = len(sim.truth.duplicates())
    unknown_acks = sum(h.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for h in handles)
    print(
        f"campaign: {len(handles)} orders, {faulted} faults, {unknown_acks} unknown acks -> {counts}, "
        f"duplicates {duplicates}"
    )
    assert len(handles) >= batches * 50
    assert unknown_acks > batches * 2
    assert counts == {"correct": len(handles), "wrong": 0, "unresolved": 0}
    assert duplicates == 0


# The strict campaign (issue 13) at CI size: both venues, REST and WebSocket, five instruments,
# gate and journal on, every write fault kind plus stream duplicates, reorderings and gaps,
# repeated cancels; every create, cancel, handle view and the gate's positions judged by their own
# ground truth (venues/sim/judge.py). `make bench` runs the same campaign at 10,000 commands.
@pytest.mark.parametrize("seed", [13, 2026])
async def test_the_strict_fault_campaign_passes_the_judge(seed: int) -> None:
    from benchmarks.bench_campaign import Settings, run_campaign

    results = await run_campaign(Settings(commands=600, seed=seed, rate_limit_every=150))
    assert results["ok"]
    assert results["repeated_cancels"] > 20 and results["unknown_acks"] > 30
    # issue 15: amends and batches are in the mix, and faults hit both (a lost batch answer included)
    assert results["amends"] > 20 and results["batch_items"] > 100 and results["judge"]["amends_correct"] > 20
    assert results["faults_by_operation"].get("amend", 0) > 0 and results["faults_by_operation"].get("batch", 0) > 0
    assert results["fault_kinds_missing"] == []
    # (a command refused before sending, e.g. by the gate, went out on no transport: venue/None)
    assert {"binance/rest", "binance/ws", "bybit/rest", "bybit/ws"} <= set(results["by_venue_transport"])
    judge = results["judge"]
    assert judge["creates_correct"] == results["creates"] and judge["cancels_correct"] == results["cancels"]
