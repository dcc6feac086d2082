"""What both venue adapters share at the edge: the one place a write outcome becomes a receipt.

The outcome tree (``NotSent`` / ``Rejected`` / ``OutcomeUnknown`` / ``DuplicateEvidence``) and
every other error live in ``gateway.errors``; the ``Venue`` and ``VenueEventSink`` protocols
and ``RateLimitState`` in ``gateway.ports``; ``InstrumentFilters`` in ``gateway.filters``. They
are re-exported here because an adapter author reaches for them all at once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from gateway.errors import (
    DuplicateEvidence,
    InvalidOrderError,
    InvalidReadRequest,
    NotSent,
    OutcomeUnknown,
    Rejected,
    UnknownInstrumentError,
    VenueError,
    VenueRateLimited,
    VenueReadError,
    VenueUnreachable,
)
from gateway.filters import InstrumentFilters, check_amount
from gateway.model import (
    AmendRequest,
    CancelAllRequest,
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderState,
    Transport,
    utc_now,
)
from gateway.ports import RateLimitState, Venue, VenueEventSink

__all__ = [
    "DuplicateEvidence",
    "InstrumentFilters",
    "InvalidOrderError",
    "InvalidReadRequest",
    "NotSent",
    "OutcomeUnknown",
    "RateLimitState",
    "Rejected",
    "UnknownInstrumentError",
    "Venue",
    "VenueError",
    "VenueEventSink",
    "VenueRateLimited",
    "VenueReadError",
    "VenueUnreachable",
    "check_amount",
    "receipt_accepted",
    "receipt_for_error",
]


def receipt_accepted(
    request: OrderRequest | CancelRequest | AmendRequest,
    *,
    operation: CommandOperation,
    order_id: str | None,
    client_order_id: str | None,
    request_id: str | None,
    transport: Transport,
    sent_at: datetime,
    order_state: OrderState | None = None,
    filled_quantity: Decimal | None = None,
    average_price: Decimal | None = None,
    message: str = "",
) -> CommandReceipt:
    return CommandReceipt(
        operation=operation,
        status=CommandStatus.ACCEPTED,
        venue=request.venue,
        instrument=request.instrument,
        order_id=order_id,
        client_order_id=client_order_id,
        request_id=request_id,
        message=message,
        order_state=order_state,
        filled_quantity=filled_quantity,
        average_price=average_price,
        transport=transport,
        sent_at=sent_at,
        received_at=utc_now(),
    )


def receipt_for_error(
    request: OrderRequest | CancelRequest | AmendRequest | CancelAllRequest,
    error: VenueError,
    *,
    operation: CommandOperation,
    client_order_id: str | None,
    request_id: str | None,
    transport: Transport,
    sent_at: datetime,
    order_id: str | None = None,
) -> CommandReceipt:
    """The one place a write-outcome error becomes a receipt."""
    retriable = False
    safe = False
    retry_after = None
    if isinstance(error, NotSent):
        status, safe = CommandStatus.REJECTED, True
    elif isinstance(error, Rejected):
        status, safe = CommandStatus.REJECTED, True
        retriable, retry_after = error.retriable, error.retry_after
    else:  # OutcomeUnknown, DuplicateEvidence, or anything we cannot prove
        status, retriable = CommandStatus.UNKNOWN_EXECUTION, True
    return CommandReceipt(
        operation=operation,
        status=status,
        venue=request.venue,
        instrument=request.instrument,
        order_id=order_id,
        client_order_id=client_order_id,
        request_id=request_id,
        message=error.message,
        native_code=error.native_code,
        retriable=retriable,
        safe_to_resubmit=safe,
        transport=transport,
        sent_at=sent_at,
        received_at=utc_now(),
        retry_after=retry_after,
    )
