"""Stream evidence reaches tracked commands through indexes, never by scanning every tracked command.

Regression: each stream event cost time proportional to the tracked unknowns (138 / 267 / 537 us
at 1k / 2k / 4k); during an outage unknowns pile up exactly when the stream must be fastest.
The CPU figures are in ``benchmarks/bench_reconcile.py``; here the structure is checked: an event
is matched without iterating the tracked set.
"""

from __future__ import annotations

from typing import Any, NoReturn

from gateway.model import OrderReport, OrderState, ReconcileTrigger
from reconcile import ReconcilePolicy, Reconciler
from tests.reconcile.conftest import RecordingSink, pending


class _NoScan(dict[str, Any]):
    """The tracked set, refusing to be iterated: only lookups by key are allowed."""

    def _refuse(self, *args: object) -> NoReturn:
        raise AssertionError("the tracked set was scanned for a stream event")

    items = values = keys = __iter__ = _refuse  # type: ignore[assignment]


def update(cid: str, order_id: str) -> OrderReport:
    return OrderReport(
        venue="binance", instrument="BTC/USDT:USDT", order_id=order_id, client_order_id=cid, state=OrderState.NEW
    )


def test_a_stream_event_finds_its_command_among_ten_thousand_without_a_scan() -> None:
    sink = RecordingSink()
    rec = Reconciler({}, ReconcilePolicy(grace_seconds=60, deadline_seconds=120), sink)
    for i in range(10_000):
        rec.track(pending(f"ix-{i}"), ReconcileTrigger.UNKNOWN_EXECUTION)
    rec._tracked = _NoScan(rec._tracked)

    rec.observe(update("someone-else", "4000000001"))
    rec.observe(update("ix-7777", "4000000002"))

    assert sink.outcomes("ix-7777") == ["SYNCHRONIZED"]
    assert rec.tracked == 9_999 and not rec.is_tracking("ix-7777")
    assert len(sink.completed) == 1


def test_the_index_forgets_settled_commands() -> None:
    rec = Reconciler({}, ReconcilePolicy(grace_seconds=60, deadline_seconds=120), RecordingSink())
    for i in range(100):
        rec.track(pending(f"ix-{i}"), ReconcileTrigger.UNKNOWN_EXECUTION)
    for i in range(100):
        rec.observe(update(f"ix-{i}", str(4_000_000_000 + i)))
    assert rec.tracked == 0
    assert rec._index == {}
