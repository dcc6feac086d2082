"""The proof rules (reconcile/evidence.py) on plain data: no venue, no reconciler, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.model import (
    CancelRequest,
    CommandOperation,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    ReconcileOutcome,
    Side,
)
from gateway.ports import PendingCommand
from reconcile.evidence import (
    CancelRecord,
    CancelState,
    Decision,
    decide_after_misses,
    decide_canceled,
    decide_found,
    decide_target,
    matches,
)

SENT = 1_000_000.0  # epoch seconds of the command's send
GRACE = 6.0
TOL = 0.5
INSTRUMENT = "BTC/USDT:USDT"


def command(operation: CommandOperation, cid: str = "c-1", order_id: str | None = None) -> PendingCommand:
    request: OrderRequest | CancelRequest
    if operation is CommandOperation.CREATE_ORDER:
        request = OrderRequest(
            venue="v", instrument=INSTRUMENT, side=Side.BUY, type=OrderType.LIMIT,
            quantity=Decimal("0.01"), price=Decimal("100"), client_order_id=cid,
        )  # fmt: skip
    else:
        request = CancelRequest(venue="v", instrument=INSTRUMENT, client_order_id=cid)
    return PendingCommand(
        command_id=cid if operation is CommandOperation.CREATE_ORDER else f"cx-{cid}",
        operation=operation,
        venue="v",
        instrument=INSTRUMENT,
        client_order_id=cid,
        order_id=order_id,
        sent_at=datetime.fromtimestamp(SENT, UTC),
        recv_window_ms=5000,
        request=request,
    )


def order(state: OrderState, *, updated_s: float | None = None, created_s: float | None = None) -> OrderReport:
    return OrderReport(
        venue="v", instrument=INSTRUMENT, order_id="42", client_order_id="c-1", state=state,
        updated_at_ms=int(updated_s * 1000) if updated_s is not None else None,
        created_at_ms=int(created_s * 1000) if created_s is not None else None,
    )  # fmt: skip


def sibling(state: CancelState, sent_s: float = SENT, command_id: str = "cx-other") -> CancelRecord:
    return CancelRecord(command_id, sent_s, state)


def canceled(
    *siblings: CancelRecord, updated_s: float | None = SENT + 1, seen_closed_s: float | None = None
) -> Decision:
    return decide_canceled(
        order(OrderState.CANCELED, updated_s=updated_s),
        sent_s=SENT, siblings=siblings, seen_closed_s=seen_closed_s, tolerance_s=TOL,
    )  # fmt: skip


def test_a_canceled_target_with_nothing_else_to_account_for_it_credits_the_cancel() -> None:
    decision = canceled()
    assert (decision.outcome, decision.reason) == (ReconcileOutcome.SYNCHRONIZED, "target order is CANCELED")
    assert canceled(sibling(CancelState.NOT_CREDITED)).outcome is ReconcileOutcome.SYNCHRONIZED


def test_a_credited_sibling_accounts_for_the_cancel_whatever_the_times_say() -> None:
    decision = canceled(sibling(CancelState.CREDITED, command_id="cx-first"))
    assert decision.outcome is ReconcileOutcome.ABSENT
    assert "another cancel (cx-first)" in decision.reason


@pytest.mark.parametrize(
    ("updated_s", "seen_closed_s", "outcome"),
    [
        (SENT - TOL - 0.01, None, ReconcileOutcome.ABSENT),  # venue clock: canceled before this cancel left
        (SENT - TOL + 0.01, None, ReconcileOutcome.SYNCHRONIZED),  # within the clock tolerance: not ruled out
        (None, SENT - 0.01, ReconcileOutcome.ABSENT),  # our clock: the stream showed it closed before the send
        (None, SENT + 0.01, ReconcileOutcome.SYNCHRONIZED),
    ],
)
def test_a_target_canceled_before_the_cancel_was_sent_does_not_prove_it(
    updated_s: float | None, seen_closed_s: float | None, outcome: ReconcileOutcome
) -> None:
    assert canceled(updated_s=updated_s, seen_closed_s=seen_closed_s).outcome is outcome


@pytest.mark.parametrize("state", [CancelState.IN_FLIGHT, CancelState.UNKNOWN])
def test_an_unsettled_sibling_that_could_equally_have_done_it_leaves_both_unproven(state: CancelState) -> None:
    decision = canceled(sibling(state, SENT + 0.2, "cx-b"), sibling(state, SENT - 0.2, "cx-a"))
    assert decision.outcome is None
    assert "cancel(s) cx-a, cx-b of the same order could equally have done it" in decision.reason


def test_a_sibling_sent_after_the_target_was_canceled_is_no_rival() -> None:
    late = sibling(CancelState.UNKNOWN, SENT + 5.0, "cx-late")
    assert canceled(late, updated_s=SENT + 1).outcome is ReconcileOutcome.SYNCHRONIZED
    assert canceled(late, updated_s=None, seen_closed_s=SENT + 1).outcome is ReconcileOutcome.SYNCHRONIZED


@pytest.mark.parametrize("state", [OrderState.FILLED, OrderState.EXPIRED, OrderState.REJECTED])
def test_a_target_closed_otherwise_proves_the_cancel_absent(state: OrderState) -> None:
    decision = decide_target(order(state), sent_s=SENT, grace_s=GRACE, at=SENT + 0.1)
    assert decision.outcome is ReconcileOutcome.ABSENT
    assert decision.reason == f"target order is {state.value}: the cancel cannot have taken effect"


def test_an_open_target_proves_the_cancel_absent_only_once_the_grace_window_passed() -> None:
    inside = decide_target(order(OrderState.NEW), sent_s=SENT, grace_s=GRACE, at=SENT + GRACE - 0.01)
    after = decide_target(order(OrderState.PARTIALLY_FILLED), sent_s=SENT, grace_s=GRACE, at=SENT + GRACE)
    assert (inside.outcome, inside.reason) == (None, "target order still open inside the grace window")
    assert after.outcome is ReconcileOutcome.ABSENT


def test_a_found_create_is_synchronized_and_a_found_cancel_is_judged_by_its_target() -> None:
    def found(operation: CommandOperation) -> Decision:
        return decide_found(
            command(operation), order(OrderState.FILLED),
            sent_s=SENT, grace_s=GRACE, at=SENT, siblings=(), seen_closed_s=None, tolerance_s=TOL,
        )  # fmt: skip

    create, cancel = found(CommandOperation.CREATE_ORDER), found(CommandOperation.CANCEL_ORDER)
    assert (create.outcome, create.reason) == (ReconcileOutcome.SYNCHRONIZED, "order 42 found")
    assert cancel.outcome is ReconcileOutcome.ABSENT


def misses(misses: int, complete: int, last_s: float, reason: str = "previous reason") -> Decision:
    return decide_after_misses(
        CommandOperation.CREATE_ORDER, misses=misses, complete_misses=complete, last_miss_s=last_s,
        sent_s=SENT, grace_s=GRACE, reason=reason,
    )  # fmt: skip


def test_absence_needs_two_misses_one_complete_the_later_past_grace() -> None:
    proven = misses(2, 1, SENT + GRACE)
    assert proven.outcome is ReconcileOutcome.ABSENT
    assert proven.reason == "order not found in 2 reads covering the window, the last 6.0s after the send (grace 6.0s)"
    assert misses(1, 1, SENT + GRACE).outcome is None  # one read is not enough
    assert misses(2, 1, SENT + GRACE - 0.1).reason == "not found yet; the grace window has not passed"
    assert misses(2, 0, SENT + GRACE).reason == "not found by query; complete history not read yet"
    assert misses(0, 0, 0.0, "rate-limited: 429").reason == "rate-limited: 429"  # a failed read proves nothing


def test_a_create_matches_only_an_order_created_after_its_send_minus_skew() -> None:
    create = command(CommandOperation.CREATE_ORDER)
    assert matches(create, SENT, order(OrderState.NEW, created_s=SENT - 4.9), skew_s=5.0)
    assert not matches(create, SENT, order(OrderState.NEW, created_s=SENT - 5.1), skew_s=5.0)  # an old id reused
    assert matches(command(CommandOperation.CANCEL_ORDER), SENT, order(OrderState.NEW, created_s=0.0), skew_s=5.0)
    assert matches(command(CommandOperation.CREATE_ORDER, "other", order_id="42"), SENT, order(OrderState.NEW), 5.0)
