"""What a venue view proves about one amend whose answer was lost: the proof rules as a pure function.

An amend names its target order; ``PendingCommand.previous`` is the target as the gateway knew it
when the amend was sent, and the request holds the values asked for. The rules:

- **SYNCHRONIZED** when the venue's amendment history holds a record of this change made after
  the send (less the clock tolerance), or when the order shows every value asked for and at least
  one of them differs from what it showed before (so the view could not be the unchanged order).
- **ABSENT** (the amend did not take effect; REJECTED, safe to resubmit) when the order closed
  without showing the values asked for (it filled or was canceled first: the receipt carries its
  final state), or when, on a view made after the grace window, it is still open with its previous
  values and no amendment record covers the send window. A venue that keeps amendment history
  (Binance) must have been read for that; one that keeps none (Bybit) is judged by the view alone.
- Anything else proves nothing yet: a view inside the grace window, an amend asking for values
  the order already had, an order showing neither the old nor the new values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.model import AmendmentReport, AmendRequest, OrderReport, ReconcileOutcome
from gateway.ports import PendingCommand
from reconcile.evidence import Decision

__all__ = ["AmendRecords", "decide_amend"]


@dataclass(frozen=True, slots=True)
class AmendRecords:
    """The amendment history read for one amend: ``records`` None when the venue keeps none."""

    records: Sequence[AmendmentReport] | None
    read_at: float


def _wanted(command: PendingCommand) -> AmendRequest | None:
    request = command.request
    return request if isinstance(request, AmendRequest) else None


def _shows(order: OrderReport, request: AmendRequest) -> bool:
    return (request.quantity is None or order.quantity == request.quantity) and (
        request.price is None or order.price == request.price
    )


def _record_of(records: Sequence[AmendmentReport], request: AmendRequest, sent_s: float, tolerance_s: float) -> bool:
    earliest_ms = (sent_s - tolerance_s) * 1000
    return any(
        r.time_ms >= earliest_ms
        and (request.quantity is None or r.quantity_after == request.quantity)
        and (request.price is None or r.price_after == request.price)
        for r in records
    )


def decide_amend(
    command: PendingCommand,
    order: OrderReport,
    *,
    sent_s: float,
    grace_s: float,
    at: float,
    history: AmendRecords | None,
    tolerance_s: float,
) -> Decision:
    """The rules in the module docstring; ``at`` is when ``order`` was seen (a read, or a stream view's stamp)."""
    request = _wanted(command)
    if request is None:
        return Decision(None, "not an amend")
    before = command.previous
    if history is not None and history.records and _record_of(history.records, request, sent_s, tolerance_s):
        return Decision(ReconcileOutcome.SYNCHRONIZED, "the venue's amendment history records this change")
    shows = _shows(order, request)
    changes = before is None or not _shows(before, request)
    if shows and changes:
        return Decision(ReconcileOutcome.SYNCHRONIZED, f"order {order.order_id} shows the amended values")
    if order.state.is_terminal and not shows:
        return Decision(
            ReconcileOutcome.ABSENT,
            f"order is {order.state.value} without the amended values: the amend did not take effect",
        )
    if shows:
        return Decision(None, "the order already had the values asked for: its view cannot tell")
    unchanged = before is not None and order.quantity == before.quantity and order.price == before.price
    if not unchanged:
        return Decision(None, "the order shows neither its previous nor the amended values")
    if at < sent_s + grace_s:
        return Decision(None, "order still shows its previous values inside the grace window")
    if history is None or history.read_at < sent_s + grace_s:
        return Decision(None, "order shows its previous values; the venue's amendment history is not read yet")
    return Decision(
        ReconcileOutcome.ABSENT, "order still shows its previous values after the grace window; no amendment recorded"
    )
