"""CommandHandle semantics: receipt() order, next_lifecycle(), resolved() mapping and timeouts.

Every handle here is made and driven by a real ``Gateway`` over a scripted venue: answers come
from the venue, order updates from its stream (``ScriptedVenue.push``), and verdicts through
the gateway's ``ReconcileSink`` methods from a hand-settled reconciler port, as a reconciler
would deliver them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from gateway import Gateway, OrderRequest, OrderType, Side
from gateway.handle import CommandHandle, HandleState, ResolutionTimeout
from gateway.model import (
    CommandReceipt,
    CommandStatus,
    EvidenceSource,
    OrderReport,
    OrderState,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
)
from gateway.ports import PendingCommand
from tests.unit.fakes import BTC, HandSettledReconciler, ScriptedVenue


def buy(cid: str = "c1") -> OrderRequest:
    return OrderRequest(
        venue="fake",
        instrument=BTC,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        price=Decimal("50000"),
        client_order_id=cid,
    )


@asynccontextmanager
async def answered(
    status: CommandStatus, *, settled: bool = True
) -> AsyncIterator[tuple[Gateway, ScriptedVenue, CommandHandle, HandSettledReconciler]]:
    """A gateway whose venue answered one create with ``status``; with ``settled``, a reconciler port settles it."""
    venue = ScriptedVenue()
    venue.script.append(status)
    reconciler = HandSettledReconciler()
    async with Gateway(venues=[venue], reconcile=reconciler if settled else None) as gw:
        yield gw, venue, await gw.submit(buy()), reconciler


def tracked(reconciler: HandSettledReconciler, handle: CommandHandle) -> PendingCommand:
    (command,) = [c for c in reconciler.tracked if c.command_id == handle.command_id]
    return command


def filled(handle: CommandHandle) -> OrderReport:
    return OrderReport(
        venue="fake",
        instrument=BTC,
        order_id="9",
        client_order_id=handle.client_order_id,
        state=OrderState.FILLED,
        filled_quantity=Decimal("0.01"),
        average_price=Decimal("50000"),
    )


def report(handle: CommandHandle, outcome: ReconcileOutcome, order: OrderReport | None = None) -> ReconcileReport:
    return ReconcileReport(
        command_id=handle.command_id,
        operation=handle.operation,
        venue="fake",
        instrument=BTC,
        client_order_id=handle.client_order_id,
        outcome=outcome,
        trigger=ReconcileTrigger.UNKNOWN_EXECUTION,
        evidence=EvidenceSource.ORDER_QUERY if order else EvidenceSource.ORDER_HISTORY,
        order=order,
        reason="test",
    )


class HeldVenue(ScriptedVenue):
    """Holds each submit's answer until ``release`` is set: the handle stays PENDING meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        self.entered.set()
        await self.release.wait()
        return await super().submit(request)


async def test_receipt_returns_ack_first_then_waits_for_the_next() -> None:
    async with answered(CommandStatus.UNKNOWN_EXECUTION) as (gw, _, h, reconciler):
        assert (await h.receipt()).status is CommandStatus.UNKNOWN_EXECUTION
        waiter = asyncio.ensure_future(h.receipt())
        await asyncio.sleep(0)
        assert not waiter.done()
        gw.recovery_completed(tracked(reconciler, h), report(h, ReconcileOutcome.SYNCHRONIZED, filled(h)))
        assert (await asyncio.wait_for(waiter, 1)).status is CommandStatus.ACCEPTED


async def test_next_lifecycle_delivers_every_event_in_sequence() -> None:
    async with answered(CommandStatus.UNKNOWN_EXECUTION) as (gw, _, h, reconciler):
        command = tracked(reconciler, h)
        gw.recovery_scheduled(command, ReconcileTrigger.UNKNOWN_EXECUTION)
        gw.recovery_completed(command, report(h, ReconcileOutcome.SYNCHRONIZED, filled(h)))
        kinds, seqs = [], []
        for _ in range(4):
            event = await h.next_lifecycle()
            kinds.append(type(event).__name__)
            seqs.append(event.sequence)
        # The report moved the status (UNKNOWN -> ACCEPTED): the gateway follows it with a Receipt.
        assert kinds == ["Ack", "RecoveryScheduled", "RecoveryCompleted", "Receipt"]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        assert h.statistics().depth == 0 and h.statistics().peak == 4


@pytest.mark.parametrize("status", [CommandStatus.ACCEPTED, CommandStatus.REJECTED])
async def test_resolved_returns_at_once_for_a_definite_ack(status: CommandStatus) -> None:
    venue = HeldVenue()
    venue.script.append(status)
    async with Gateway(venues=[venue], reconcile=None) as gw:
        sending = asyncio.ensure_future(gw.submit(buy()))
        await venue.entered.wait()
        pending = gw.handle("c1")
        assert pending is not None and pending.state is HandleState.PENDING
        assert pending.resolution is None  # nothing answered yet
        venue.release.set()
        h = await sending
        assert h is pending
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
    async with answered(CommandStatus.UNKNOWN_EXECUTION) as (gw, _, h, reconciler):
        assert h.resolution is None  # unknown: nothing proven yet
        waiter = asyncio.ensure_future(h.resolved(timeout=5))
        await asyncio.sleep(0)
        assert not waiter.done()
        order = filled(h) if outcome is ReconcileOutcome.SYNCHRONIZED else None
        gw.recovery_completed(tracked(reconciler, h), report(h, outcome, order))
        got = await waiter
        assert (got.status, got.safe_to_resubmit, got.retriable) == (status, safe, retriable)
        if outcome is ReconcileOutcome.SYNCHRONIZED:
            assert got.order_state is OrderState.FILLED
            assert got.filled_quantity == Decimal("0.01") and got.order_id == "9"


async def test_resolved_times_out_while_reconciliation_runs() -> None:
    async with answered(CommandStatus.UNKNOWN_EXECUTION) as (_, _, h, reconciler):
        assert reconciler.is_tracking(h.command_id)
        with pytest.raises(ResolutionTimeout, match=r"still UNKNOWN_EXECUTION after 0\.01s"):
            await h.resolved(timeout=0.01)
    assert issubclass(ResolutionTimeout, asyncio.TimeoutError)


async def test_resolved_never_hangs_without_a_reconciler() -> None:
    async with answered(CommandStatus.UNKNOWN_EXECUTION, settled=False) as (_, _, h, _):
        with pytest.raises(ResolutionTimeout, match="no reconciler is settling it"):
            await asyncio.wait_for(h.resolved(), 1)


async def test_lifecycle_stream_ends_when_final() -> None:
    async with answered(CommandStatus.ACCEPTED) as (_, venue, h, _):
        venue.push(filled(h).model_copy(update={"order_id": h.order_id}))
        assert h.state is HandleState.FINAL
        seen = [type(e).__name__ async for e in h.lifecycle()]
    assert seen == ["Ack", "OrderUpdate"]


async def test_ack_before_answer_is_a_clear_error() -> None:
    venue = HeldVenue()
    async with Gateway(venues=[venue], reconcile=None) as gw:
        sending = asyncio.ensure_future(gw.submit(buy()))
        await venue.entered.wait()
        pending = gw.handle("c1")
        assert pending is not None
        with pytest.raises(RuntimeError, match="has not been answered yet"):
            _ = pending.ack
        venue.release.set()
        await sending
