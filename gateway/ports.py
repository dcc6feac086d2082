"""The seams ``Gateway`` composes: what it asks of the gate, the journal and the reconciler.

Each concern lives in its own folder (``risk/``, ``gateway/journal.py``, ``reconcile/``) and
implements one of these protocols; ``gateway.core`` only ever calls through them, so a test
can swap any of them and a reader can see the whole contract between the parts here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    LifecycleEvent,
    OrderReport,
    OrderRequest,
    ReconcileReport,
    ReconcileTrigger,
    Transport,
)

__all__ = [
    "GatePort",
    "JournalPort",
    "PendingCommand",
    "ReconcileSink",
    "ReconcilerPort",
    "RecoveredCommand",
]


@dataclass(slots=True)
class PendingCommand:
    """A command whose outcome the reconciler must prove.

    ``command_id`` is the create's client order id, or the cancel's request id. For a
    cancel, ``client_order_id`` / ``order_id`` name the *target* order.
    """

    command_id: str
    operation: CommandOperation
    venue: str
    instrument: str
    client_order_id: str | None
    order_id: str | None
    sent_at: datetime
    recv_window_ms: int
    request: OrderRequest | CancelRequest
    transport: Transport | None = None
    # ABSENT was already reported once: a later sighting is a DIVERGED alert.
    reported_absent: bool = False
    attempts: int = 0
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class RecoveredCommand:
    """A command a previous run journaled without a final outcome."""

    command: PendingCommand
    run_id: str
    last_receipt: CommandReceipt | None


@runtime_checkable
class GatePort(Protocol):
    """Portfolio gate as ``Gateway`` uses it (implemented by ``risk.PortfolioGate``)."""

    async def check_and_reserve(self, request: OrderRequest, reference_price: Decimal | None) -> None:
        """Check every limit and reserve the order's exposure atomically; raise ``RiskRejected``."""

    async def on_receipt(self, request: OrderRequest, receipt: CommandReceipt) -> None:
        """A receipt for a create: REJECTED releases, ACCEPTED with fills converts, UNKNOWN keeps."""

    async def on_order_update(self, order: OrderReport) -> None:
        """A venue-side state change: fills convert reserved exposure, terminal states release the rest."""

    async def on_reconciled(self, request: OrderRequest, report: ReconcileReport) -> None:
        """ABSENT releases the reservation; SYNCHRONIZED converts/releases per the order's state."""

    async def close(self) -> None: ...


@runtime_checkable
class JournalPort(Protocol):
    """Write-ahead journal as ``Gateway`` uses it (implemented by ``gateway.journal.Journal``)."""

    async def open_run(self, venues: Sequence[str]) -> list[RecoveredCommand]:
        """Start a run; seal predecessors; return their commands that lack a final outcome."""

    async def record_intent(self, command: PendingCommand, sequence: int) -> None:
        """Durably record a command *before* it is sent (raises if it cannot)."""

    def record_event(self, event: LifecycleEvent) -> None:
        """Append a lifecycle event (ack, receipt, update, recovery) after the fact."""

    def settled_receipt(self, command_id: str) -> CommandReceipt | None:
        """The last receipt journaled for a command of any run, if any."""

    async def close(self) -> None: ...


class ReconcileSink(Protocol):
    """How the reconciler reports back; ``Gateway`` turns these into lifecycle events."""

    def recovery_scheduled(self, command: PendingCommand, trigger: ReconcileTrigger) -> None: ...

    def recovery_completed(self, command: PendingCommand, report: ReconcileReport) -> None: ...


@runtime_checkable
class ReconcilerPort(Protocol):
    """The uncertain-outcome reconciler as ``Gateway`` uses it (``reconcile.Reconciler``)."""

    def track(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        """Start settling a command; it stays tracked until proven (or forever, if never proven)."""

    def observe(self, order: OrderReport) -> None:
        """Evidence from the user stream: the cheapest proof there is."""

    def cancel_sent(self, command: PendingCommand) -> None:
        """A cancel is about to be sent (journaled already): a sibling cancel's evidence must count it."""

    def cancel_answered(self, command: PendingCommand, status: CommandStatus) -> None:
        """The venue's immediate answer to a cancel (before an UNKNOWN one is tracked)."""

    def wants(self, venue: str, client_order_id: str | None) -> bool:
        """Whether an update of an order no live handle follows still matters (a DIVERGED check)."""

    def on_stream_gap(self, venue: str, reason: str) -> None:
        """A user-stream / WS reconnect: updates may have been missed; re-check tracked commands."""

    def is_tracking(self, command_id: str) -> bool: ...

    async def reconcile(self, trigger: ReconcileTrigger = ReconcileTrigger.MANUAL) -> list[ReconcileReport]:
        """Run one pass now over every tracked command; return its reports."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...
