"""The one command-state fold: a command's resolution, its most advanced order view, and finality.

``CommandHandle`` (live), ``StateReplica`` (the audit stream replayed anywhere) and journal
recovery (what a predecessor run left unsettled) all fold a command's lifecycle the same way,
through ``CommandFold``; so a replayed run yields what its live handles held and the journal
recovers exactly the commands a live gateway would still be settling.

The rules:

- **Resolution**: the latest later receipt or reconciliation report (``receipt_from_report``
  over the ack's receipt) once one came, else the ack's receipt unless it is UNKNOWN_EXECUTION.
  An Ack resets a resolution (a recovered command's new ack starts again).
- **Most advanced order view** (``advances``): updates can arrive out of order and reads can
  lag, but a venue's filled quantity only grows and a closed order never reopens; so a view
  less filled than the last, or open after a terminal one, is older and ignored.
- **Final**: REJECTED is final; an ACCEPTED cancel (or cancel-all) is final (the venue canceled the
  order: the cancel's effect is proved), and so is an ACCEPTED amend (the venue took it); an
  ACCEPTED create is final once its order's state is terminal.
  UNKNOWN_EXECUTION is never final, however terminal the order looks: the command is settled
  only by an accepted receipt or a SYNCHRONIZED report.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.model import (
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderState,
    ReconcileOutcome,
    ReconcileReport,
    utc_now,
)

__all__ = ["CommandFold", "advances", "is_final", "receipt_from_report"]


def advances(last: OrderReport | None, new: OrderReport) -> bool:
    """Whether ``new`` is a more advanced view of the order than ``last`` (module doc)."""
    if last is None:
        return True
    if new.filled_quantity < last.filled_quantity or (last.state.is_terminal and new.state.is_open):
        return False
    return last.state.is_open or new.filled_quantity > last.filled_quantity


def is_final(operation: CommandOperation | None, resolution: CommandReceipt | None, state: OrderState | None) -> bool:
    """The finality rule (module doc); ``state`` is the most advanced order state known."""
    if resolution is None:
        return False
    if resolution.status is CommandStatus.REJECTED:
        return True
    if resolution.status is not CommandStatus.ACCEPTED:
        return False
    if operation in (CommandOperation.CANCEL_ORDER, CommandOperation.CANCEL_ALL, CommandOperation.AMEND_ORDER):
        return True  # the venue took it: the command is answered
    return state is not None and state.is_terminal


def receipt_from_report(base: CommandReceipt, report: ReconcileReport) -> CommandReceipt:
    """The receipt a reconciliation report proves, starting from the command's unknown receipt."""
    order = report.order
    common = {
        "order_id": (order.order_id if order else None) or report.order_id or base.order_id,
        "received_at": utc_now(),
    }
    if report.outcome is ReconcileOutcome.SYNCHRONIZED:
        return base.model_copy(
            update={
                **common,
                "status": CommandStatus.ACCEPTED,
                "message": f"reconciled from {report.evidence.value}: {report.reason}".rstrip(": "),
                "retriable": False,
                "safe_to_resubmit": False,
                "order_state": order.state if order else base.order_state,
                "filled_quantity": order.filled_quantity if order else base.filled_quantity,
                "average_price": order.average_price if order else base.average_price,
            }
        )
    if report.outcome is ReconcileOutcome.ABSENT:
        rejected: dict[str, object] = {
            **common,
            "status": CommandStatus.REJECTED,
            "message": f"proved absent: {report.reason}",
            "retriable": False,
            "safe_to_resubmit": True,
        }
        if order is not None and base.operation is CommandOperation.AMEND_ORDER:
            # An amend that did not take effect reports the order as the venue shows it (filled first...).
            rejected.update(order_state=order.state, filled_quantity=order.filled_quantity)
        return base.model_copy(update=rejected)
    return base.model_copy(
        update={
            **common,
            "status": CommandStatus.UNKNOWN_EXECUTION,
            "message": f"{report.outcome.value}: {report.reason}",
            "retriable": True,
            "safe_to_resubmit": False,
        }
    )


@dataclass(slots=True)
class CommandFold:
    """One command's folded state; feed it the lifecycle in sequence order."""

    operation: CommandOperation | None = None
    ack_receipt: CommandReceipt | None = None
    resolution: CommandReceipt | None = None  # from a reconciliation report
    last_order: OrderReport | None = None  # the most advanced venue view

    def ack(self, receipt: CommandReceipt) -> None:
        self.ack_receipt = receipt
        self.resolution = None
        self.operation = self.operation or receipt.operation

    def receipt(self, receipt: CommandReceipt) -> None:
        """A later receipt for the command (the gateway emits one whenever a report moves its status)."""
        self.resolution = receipt

    def report(self, report: ReconcileReport) -> None:
        """A reconciliation report: it resolves the command (when acked) and may carry the order."""
        if self.ack_receipt is not None:
            self.resolution = receipt_from_report(self.ack_receipt, report)
        if report.order is not None:
            self.order(report.order)

    def order(self, order: OrderReport) -> bool:
        """A venue view of the order; returns whether it became the most advanced one."""
        if advances(self.last_order, order):
            self.last_order = order
            return True
        return False

    @property
    def current(self) -> CommandReceipt | None:
        """The resolved receipt, or None while the outcome is unknown."""
        if self.resolution is not None:
            return self.resolution
        ack = self.ack_receipt
        if ack is not None and ack.status is not CommandStatus.UNKNOWN_EXECUTION:
            return ack
        return None

    @property
    def order_state(self) -> OrderState | None:
        if self.last_order is not None:
            return self.last_order.state
        current = self.current
        return current.order_state if current is not None else None

    @property
    def filled_quantity(self) -> Decimal | None:
        if self.last_order is not None:
            return self.last_order.filled_quantity
        current = self.current
        return current.filled_quantity if current is not None else None

    @property
    def final(self) -> bool:
        return is_final(self.operation, self.current, self.order_state)
