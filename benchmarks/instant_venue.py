"""An in-memory venue that answers every write at once: what is left is the gateway core's own cost.

No network, no socket, no stream. ``validate`` runs the real ``InstrumentFilters`` check (a
check the gateway asks of every venue before anything is sent) and ``submit`` builds its receipt
with ``venues.base.receipt_accepted``, the helper every adapter's write template ends in, so the
"gateway only" row moves when either does. Each order answers ACCEPTED and EXPIRED (a LIMIT IOC
away from the market, like the simulator rows), so every handle is final at its ack and retires.

It subclasses the ``Venue`` protocol so a member the protocol gains later has its stub body here
(None) until this venue needs a real one: only the write path is exercised.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    OrderReport,
    OrderRequest,
    OrderState,
    TradeReport,
    Transport,
    utc_now,
)
from gateway.ports import Venue
from venues.base import InstrumentFilters, RateLimitState, UnknownInstrumentError, VenueEventSink, receipt_accepted

__all__ = ["INSTRUMENT", "InstantVenue"]

INSTRUMENT = "BTC/USDT:USDT"


class InstantVenue(Venue):
    """A ``gateway.ports.Venue`` whose writes complete without ever yielding to the loop."""

    recv_window_ms = 5000
    history_lag_seconds = 0.0
    history_includes_open_orders = True

    def __init__(self, name: str = "instant") -> None:
        self.name = name
        self._order_ids = itertools.count(1)
        self._rate = RateLimitState()
        self._filters = {
            INSTRUMENT: InstrumentFilters(
                name,
                INSTRUMENT,
                "BTCUSDT",
                tick_size=Decimal("0.1"),
                step_size=Decimal("0.001"),
                min_qty=Decimal("0.001"),
                max_qty=Decimal("1000"),
                min_notional=Decimal("5"),
            )
        }

    async def start(self, sink: VenueEventSink) -> None:
        return None

    async def close(self) -> None:
        return None

    def filters(self, instrument: str) -> InstrumentFilters:
        found = self._filters.get(instrument)
        if found is None:
            raise UnknownInstrumentError(instrument, self.name)
        return found

    def validate(self, request: OrderRequest) -> None:
        self.filters(request.instrument).check(request, None)

    def validate_cancel(self, request: CancelRequest) -> None:
        self.filters(request.instrument)

    def reference_price(self, instrument: str) -> Decimal | None:
        return None

    def transport_for(self, requested: Transport) -> Transport:
        return Transport.REST if requested is Transport.AUTO else requested

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        return receipt_accepted(
            request,
            operation=CommandOperation.CREATE_ORDER,
            order_id=str(next(self._order_ids)),
            client_order_id=request.client_order_id,
            request_id=None,
            transport=Transport.REST,
            sent_at=utc_now(),
            order_state=OrderState.EXPIRED,
            filled_quantity=Decimal(0),
        )

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        return receipt_accepted(
            request,
            operation=CommandOperation.CANCEL_ORDER,
            order_id=request.order_id,
            client_order_id=request.client_order_id,
            request_id=request_id,
            transport=Transport.REST,
            sent_at=utc_now(),
            order_state=OrderState.CANCELED,
        )

    def batch_size(self, operation: CommandOperation, transport: Transport) -> int:
        return 1

    async def submit_batch(self, requests: Sequence[OrderRequest], transport: Transport) -> list[CommandReceipt]:
        return [await self.submit(r) for r in requests]

    async def query_order(self, instrument: str, **ids: Any) -> OrderReport | None:
        return None

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        return []

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        return []

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]:
        return []

    async def positions(self) -> list[Any]:
        return []

    async def account_open_orders(self) -> list[OrderReport]:
        return []

    def rate_limit(self) -> RateLimitState:
        return self._rate

    def read_count(self) -> int:
        return 0
