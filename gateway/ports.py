"""The seams ``Gateway`` composes: what it asks of a venue, the gate, the journal and the reconciler.

Each concern lives in its own folder (``venues/``, ``risk/``, ``gateway/journal/``,
``reconcile/``) and implements one of these protocols; ``gateway.core`` and the reconciler only
ever call through them (no ``getattr`` side channels), so a test can swap any of them and a
reader can see the whole contract between the parts here. This module sits at the bottom of
the dependency graph with ``gateway.model``, ``gateway.errors`` and ``gateway.filters``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar, runtime_checkable

from gateway.account import Balance, Position, PositionMode
from gateway.errors import Rejected, VenueRateLimited
from gateway.filters import InstrumentFilters
from gateway.model import (
    AmendmentReport,
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    LifecycleEvent,
    OrderReport,
    OrderRequest,
    ReconcileReport,
    ReconcileTrigger,
    TradeReport,
    Transport,
)
from gateway.safety import SwitchState

__all__ = [
    "READ_PURPOSE",
    "GatePort",
    "RateLimitState",
    "Venue",
    "VenueEventSink",
    "JournalPort",
    "PendingCommand",
    "ReconcileSink",
    "ReconcilerPort",
    "RecoveredCommand",
]

E = TypeVar("E", bound=Exception)

# Who a venue read is for ("reconcile", "refresh"; "other" by default): set in the reading task's
# context and tallied by the adapter per request it sends, so a read's cost is attributed without
# passing a label down every call (the metrics' gateway_venue_reads_total{purpose}).
READ_PURPOSE: ContextVar[str] = ContextVar("gateway_read_purpose", default="other")


# --------------------------------------------------------------------------- venues


@dataclass(slots=True)
class RateLimitState:
    """What the venue's own headers say about our budget; reads wait when it is nearly spent."""

    used: int = 0
    limit: int = 0
    reset_at: float = 0.0  # monotonic seconds when the budget resets (0 = unknown)
    banned_until: float = 0.0  # monotonic seconds until which the venue refuses us (418/429/10006)
    # Read requests sent and the weight they cost, by READ_PURPOSE (count_read).
    reads: dict[str, int] = field(default_factory=dict)
    read_weight: dict[str, int] = field(default_factory=dict)
    # The venue's own order counters from its write answers' headers: window -> (used, limit; 0 = not told).
    orders: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def headroom(self) -> float:
        return 1.0 if self.limit <= 0 else max(0.0, 1.0 - self.used / self.limit)

    def count_read(self, weight: int) -> None:
        """One read request is about to leave, for the purpose its task set (``READ_PURPOSE``)."""
        purpose = READ_PURPOSE.get()
        self.reads[purpose] = self.reads.get(purpose, 0) + 1
        self.read_weight[purpose] = self.read_weight.get(purpose, 0) + weight

    def note_ban(self, seconds: float) -> None:
        """The venue told us to wait (429 / 418 / a rate-limit code): nothing more is sent until then."""
        if seconds > 0:
            self.banned_until = max(self.banned_until, time.monotonic() + seconds)

    def ban_left(self) -> float:
        """Seconds until the venue's last rate-limit answer lets us send again (0 when it does now)."""
        return max(0.0, self.banned_until - time.monotonic())

    def noted(self, error: E) -> E:
        """``error`` unchanged, its rate-limit wait (if it carries one) recorded first."""
        wait = getattr(error, "retry_after", None)
        if wait and (isinstance(error, VenueRateLimited) or (isinstance(error, Rejected) and error.retriable)):
            self.note_ban(wait)
        return error


class VenueEventSink(Protocol):
    """Where a venue's user stream delivers what it sees (implemented by ``Gateway``)."""

    def order_update(self, order: OrderReport) -> None:
        """A state change or fill of one of our orders."""

    def stream_gap(self, venue: str, reason: str) -> None:
        """The stream (or WS API) reconnected: updates may have been missed."""

    def parse_error(self, venue: str, detail: str) -> None:
        """A stream payload could not be parsed; it is logged and counted, never fatal."""

    def wants_order_update(self, venue: str, client_order_id: str | None, order_id: str | None) -> bool:
        """Whether an update of this order matters to anyone: a stream may skip parsing it if not."""

    def switch_changed(self, venue: str, scope: str, state: SwitchState, seconds: float, detail: str) -> None:
        """The venue's dead-man's switch changed state (``gateway.safety``): for the log and the audit stream."""

    def account_update(self, venue: str, positions: Sequence[Position], balances: Sequence[Balance]) -> None:
        """Positions and balances the venue pushed (Binance ACCOUNT_UPDATE, Bybit position / wallet).

        Only what changed; a position with quantity 0 was closed.
        """

    def mark_update(self, venue: str, instrument: str, price: Decimal) -> None:
        """An instrument's mark as the venue published it (its mark stream or a REST read)."""


