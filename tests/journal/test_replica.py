"""StateReplica: gap -> error, duplicate -> skipped, replaying a run's journal equals the live state."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import CancelRequest, CommandHandle, CommandStatus, Gateway, OrderState
from gateway.journal import AuditItem, Journal, JournalReader
from gateway.model import (
    Ack,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    EvidenceSource,
    OrderReport,
    ReconcileOutcome,
    ReconcileReport,
    ReconcileTrigger,
    utc_now,
)
from gateway.replica import ReplicaConflict, SequenceGap, StateReplica
from tests.journal.helpers import order
from tests.unit.fakes import BTC, ScriptedVenue


def ack(seq: int, cid: str, status: CommandStatus = CommandStatus.ACCEPTED) -> Ack:
    receipt = CommandReceipt(
        operation=CommandOperation.CREATE_ORDER, status=status, venue="fake", instrument=BTC, client_order_id=cid
    )
    return Ack(sequence=seq, command_id=cid, ack=CommandAck(receipt=receipt, transport=None, acknowledged_at=utc_now()))


def test_gap_raises_with_the_missing_range() -> None:
    replica = StateReplica()
    replica.apply(ack(10, "a"))
    with pytest.raises(SequenceGap, match=r"^sequence gap: expected 11, got 13 \(2 item\(s\) missing\)$"):
        replica.apply(ack(13, "b"))


def test_exact_duplicate_is_skipped_and_a_conflicting_one_raises() -> None:
    replica = StateReplica()
    first = ack(1, "a")
    assert replica.apply(first) is True
    assert replica.apply(first) is False
    assert replica.duplicates == 1
    assert replica.apply(ack(2, "b")) is True
    with pytest.raises(ReplicaConflict, match=r"^sequence 1 arrived twice with different content$"):
        replica.apply(ack(1, "other"))
    assert replica.command("a") is not None and replica.command("a").receipts == [first.ack.receipt]  # type: ignore[union-attr]


def test_apply_all_sorts_by_sequence() -> None:
    replica = StateReplica()
    b = ack(2, "b")
    replica.apply_all([ack(3, "c"), ack(1, "a"), b, b])
    assert replica.last_sequence == 3 and replica.duplicates == 1
    assert list(replica.commands) == ["a", "b", "c"]


def test_non_strict_counts_gaps() -> None:
    replica = StateReplica(strict=False)
    replica.apply_all([ack(1, "a"), ack(5, "b")])
    assert replica.gaps == 1 and replica.last_sequence == 5


def handle_summary(handle: CommandHandle) -> tuple[object, ...]:
    """The live side of ``CommandState.summary()``."""
    current = handle.resolution
    status = current.status if current is not None else handle.ack.receipt.status
    last = handle.order_view
    state = last.state if last is not None else (current.order_state if current is not None else None)
    filled = last.filled_quantity if last is not None else (current.filled_quantity if current is not None else None)
    return (handle.command_id, status, handle.order_id, state, filled, len(handle.receipts))


async def test_replaying_a_run_yields_the_live_state(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED] * 3 + [CommandStatus.REJECTED, CommandStatus.UNKNOWN_EXECUTION] * 2)
    journal = Journal(path)
    live = StateReplica()
    journal.subscribe(live.apply)
    handles: list[CommandHandle] = []
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        for i in range(7):
            handles.append(await gw.submit(order(client_order_id=f"o-{i}")))
        partial, filled, canceled = handles[0], handles[1], handles[2]
        venue.push(_report(partial, OrderState.PARTIALLY_FILLED, "0.004"))
        venue.push(_report(filled, OrderState.PARTIALLY_FILLED, "0.005"))
        venue.push(_report(filled, OrderState.FILLED, "0.01"))
        venue.push(_report(filled, OrderState.PARTIALLY_FILLED, "0.005"))  # late, out of order: ignored by both
        handles.append(await gw.cancel(CancelRequest(venue="fake", instrument=BTC, client_order_id="o-2")))
        venue.push(_report(canceled, OrderState.CANCELED, "0"))
        # A reconciler's verdicts on the two unknowns (o-4 synchronized, o-6 proved absent).
        for handle, outcome in ((handles[4], ReconcileOutcome.SYNCHRONIZED), (handles[6], ReconcileOutcome.ABSENT)):
            cmd = _pending_of(handle)
            gw.recovery_scheduled(cmd, ReconcileTrigger.UNKNOWN_EXECUTION)
            gw.recovery_completed(cmd, _report_for(handle, outcome))
        run_id = journal.run_id
    assert run_id is not None

    replayed = StateReplica.from_journal(path, run_id)
    expected = {h.command_id: handle_summary(h) for h in handles}
    assert replayed.snapshot() == expected
    assert live.snapshot() == expected
    assert replayed.duplicates == 0 and replayed.applied == live.applied
    assert replayed.command("o-6").status is CommandStatus.REJECTED  # type: ignore[union-attr]
    assert replayed.command("o-4").order_state is OrderState.NEW  # type: ignore[union-attr]
    assert replayed.orders[("fake", filled.order_id or "")].state is OrderState.FILLED


async def test_replaying_a_crashed_run_with_lost_buffered_events(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    journal = Journal(path)
    gw = Gateway(venues=[venue], journal=journal, reconcile=None)
    await gw.start()
    await gw.submit(order(client_order_id="c-1"))
    await journal.flush()
    await gw.submit(order(client_order_id="c-2"))  # its intent is in the intent log; its ack only buffered
    journal.abandon()
    assert journal.run_id is not None
    restarted = Journal(path)
    await restarted.open_run(["fake"])  # the next start restores the logged intent into its run
    await restarted.close()
    with JournalReader(path) as reader:
        items: list[AuditItem] = reader.audit_items(journal.run_id)
    assert [type(i).__name__ for i in items] == ["IntentEntry", "Ack", "IntentEntry"]
    replica = StateReplica.from_journal(path, journal.run_id)
    assert replica.command("c-2").ack_receipt is None  # type: ignore[union-attr]


def _report(handle: CommandHandle, state: OrderState, filled: str) -> OrderReport:
    return OrderReport(
        venue="fake",
        instrument=BTC,
        order_id=handle.order_id or "?",
        client_order_id=handle.client_order_id,
        state=state,
        filled_quantity=Decimal(filled),
    )


def _pending_of(handle: CommandHandle):  # type: ignore[no-untyped-def]
    from gateway.ports import PendingCommand

    return PendingCommand(
        command_id=handle.command_id,
        operation=handle.operation,
        venue=handle.venue,
        instrument=handle.instrument,
        client_order_id=handle.client_order_id,
        order_id=handle.order_id,
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=handle.request,  # type: ignore[arg-type]
    )


def _report_for(handle: CommandHandle, outcome: ReconcileOutcome) -> ReconcileReport:
    order_report = None
    if outcome is ReconcileOutcome.SYNCHRONIZED:
        order_report = OrderReport(
            venue="fake", instrument=BTC, order_id="900", client_order_id=handle.client_order_id, state=OrderState.NEW
        )
    return ReconcileReport(
        command_id=handle.command_id,
        operation=handle.operation,
        venue="fake",
        instrument=BTC,
        client_order_id=handle.client_order_id,
        outcome=outcome,
        trigger=ReconcileTrigger.UNKNOWN_EXECUTION,
        evidence=EvidenceSource.ORDER_QUERY,
        order=order_report,
        reason="test verdict",
    )


@pytest.mark.parametrize("durability", ["process", "power"])
async def test_live_replica_sees_a_gapless_stream_under_concurrent_submits(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED, CommandStatus.UNKNOWN_EXECUTION, CommandStatus.REJECTED] * 10)
    journal = Journal(path, durability=durability)  # type: ignore[arg-type]
    live = StateReplica()  # strict: a gap or an out-of-order item would raise inside the listener
    errors: list[BaseException] = []

    def listener(item: AuditItem) -> None:
        try:
            live.apply(item)
        except Exception as exc:
            errors.append(exc)

    journal.subscribe(listener)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        handles = await asyncio.gather(*(gw.submit(order()) for _ in range(30)))
        run_id = journal.run_id
    assert errors == []
    assert run_id is not None
    replayed = StateReplica.from_journal(path, run_id)
    assert replayed.snapshot() == live.snapshot() == {h.command_id: handle_summary(h) for h in handles}
