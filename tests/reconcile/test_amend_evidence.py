"""The amend proof rules (reconcile/amend_evidence.py) on plain data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.model import (
    AmendmentReport,
    AmendRequest,
    CommandOperation,
    OrderReport,
    OrderState,
    ReconcileOutcome,
    utc_now,
)
from gateway.ports import PendingCommand
from reconcile.amend_evidence import AmendRecords, decide_amend

BTC = "BTC/USDT:USDT"
SENT = 1_000.0
GRACE = 3.0


def view(price: str = "100", qty: str = "1", state: OrderState = OrderState.NEW) -> OrderReport:
    return OrderReport(
        venue="binance",
        instrument=BTC,
        order_id="7",
        client_order_id="c",
        quantity=Decimal(qty),
        price=Decimal(price),
        state=state,
    )


def amend(price: str | None = "101", qty: str | None = None) -> PendingCommand:
    request = AmendRequest(
        venue="binance",
        instrument=BTC,
        client_order_id="c",
        price=None if price is None else Decimal(price),
        quantity=None if qty is None else Decimal(qty),
    )
    return PendingCommand(
        "am-1", CommandOperation.AMEND_ORDER, "binance", BTC, "c", "7", utc_now(), 1000, request, previous=view()
    )


def decide(
    order: OrderReport, *, at: float = SENT + 1, history: AmendRecords | None = None, **kw: str | None
) -> ReconcileOutcome | None:
    return decide_amend(amend(**kw), order, sent_s=SENT, grace_s=GRACE, at=at, history=history, tolerance_s=0.5).outcome


def record(price_after: str, time_ms: int) -> AmendmentReport:
    return AmendmentReport(
        venue="binance",
        instrument=BTC,
        order_id="7",
        time_ms=time_ms,
        price_before=Decimal("100"),
        price_after=Decimal(price_after),
        quantity_before=Decimal(1),
        quantity_after=Decimal(1),
    )


def test_the_order_showing_the_new_values_proves_it() -> None:
    assert decide(view("101")) is ReconcileOutcome.SYNCHRONIZED
    assert decide(view("101", state=OrderState.FILLED)) is ReconcileOutcome.SYNCHRONIZED  # amended, then filled


def test_closed_without_the_new_values_proves_it_did_not_take_effect() -> None:
    for state in (OrderState.FILLED, OrderState.CANCELED):
        assert decide(view("100", state=state)) is ReconcileOutcome.ABSENT


def test_previous_values_prove_absence_only_past_grace_with_the_history_read() -> None:
    late = SENT + GRACE + 1
    assert decide(view("100")) is None  # inside the grace window
    assert decide(view("100"), at=late) is None  # Binance's amendment history not read yet
    assert decide(view("100"), at=late, history=AmendRecords([], SENT + 1)) is None  # read too early
    assert decide(view("100"), at=late, history=AmendRecords([], late)) is ReconcileOutcome.ABSENT
    assert decide(view("100"), at=late, history=AmendRecords(None, late)) is ReconcileOutcome.ABSENT  # keeps none


@pytest.mark.parametrize(
    ("time_ms", "outcome"),
    [(int(SENT * 1000) + 5, ReconcileOutcome.SYNCHRONIZED), (int(SENT * 1000) - 2000, ReconcileOutcome.ABSENT)],
)
def test_an_amendment_record_after_the_send_proves_it_even_when_a_later_change_hides_it(
    time_ms: int, outcome: ReconcileOutcome
) -> None:
    late = SENT + GRACE + 1
    assert decide(view("100"), at=late, history=AmendRecords([record("101", time_ms)], late)) is outcome


def test_views_that_cannot_tell_prove_nothing() -> None:
    late = SENT + GRACE + 1
    assert decide(view("102"), at=late, history=AmendRecords([], late)) is None  # neither old nor new
    assert decide(view("100"), at=late, price="100", qty="1", history=AmendRecords([], late)) is None  # no change asked