@runtime_checkable
class Venue(Protocol):
    """One venue account, as the gateway and the reconciler use it.

    ``submit``/``cancel`` send exactly once and return a receipt for every venue outcome;
    they raise only ``InvalidOrderError`` for a caller mistake found before sending.
    Reads raise ``VenueReadError`` and return only what the venue showed.
    """

    name: str
    recv_window_ms: int
    # Seconds after a write before history is trusted to show it (documented lag; configurable).
    history_lag_seconds: float
    # Whether ``order_history`` also lists orders still open (Binance allOrders does, Bybit's
    # history does not): the reconciler then needs no separate ``open_orders`` read.
    history_includes_open_orders: bool

    async def start(self, sink: VenueEventSink) -> None:
        """Load instrument filters, open the WS API (if used) and the user stream."""

    async def close(self) -> None: ...

    def filters(self, instrument: str) -> InstrumentFilters:
        """The instrument's filters (raises ``UnknownInstrumentError``)."""

    def validate(self, request: OrderRequest) -> None:
        """Check the request against venue rules and filters; raise ``InvalidOrderError``."""

    def validate_cancel(self, request: CancelRequest) -> None:
        """Check the instrument is listed and every id is valid for this venue; raise ``InvalidOrderError``."""

    def reference_price(self, instrument: str) -> Decimal | None:
        """A recent mark price, for MARKET-order notional checks; None when not known."""

    def reference_age(self, instrument: str) -> float | None:
        """Seconds since the reference price was received (mark stream or REST); None when there is none."""

    def watch_reference(self, instrument: str) -> None:
        """Keep this instrument's reference price live (the venue's mark-price stream); cheap when it is."""

    async def refresh_reference(self, instrument: str) -> Decimal | None:
        """The REST fallback: read the mark now; the instrument's reference price then (raises ``VenueReadError``)."""

    def transport_for(self, requested: Transport) -> Transport:
        """Resolve AUTO to the transport that would be used now (WS API when up, REST otherwise)."""

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        """Send the order once (``request.client_order_id`` is always set by the gateway)."""

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        """Send the cancel once."""

    def validate_cancel_all(self, request: CancelAllRequest) -> None:
        """Every instrument listed here, and a transport the venue cancels all over; raise ``InvalidOrderError``."""

    async def cancel_all(self, request: CancelAllRequest, request_id: str) -> CommandReceipt:
        """Send one cancel-all per instrument, each once; one receipt for them all (UNKNOWN if any is)."""

    def traded_instruments(self) -> list[str]:
        """Instruments an order of ours was sent on through this adapter (a cancel-all's default scope)."""

    def validate_amend(self, request: AmendRequest, current: OrderReport | None) -> None:
        """Check the ids and the new values against the venue's filters (``current``: the order as known)."""

    async def amend(self, request: AmendRequest, request_id: str, current: OrderReport) -> CommandReceipt:
        """Send the amend once; ``current`` is the target as the gateway knows it (its side, and the
        value a venue that needs both keeps unchanged)."""

    def batch_size(self, operation: CommandOperation, transport: Transport) -> int:
        """How many items one batch write of ``operation`` over ``transport`` takes (1: no batch endpoint)."""

    async def submit_batch(self, requests: Sequence[OrderRequest], transport: Transport) -> list[CommandReceipt]:
        """Send one batch of creates once (at most ``batch_size`` of them): a receipt per item, in order."""

    async def cancel_batch(
        self, requests: Sequence[CancelRequest], request_ids: Sequence[str], transport: Transport
    ) -> list[CommandReceipt]:
        """Send one batch of cancels once: a receipt per item, in order."""

    async def amendments(
        self, instrument: str, *, client_order_id: str | None, order_id: str | None, start_ms: int, end_ms: int
    ) -> list[AmendmentReport] | None:
        """The venue's record of the order's accepted amends in the window; None when it keeps none (Bybit)."""

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        """The order by id; None when the venue answers that it does not exist.

        An id the venue cannot take raises ``InvalidReadRequest`` before anything is sent.
        """

    async def open_orders(self, instrument: str) -> list[OrderReport]: ...

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        """Every order visible in [start_ms, end_ms], paging until the window is covered.

        Must raise ``VenueReadError`` rather than return a partial window: absence is only
        ever inferred from complete coverage.
        """

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]: ...

    # Account reads (each one venue read; raise ``VenueReadError``). One-way mode is what the
    # gateway nets positions in; ``switch_to_one_way`` says how to leave hedge mode.
    switch_to_one_way: str

    async def positions(self) -> list[Position]:
        """Every open position of the account, one net row per instrument (flat ones left out)."""

    async def balances(self) -> list[Balance]: ...

    async def position_mode(self) -> PositionMode: ...

    async def account_open_orders(self) -> list[OrderReport]:
        """Every open order of the account on every listed instrument: ours and anyone else's."""

    def rate_limit(self) -> RateLimitState: ...

    def read_count(self) -> int:
        """Venue reads issued so far (reconciler batching is measured with this)."""


