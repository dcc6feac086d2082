"""What a venue view proves about one command: the reconciler's proof rules as pure functions.

Every function here takes plain data (the command, its send time and grace, the order the venue
showed, the other cancels of the same target) and returns a ``Decision``: a verdict
(SYNCHRONIZED or ABSENT) with its reason, or no verdict and why not. Nothing here reads a
venue, keeps state or reports to anyone; ``reconcile.reconciler`` applies the decisions. The
rules themselves are written out in ``reconcile.reconciler``'s module docstring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from gateway.model import CommandOperation, OrderReport, OrderState, ReconcileOutcome
from gateway.ports import PendingCommand

__all__ = [
    "CancelRecord",
    "CancelState",
    "Decision",
    "decide_after_misses",
    "decide_canceled",
    "decide_found",
    "decide_target",
    "matches",
]


class CancelState(Enum):
    IN_FLIGHT = "in flight"  # sent, not answered yet
    UNKNOWN = "unknown"  # answered UNKNOWN_EXECUTION, not settled
    CREDITED = "credited"  # this cancel canceled the target (venue's ACCEPTED or SYNCHRONIZED)
    NOT_CREDITED = "not credited"  # rejected, or proved not to have taken effect


@dataclass(slots=True)
class CancelRecord:
    """One cancel the gateway sent, as its siblings' evidence sees it."""

    command_id: str
    sent_s: float  # epoch seconds of the send
    state: CancelState


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict (``outcome`` set) or none yet (``outcome`` None); ``reason`` says why either way."""

    outcome: ReconcileOutcome | None
    reason: str

    @property
    def proven(self) -> bool:
        return self.outcome is not None


def _undecided(reason: str) -> Decision:
    return Decision(None, reason)


def matches(command: PendingCommand, sent_s: float, order: OrderReport, skew_s: float) -> bool:
    """Whether ``order`` is the order ``command`` names (a create's own, or a cancel's target).

    By venue order id, or by client order id (a cancel's or an amend's target may be of any age);
    for a create, an order created more than ``skew_s`` before the send is an older order that
    held the same client id (Binance reuses ids after close), not ours.
    """
    if command.order_id and order.order_id == command.order_id:
        return True
    if not command.client_order_id or order.client_order_id != command.client_order_id:
        return False
    if order.created_at_ms is None or command.operation is not CommandOperation.CREATE_ORDER:
        return True
    return order.created_at_ms >= (sent_s - skew_s) * 1000


def decide_found(
    command: PendingCommand,
    order: OrderReport,
    *,
    sent_s: float,
    grace_s: float,
    at: float,
    siblings: Iterable[CancelRecord],
    seen_closed_s: float | None,
    tolerance_s: float,
) -> Decision:
    """The venue shows the order ``command`` names: a create is SYNCHRONIZED, a cancel is judged by its target.

    ``at`` is the time the view is judged at (a read's time; now, for a view from the stream);
    the rest is ``decide_canceled``'s.
    """
    if command.operation is CommandOperation.CREATE_ORDER:
        return Decision(ReconcileOutcome.SYNCHRONIZED, f"order {order.order_id} found")
    if order.state is OrderState.CANCELED:
        return decide_canceled(
            order, sent_s=sent_s, siblings=siblings, seen_closed_s=seen_closed_s, tolerance_s=tolerance_s
        )
    return decide_target(order, sent_s=sent_s, grace_s=grace_s, at=at)


def decide_target(order: OrderReport, *, sent_s: float, grace_s: float, at: float) -> Decision:
    """A cancel's target is not CANCELED: closed otherwise, or still open at ``at`` past grace, proves ABSENT."""
    if order.state.is_terminal:
        return Decision(
            ReconcileOutcome.ABSENT, f"target order is {order.state.value}: the cancel cannot have taken effect"
        )
    if at >= sent_s + grace_s:
        return Decision(ReconcileOutcome.ABSENT, "target order still open after the grace window")
    return _undecided("target order still open inside the grace window")


def decide_canceled(
    order: OrderReport,
    *,
    sent_s: float,
    siblings: Iterable[CancelRecord],
    seen_closed_s: float | None,
    tolerance_s: float,
) -> Decision:
    """The target is CANCELED: credit this cancel only if nothing else accounts for it.

    ``siblings`` are the other cancels of the same target; ``seen_closed_s`` is when the
    stream first showed the target closed (local clock), if it did; ``tolerance_s`` is how far
    the venue's clock may be from ours.
    """
    others = list(siblings)
    for other in others:
        if other.state is CancelState.CREDITED:
            return Decision(
                ReconcileOutcome.ABSENT,
                f"target order is CANCELED by another cancel ({other.command_id}), not by this one",
            )
    canceled_s = order.updated_at_ms / 1000 if order.updated_at_ms is not None else None
    if canceled_s is not None and canceled_s < sent_s - tolerance_s:
        return Decision(
            ReconcileOutcome.ABSENT, f"target order was canceled {sent_s - canceled_s:.3f}s before this cancel was sent"
        )
    if seen_closed_s is not None and seen_closed_s < sent_s:
        return Decision(ReconcileOutcome.ABSENT, "target order was already seen CANCELED before this cancel was sent")
    rivals = sorted(
        other.command_id
        for other in others
        if other.state in (CancelState.IN_FLIGHT, CancelState.UNKNOWN)
        and (canceled_s is None or canceled_s >= other.sent_s - tolerance_s)
        and (seen_closed_s is None or seen_closed_s >= other.sent_s)
    )
    if rivals:
        return _undecided(
            f"target order is CANCELED, but cancel(s) {', '.join(rivals)} of the same order could equally "
            "have done it: the evidence cannot tell them apart"
        )
    return Decision(ReconcileOutcome.SYNCHRONIZED, "target order is CANCELED")


def decide_after_misses(
    operation: CommandOperation,
    *,
    misses: int,
    complete_misses: int,
    last_miss_s: float,
    sent_s: float,
    grace_s: float,
    reason: str,
) -> Decision:
    """Nothing found: ABSENT after two not-found reads, one of them complete, the later one past grace.

    Otherwise no verdict; the reason says what is still missing (or stays ``reason``, the last
    thing learned, e.g. a read failure).
    """
    past_grace = last_miss_s >= sent_s + grace_s
    if misses >= 2 and complete_misses >= 1 and past_grace:
        what = "order" if operation is CommandOperation.CREATE_ORDER else "target order"
        return Decision(
            ReconcileOutcome.ABSENT,
            f"{what} not found in {misses} reads covering the window, the last "
            f"{last_miss_s - sent_s:.1f}s after the send (grace {grace_s:.1f}s)",
        )
    if misses and not past_grace:
        return _undecided("not found yet; the grace window has not passed")
    if misses and complete_misses == 0:
        return _undecided("not found by query; complete history not read yet")
    return _undecided(reason)
