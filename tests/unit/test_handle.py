"""CommandHandle semantics: receipt() order, next_lifecycle(), resolved() mapping and timeouts."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from gateway.bus import EventBus
from gateway.handle import CommandHandle, ResolutionTimeout
from gateway.model import (
    Ack,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    OrderState,
    OrderUpdate,
    Receipt,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    RecoveryCompleted,
    RecoveryScheduled,
    utc_now,
)

BTC = "BTC/USDT:USDT"


def make_handle(command_id: str = "c1") -> CommandHandle:
    return CommandHandle._create(
        command_id=command_id,
        operation=CommandOperation.CREATE_ORDER,
        venue="v",
        instrument=BTC,
        client_order_id=command_id,
        request=None,
    )


def receipt(status: CommandStatus, **kw: object) -> CommandReceipt:
    return CommandReceipt(
        operation=CommandOperation.CREATE_ORDER,
        status=status,
        venue="v",
        instrument=BTC,
        client_order_id="c1",
        retriable=status is CommandStatus.UNKNOWN_EXECUTION,
        safe_to_resubmit=status is CommandStatus.REJECTED,
        **kw,
    )  # type: ignore[arg-type]


def ack(bus: EventBus, handle: CommandHandle, status: CommandStatus) -> None:
    bus.emit(
        handle,
        Ack,
        handle.command_id,
        ack=CommandAck(receipt=receipt(status), transport=None, acknowledged_at=utc_now()),
    )


def report(outcome: ReconcileOutcome, order: OrderReport | None = None) -> ReconcileReport:
    return ReconcileReport(
        command_id="c1",
        operation=CommandOperation.CREATE_ORDER,
        venue="v",
        instrument=BTC,
        client_order_id="c1",
        outcome=outcome,
        trigger=ReconcileTrigger.UNKNOWN_EXECUTION,
        evidence=EvidenceSource.ORDER_QUERY if order else EvidenceSource.ORDER_HISTORY,
        order=order,
        reason="test",
    )


FILLED = OrderReport(
    venue="v",
    instrument=BTC,
    order_id="9",
    client_order_id="c1",
    state=OrderState.FILLED,
    filled_quantity=Decimal("0.01"),
    average_price=Decimal("50000"),
)


async def test_receipt_returns_ack_first_then_waits_for_the_next() -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.UNKNOWN_EXECUTION)
    assert (await h.receipt()).status is CommandStatus.UNKNOWN_EXECUTION
    waiter = asyncio.ensure_future(h.receipt())
    await asyncio.sleep(0)
    assert not waiter.done()
    bus.emit(h, Receipt, "c1", receipt=receipt(CommandStatus.ACCEPTED, order_id="9"))
    assert (await asyncio.wait_for(waiter, 1)).status is CommandStatus.ACCEPTED


async def test_next_lifecycle_delivers_every_event_in_sequence() -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.UNKNOWN_EXECUTION)
    bus.emit(h, RecoveryScheduled, "c1", trigger=ReconcileTrigger.UNKNOWN_EXECUTION)
    bus.emit(h, RecoveryCompleted, "c1", report=report(ReconcileOutcome.SYNCHRONIZED, FILLED))
    kinds, seqs = [], []
    for _ in range(3):
        event = await h.next_lifecycle()
        kinds.append(type(event).__name__)
        seqs.append(event.sequence)
    assert kinds == ["Ack", "RecoveryScheduled", "RecoveryCompleted"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert h.statistics().depth == 0 and h.statistics().peak == 3


@pytest.mark.parametrize("status", [CommandStatus.ACCEPTED, CommandStatus.REJECTED])
async def test_resolved_returns_at_once_for_a_definite_ack(status: CommandStatus) -> None:
    bus, h = EventBus(), make_handle()
    assert h.resolution is None  # nothing answered yet
    ack(bus, h, status)
    assert (await h.resolved(timeout=0)).status is status
    assert h.resolution is not None and h.resolution.status is status


@pytest.mark.parametrize(
    ("outcome", "status", "safe", "retriable"),
    [
        (ReconcileOutcome.SYNCHRONIZED, CommandStatus.ACCEPTED, False, False),
        (ReconcileOutcome.ABSENT, CommandStatus.REJECTED, True, False),
        (ReconcileOutcome.STILL_UNCERTAIN, CommandStatus.UNKNOWN_EXECUTION, False, True),
        (ReconcileOutcome.DIVERGED, CommandStatus.UNKNOWN_EXECUTION, False, True),
    ],
)
async def test_resolved_maps_the_report(
    outcome: ReconcileOutcome, status: CommandStatus, safe: bool, retriable: bool
) -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.UNKNOWN_EXECUTION)
    h._attach_settler()
    assert h.resolution is None  # unknown: nothing proven yet
    waiter = asyncio.ensure_future(h.resolved(timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    order = FILLED if outcome is ReconcileOutcome.SYNCHRONIZED else None
    bus.emit(h, RecoveryCompleted, "c1", report=report(outcome, order))
    got = await waiter
    assert (got.status, got.safe_to_resubmit, got.retriable) == (status, safe, retriable)
    if outcome is ReconcileOutcome.SYNCHRONIZED:
        assert got.order_state is OrderState.FILLED
        assert got.filled_quantity == Decimal("0.01") and got.order_id == "9"


async def test_resolved_times_out_while_reconciliation_runs() -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.UNKNOWN_EXECUTION)
    h._attach_settler()
    with pytest.raises(ResolutionTimeout, match=r"still UNKNOWN_EXECUTION after 0\.01s"):
        await h.resolved(timeout=0.01)
    assert issubclass(ResolutionTimeout, asyncio.TimeoutError)


async def test_resolved_never_hangs_without_a_reconciler() -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.UNKNOWN_EXECUTION)
    with pytest.raises(ResolutionTimeout, match="no reconciler is settling it"):
        await asyncio.wait_for(h.resolved(), 1)


async def test_lifecycle_stream_ends_when_final() -> None:
    bus, h = EventBus(), make_handle()
    ack(bus, h, CommandStatus.ACCEPTED)
    bus.emit(h, OrderUpdate, "c1", order=FILLED)
    h._mark_final()
    seen = [type(e).__name__ async for e in h.lifecycle()]
    assert seen == ["Ack", "OrderUpdate"]


async def test_ack_before_answer_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="has not been answered yet"):
        _ = make_handle().ack
