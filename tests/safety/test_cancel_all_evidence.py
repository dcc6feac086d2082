"""The cancel-all proof rules (reconcile/cancel_all.py) on plain data: what one read per instrument proves."""

from __future__ import annotations

from gateway.model import OrderReport, OrderState, ReconcileOutcome
from reconcile.cancel_all import InstrumentDecision, InstrumentView, decide_cancel_all, decide_instrument
from reconcile.evidence import CancelRecord, CancelState, Decision

BTC = "BTC/USDT:USDT"
SENT = 1_000.0  # epoch seconds of the cancel-all's send
GRACE = 2.0
TOL = 0.5


def order(
    oid: str, state: OrderState, *, created: float, updated: float | None = None, cid: str | None = None
) -> OrderReport:
    return OrderReport(
        venue="binance", instrument=BTC, order_id=oid, client_order_id=cid, state=state,
        created_at_ms=int(created * 1000), updated_at_ms=int((updated if updated is not None else created) * 1000),
    )  # fmt: skip


def decide(
    open_orders: list[OrderReport],
    history: list[OrderReport],
    targets: list[OrderReport],
    *,
    read_at: float,
    siblings: dict[str, list[CancelRecord]] | None = None,
    seen_closed: dict[str, float] | None = None,
) -> InstrumentDecision:
    return decide_instrument(
        InstrumentView(BTC, open_orders, history, read_at),
        targets,
        sent_s=SENT,
        grace_s=GRACE,
        tolerance_s=TOL,
        siblings=lambda o: (siblings or {}).get(o.order_id, []),
        seen_closed_s=lambda o: (seen_closed or {}).get(o.order_id),
    )


TARGET = order("1", OrderState.NEW, created=900.0, cid="ours-1")


def test_a_target_still_open_past_grace_proves_absent_and_inside_grace_nothing() -> None:
    assert decide([TARGET], [TARGET], [TARGET], read_at=SENT + 1).decision.outcome is None
    verdict = decide([TARGET], [TARGET], [TARGET], read_at=SENT + GRACE).decision
    assert verdict.outcome is ReconcileOutcome.ABSENT and "still open" in verdict.reason


def test_an_outside_order_from_before_the_send_counts_one_from_after_does_not() -> None:
    before = order("9", OrderState.NEW, created=SENT - 10)  # someone else's, resting before the send
    assert decide([before], [], [], read_at=SENT + GRACE).decision.outcome is ReconcileOutcome.ABSENT
    after = order("8", OrderState.NEW, created=SENT + 0.2)  # placed after the send: a cancel-all missed it rightly
    canceled = order("1", OrderState.CANCELED, created=900.0, updated=SENT + 0.1, cid="ours-1")
    verdict = decide([after], [canceled], [TARGET], read_at=SENT + 0.3)
    assert verdict.decision.outcome is ReconcileOutcome.SYNCHRONIZED and verdict.credited == (canceled,)


def test_a_target_canceled_before_the_send_is_not_its_doing() -> None:
    earlier = order("1", OrderState.CANCELED, created=900.0, updated=SENT - 5, cid="ours-1")
    assert decide([], [earlier], [TARGET], read_at=SENT + 1).decision.outcome is None
    verdict = decide([], [earlier], [TARGET], read_at=SENT + GRACE)
    assert (verdict.decision.outcome, verdict.nothing) == (ReconcileOutcome.ABSENT, True)


def test_a_target_canceled_since_is_credited_only_when_no_other_cancel_accounts_for_it() -> None:
    canceled = order("1", OrderState.CANCELED, created=900.0, updated=SENT + 0.1, cid="ours-1")
    credited = {"1": [CancelRecord("cx-1", SENT - 1, CancelState.CREDITED)]}
    verdict = decide([], [canceled], [TARGET], read_at=SENT + GRACE, siblings=credited)
    assert (verdict.decision.outcome, verdict.nothing) == (ReconcileOutcome.ABSENT, True)
    rival = {"1": [CancelRecord("cx-2", SENT - 0.2, CancelState.UNKNOWN)]}
    verdict = decide([], [canceled], [TARGET], read_at=SENT + GRACE, siblings=rival)
    assert verdict.decision.outcome is None and "cx-2" in verdict.decision.reason
    seen = decide([], [canceled], [TARGET], read_at=SENT + GRACE, seen_closed={"1": SENT - 1})
    assert seen.decision.outcome is ReconcileOutcome.ABSENT  # the stream showed it closed before the send


def test_a_target_seen_nowhere_proves_nothing() -> None:
    verdict = decide([], [], [TARGET], read_at=SENT + GRACE + 5)
    assert verdict.decision.outcome is None and "neither open nor in the history" in verdict.decision.reason


def test_filled_targets_leave_nothing_for_it_to_cancel() -> None:
    filled = order("1", OrderState.FILLED, created=900.0, updated=SENT + 0.1, cid="ours-1")
    verdict = decide([], [filled], [TARGET], read_at=SENT + GRACE)
    assert (verdict.decision.outcome, verdict.nothing) == (ReconcileOutcome.ABSENT, True)


def _part(outcome: ReconcileOutcome | None, *, nothing: bool = False) -> InstrumentDecision:
    return InstrumentDecision(Decision(outcome, f"{outcome}"), nothing=nothing)


def test_instruments_sum_up() -> None:
    sync, absent = ReconcileOutcome.SYNCHRONIZED, ReconcileOutcome.ABSENT
    assert decide_cancel_all([_part(sync), _part(absent, nothing=True)]).outcome is sync
    assert decide_cancel_all([_part(absent, nothing=True), _part(absent)]).outcome is absent
    assert decide_cancel_all([_part(sync), _part(None)]).outcome is None
    partial = decide_cancel_all([_part(sync), _part(absent)])
    assert partial.outcome is None and "some instruments and not on others" in partial.reason
