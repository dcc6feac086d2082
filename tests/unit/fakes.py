"""A scripted in-memory Venue and a hand-settled reconciler for unit tests of the gateway core (no network)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

from gateway.account import Balance, Position, PositionMode
from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderRequest,
    OrderState,
    ReconcileReport,
    ReconcileTrigger,
    TradeReport,
    Transport,
    utc_now,
)
from gateway.ports import PendingCommand
from venues.base import InstrumentFilters, RateLimitState, UnknownInstrumentError, VenueEventSink

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"

Script = Callable[[OrderRequest], CommandReceipt]


class ScriptedVenue:
    """Answers each submit with the next scripted status (default ACCEPTED/NEW); records every send."""

    recv_window_ms = 5000
    history_lag_seconds = 0.0

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.sink: VenueEventSink | None = None
        self.sent: list[OrderRequest | CancelRequest] = []
        self.script: deque[CommandStatus] = deque()
        self._order_ids = iter(range(1, 1_000_000))
        self._filters = {
            BTC: InstrumentFilters(
                self.name,
                BTC,
                "BTCUSDT",
                Decimal("0.1"),
                Decimal("0.001"),
                Decimal("0.001"),
                Decimal("1000"),
                Decimal("5"),
            ),
            ETH: InstrumentFilters(
                self.name,
                ETH,
                "ETHUSDT",
                Decimal("0.01"),
                Decimal("0.001"),
                Decimal("0.001"),
                Decimal("1000"),
                Decimal("5"),
            ),
        }

    async def start(self, sink: VenueEventSink) -> None:
        self.sink = sink

    async def close(self) -> None:
        return None

    def filters(self, instrument: str) -> InstrumentFilters:
        if instrument not in self._filters:
            raise UnknownInstrumentError(instrument, self.name)
        return self._filters[instrument]

    def validate(self, request: OrderRequest) -> None:
        self.filters(request.instrument).check(request, self.reference_price(request.instrument))

    def validate_cancel(self, request: CancelRequest) -> None:
        self.filters(request.instrument)

    def reference_price(self, instrument: str) -> Decimal | None:
        return Decimal("50000") if instrument == BTC else Decimal("3000")

    def transport_for(self, requested: Transport) -> Transport:
        return Transport.REST if requested is Transport.AUTO else requested

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        self.sent.append(request)
        status = self.script.popleft() if self.script else CommandStatus.ACCEPTED
        accepted = status is CommandStatus.ACCEPTED
        return CommandReceipt(
            operation=CommandOperation.CREATE_ORDER,
            status=status,
            venue=self.name,
            instrument=request.instrument,
            order_id=str(next(self._order_ids)) if accepted else None,
            client_order_id=request.client_order_id,
            order_state=OrderState.NEW if accepted else None,
            safe_to_resubmit=status is CommandStatus.REJECTED,
            retriable=status is CommandStatus.UNKNOWN_EXECUTION,
            message="scripted",
            transport=self.transport_for(request.transport),
            sent_at=utc_now(),
            received_at=utc_now(),
        )

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        self.sent.append(request)
        return CommandReceipt(
            operation=CommandOperation.CANCEL_ORDER,
            status=CommandStatus.ACCEPTED,
            venue=self.name,
            instrument=request.instrument,
            order_id=request.order_id,
            client_order_id=request.client_order_id,
            request_id=request_id,
            order_state=OrderState.CANCELED,
            transport=Transport.REST,
            sent_at=utc_now(),
            received_at=utc_now(),
        )

    def push(self, order: OrderReport) -> None:
        assert self.sink is not None
        self.sink.order_update(order)

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        return None

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        return []

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        return []

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]:
        return []

    def rate_limit(self) -> RateLimitState:
        return RateLimitState()

    def read_count(self) -> int:
        return 0

    # ------------------------------------------------------------------ account (a flat one-way account)

    switch_to_one_way = "scripted: nothing to switch"

    def reference_age(self, instrument: str) -> float | None:
        return 0.0

    def watch_reference(self, instrument: str) -> None:
        return None

    async def refresh_reference(self, instrument: str) -> Decimal | None:
        return self.reference_price(instrument)

    async def positions(self) -> list[Position]:
        return []

    async def balances(self) -> list[Balance]:
        return []

    async def position_mode(self) -> PositionMode:
        return PositionMode.ONE_WAY

    async def account_open_orders(self) -> list[OrderReport]:
        return []


class HandSettledReconciler:
    """A ``ReconcilerPort`` that settles nothing itself: it records what the gateway asks it to track.

    A test then plays the reconciler's part through the gateway's public ``ReconcileSink``
    methods (``recovery_scheduled`` / ``recovery_completed``) with the very ``PendingCommand``
    the gateway handed over, exactly as ``reconcile.Reconciler`` reports.
    """

    def __init__(self) -> None:
        self.tracked: list[PendingCommand] = []

    def track(self, command: PendingCommand, trigger: ReconcileTrigger) -> None:
        self.tracked.append(command)

    def observe(self, order: OrderReport) -> None:
        return None

    def cancel_sent(self, command: PendingCommand) -> None:
        return None

    def cancel_answered(self, command: PendingCommand, status: CommandStatus) -> None:
        return None

    def wants(self, venue: str, client_order_id: str | None) -> bool:
        return False

    def on_stream_gap(self, venue: str, reason: str) -> None:
        return None

    def is_tracking(self, command_id: str) -> bool:
        return any(c.command_id == command_id for c in self.tracked)

    async def reconcile(self, trigger: ReconcileTrigger = ReconcileTrigger.MANUAL) -> list[ReconcileReport]:
        return []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
