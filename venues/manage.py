"""The order-management half of every adapter: amends and batch writes, one template each.

``ManageMixin`` gives ``AdapterBase`` the ``Venue`` protocol's ``validate_amend`` / ``amend`` /
``batch_size`` / ``submit_batch`` / ``cancel_batch`` / ``amendments``. The flow is shared: check,
refuse during a recorded rate-limit wait, build, send once, judge the answer, make receipts; a
dialect supplies only its wire work (``ManageWire``: the amend's params and answer schema, how big
a batch may be, how one batch goes out and what each item's answer proves).

A batch is one request: an answer lost or unreadable as a whole (timeout, reset, 5xx, a status-
unknown code, a body that does not parse or lists fewer items than were sent) leaves *every* item
UNKNOWN_EXECUTION, to be reconciled like a single command; never re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from gateway.model import (
    AmendmentReport,
    AmendRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    OrderReport,
    OrderRequest,
    OrderType,
    Side,
    Transport,
    utc_now,
)
from venues.base import (
    InstrumentFilters,
    InvalidOrderError,
    NotSent,
    OutcomeUnknown,
    RateLimitState,
    VenueError,
    check_amount,
    receipt_for_error,
)
from venues.common import ParseError, WriteAnswer
from venues.dialect import Dialect, VenueRest
from venues.websocket import OrderSocket

__all__ = ["BatchItems", "ManageMixin", "ManagedAdapter"]

# What one batch answer proves, item by item: an accepted item, or the error its answer is.
BatchItems = list[WriteAnswer | VenueError]


class ManagedAdapter(Protocol):
    """What the shared flows use of the adapter (``AdapterBase`` + the dialect's wire work)."""

    DIALECT: Dialect
    name: str
    request_timeout: float
    _rate: RateLimitState
    rest: VenueRest

    def filters(self, instrument: str) -> InstrumentFilters: ...

    def transport_for(self, requested: Transport) -> Transport: ...

    def _ready_to_send(self, transport: Transport) -> OrderSocket | None: ...

    async def _send_once(
        self, operation: CommandOperation, params: dict[str, Any], socket: OrderSocket | None
    ) -> Any: ...

    def _accepted_receipt(
        self,
        request: OrderRequest | CancelRequest | AmendRequest,
        operation: CommandOperation,
        accepted: WriteAnswer,
        request_id: str | None,
        transport: Transport,
        sent_at: datetime,
        *,
        client_order_id: str | None = None,
    ) -> CommandReceipt: ...

    def _check_ids(self, client_order_id: str | None, order_id: str | None) -> None: ...

    def _check_order(self, request: OrderRequest) -> None: ...

    async def _guard_order(self, request: OrderRequest) -> NotSent | None: ...

    def _ws_params(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def _amend_params(self, request: AmendRequest, current: OrderReport) -> dict[str, Any]: ...

    def _amend_answer(self, request: AmendRequest, current: OrderReport, answer: Any) -> WriteAnswer: ...

    def _batch_limit(self, operation: CommandOperation, transport: Transport) -> int: ...

    async def _send_batch(
        self, operation: CommandOperation, requests: Sequence[OrderRequest | CancelRequest], transport: Transport
    ) -> BatchItems: ...

    async def _amendment_reports(
        self, instrument: str, client_order_id: str | None, order_id: str | None, start_ms: int, end_ms: int
    ) -> list[AmendmentReport] | None: ...


class ManageMixin:
    """``Venue``'s amend and batch members for an adapter whose dialect supplies the ``ManagedAdapter`` hooks."""

    # ------------------------------------------------------------------ amend

    def validate_amend(self: ManagedAdapter, request: AmendRequest, current: OrderReport | None) -> None:
        """Ids valid here; the new values on the instrument's grid and within its bounds (before sending)."""
        filters = self.filters(request.instrument)
        self._check_ids(request.client_order_id, request.order_id)
        where = {"venue": self.name, "instrument": request.instrument}
        quantity = request.quantity if request.quantity is not None else current.quantity if current else None
        price = request.price if request.price is not None else current.price if current else None
        if current is not None and current.type is OrderType.MARKET:
            raise InvalidOrderError("order_id", "only LIMIT orders can be amended", **where)
        if quantity is None or price is None:
            for name, value in (("quantity", request.quantity), ("price", request.price)):
                if value is not None:
                    check_amount(name, value, **where)
            return
        side = current.side if current is not None and current.side is not None else Side.BUY
        reduce_only = current is not None and current.reduce_only
        filters.check(
            OrderRequest(
                venue=request.venue,
                instrument=request.instrument,
                side=side,
                type=OrderType.LIMIT,
                quantity=quantity,
                price=price,
                reduce_only=reduce_only,
            )
        )
        if current is not None and request.quantity is not None and request.quantity <= current.filled_quantity:
            raise InvalidOrderError(
                "quantity", f"{request.quantity} is not above the {current.filled_quantity} already filled", **where
            )

    async def amend(
        self: ManagedAdapter, request: AmendRequest, request_id: str, current: OrderReport
    ) -> CommandReceipt:
        transport = self.transport_for(request.transport)
        sent_at = utc_now()
        try:
            return await _amend(self, request, request_id, current, transport, sent_at)
        except VenueError as exc:
            self._rate.noted(exc)
            return receipt_for_error(
                request,
                exc,
                operation=CommandOperation.AMEND_ORDER,
                client_order_id=request.client_order_id or current.client_order_id,
                request_id=request_id,
                transport=transport,
                sent_at=sent_at,
                order_id=request.order_id or current.order_id,
            )

    async def amendments(
        self: ManagedAdapter,
        instrument: str,
        *,
        client_order_id: str | None,
        order_id: str | None,
        start_ms: int,
        end_ms: int,
    ) -> list[AmendmentReport] | None:
        return await self._amendment_reports(instrument, client_order_id, order_id, start_ms, end_ms)

    # ------------------------------------------------------------------ batches

    def batch_size(self: ManagedAdapter, operation: CommandOperation, transport: Transport) -> int:
        return max(1, self._batch_limit(operation, self.transport_for(transport)))

    async def submit_batch(
        self: ManagedAdapter, requests: Sequence[OrderRequest], transport: Transport
    ) -> list[CommandReceipt]:
        return await _batch(self, CommandOperation.CREATE_ORDER, requests, [None] * len(requests), transport)

    async def cancel_batch(
        self: ManagedAdapter, requests: Sequence[CancelRequest], request_ids: Sequence[str], transport: Transport
    ) -> list[CommandReceipt]:
        return await _batch(self, CommandOperation.CANCEL_ORDER, requests, list(request_ids), transport)


async def _amend(
    adapter: ManagedAdapter,
    request: AmendRequest,
    request_id: str,
    current: OrderReport,
    transport: Transport,
    sent_at: datetime,
) -> CommandReceipt:
    """The amend template: check, build, send once over ``transport``, judge the answer."""
    socket = adapter._ready_to_send(transport)
    adapter._check_ids(request.client_order_id, request.order_id)
    for name, value in (("quantity", request.quantity), ("price", request.price)):
        if value is not None:
            check_amount(name, value, venue=adapter.name, instrument=request.instrument)
    params = adapter._amend_params(request, current)
    answer = await adapter._send_once(CommandOperation.AMEND_ORDER, params, socket)
    try:
        accepted = adapter._amend_answer(request, current, answer)
    except ParseError as exc:
        raise OutcomeUnknown(f"AMEND_ORDER: {adapter.DIALECT.answer} failed validation: {exc}") from exc
    return adapter._accepted_receipt(
        request,
        CommandOperation.AMEND_ORDER,
        accepted,
        request_id,
        transport,
        sent_at,
        client_order_id=current.client_order_id,
    )


async def _batch(
    adapter: ManagedAdapter,
    operation: CommandOperation,
    requests: Sequence[OrderRequest | CancelRequest],
    request_ids: Sequence[str | None],
    transport: Transport,
) -> list[CommandReceipt]:
    """One batch request: a receipt per item, in order; a whole-request outcome applies to every item."""
    transport = adapter.transport_for(transport)
    sent_at = utc_now()
    try:
        adapter._ready_to_send(transport)
        limit = adapter._batch_limit(operation, transport)
        if not 1 < limit or len(requests) > limit:
            raise NotSent(f"{adapter.name}: a batch of {len(requests)} is more than {limit} over {transport.value}")
        for request in requests:
            if isinstance(request, OrderRequest):
                adapter._check_order(request)
            else:
                adapter._check_ids(request.client_order_id, request.order_id)
        for request in requests:  # each instrument's dead-man's switch armed before its first order (safety.py)
            refusal = await adapter._guard_order(request) if isinstance(request, OrderRequest) else None
            if refusal is not None:
                raise refusal
        items = await adapter._send_batch(operation, requests, transport)
        if len(items) != len(requests):
            raise OutcomeUnknown(f"{operation.value} batch: {len(items)} answers for {len(requests)} items")
    except VenueError as exc:
        adapter._rate.noted(exc)
        items = [exc] * len(requests)
    receipts = []
    for request, request_id, item in zip(requests, request_ids, items, strict=True):
        order_id = request.order_id if isinstance(request, CancelRequest) else None
        if isinstance(item, VenueError):
            receipts.append(
                receipt_for_error(
                    request,
                    item,
                    operation=operation,
                    client_order_id=request.client_order_id,
                    request_id=request_id,
                    transport=transport,
                    sent_at=sent_at,
                    order_id=order_id,
                )
            )
            continue
        receipts.append(adapter._accepted_receipt(request, operation, item, request_id, transport, sent_at))
    return receipts


def known_amount(value: Decimal | None, fallback: Decimal | None, what: str) -> Decimal:
    """The amend's new value, or the order's current one a venue that needs both keeps; ``NotSent`` if neither."""
    found = value if value is not None else fallback
    if found is None:
        raise NotSent(f"not sent: the order's current {what} is not known and the venue needs it")
    return found