# --------------------------------------------------------------------------- commands


@dataclass(slots=True)
class PendingCommand:
    """A command whose outcome the reconciler must prove.

    ``command_id`` is the create's client order id, or the cancel's / amend's request id. For a
    cancel or an amend, ``client_order_id`` / ``order_id`` name the *target* order; an amend's
    ``previous`` is the target as the gateway knew it when the amend was sent (the values a
    not-taken amend leaves in place).
    """

    command_id: str
    operation: CommandOperation
    venue: str
    instrument: str
    client_order_id: str | None
    order_id: str | None
    sent_at: datetime
    recv_window_ms: int
    request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest
    transport: Transport | None = None
    # ABSENT was already reported once: a later sighting is a DIVERGED alert.
    reported_absent: bool = False
    attempts: int = 0
    previous: OrderReport | None = None
    # A cancel-all's targets: the orders of ours the gateway believed open at the send (evidence
    # that the cancel-all took effect is about these; others' orders count only by their times).
    targets: tuple[OrderReport, ...] = ()


@dataclass(slots=True, frozen=True)
class RecoveredCommand:
    """A command a previous run journaled without a final outcome."""

    command: PendingCommand
    run_id: str
    last_receipt: CommandReceipt | None


@runtime_checkable
class GatePort(Protocol):
    """Portfolio gate as ``Gateway`` uses it (implemented by ``risk.PortfolioGate``)."""

    async def check_and_reserve(
        self, request: OrderRequest, reference_price: Decimal | None, reference_age: float | None = None
    ) -> None:
        """Check every limit and reserve the order's exposure atomically; raise ``RiskRejected``.

        ``reference_age``: seconds since ``reference_price`` was received (a MARKET order is checked
        against it, and refused when it is older than the gate allows).
        """

    def reference_age_limit(self) -> float | None:
        """The oldest reference price a MARKET order may be checked against (None: any)."""

    async def on_receipt(self, request: OrderRequest, receipt: CommandReceipt) -> None:
        """A receipt for a create: REJECTED releases, ACCEPTED with fills converts, UNKNOWN keeps."""

    async def on_order_update(self, order: OrderReport) -> None:
        """A venue-side state change: fills convert reserved exposure, terminal states release the rest."""

    async def on_reconciled(self, request: OrderRequest, report: ReconcileReport) -> None:
        """ABSENT releases the reservation; SYNCHRONIZED converts/releases per the order's state."""

    async def amend_reserve(self, target: str, current: OrderReport, price: Decimal, quantity: Decimal) -> None:
        """Before an amend of ``target`` is sent: a rise in exposure is checked like a new order and reserved now
        (raise ``RiskRejected``); a fall waits for proof."""

    async def amend_settled(
        self, target: str, current: OrderReport, price: Decimal, quantity: Decimal, took_effect: bool
    ) -> None:
        """The amend's outcome is proved: a fall is released, a rise that did not take effect undone."""

    async def seed_account(
        self, venue: str, positions: Sequence[Position], open_orders: Sequence[OrderReport], as_of_ms: int
    ) -> None:
        """The venue's state at start: positions become position exposure; resting orders the gate did not
        reserve count like reservations; fills of outside orders stamped before ``as_of_ms`` are in the
        positions already."""

    async def adopt_position(self, position: Position) -> None:
        """The venue's figure replaces the gate's (a proved drift)."""

    async def on_mark(self, venue: str, instrument: str, price: Decimal) -> None:
        """The instrument's mark moved: the gate values positions at the mark."""

    async def held_positions(self) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """(venue, instrument) -> (signed quantity, signed notional) as the gate holds them."""

    # The kill switch (``Gateway.halt`` / ``resume``): new exposure refused, reduce-only orders pass.
    def halt(self, reason: str) -> None: ...

    def resume(self) -> None: ...

    async def shared(self) -> None:
        """Wait until the last halt()/resume() reached the ledger every process on it shares."""

    async def close(self) -> None: ...


@runtime_checkable
class JournalPort(Protocol):
    """Write-ahead journal as ``Gateway`` uses it (implemented by ``gateway.journal.Journal``)."""

    # The highest sequence journaled, this run's markers included: the bus numbers on from it.
    last_sequence: int

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
