"""The ``Venue`` protocol adapters implement, and the outcome-classification contract.

Outcomes are classified by what the evidence *proves*, never by what is likely::

    VenueError
      NotSent            nothing was written: connect refused, DNS/TLS, pool wait, local check.
                         The command provably did not execute -> REJECTED, safe_to_resubmit.
      Rejected           the venue answered with a code that rejects the request (filters,
                         margin, signature, clock) or a rate-limit answer given before
                         processing (429/418/-1003/10006...) -> REJECTED (retriable + retry_after
                         for rate limits; safe_to_resubmit because the venue refused it).
      OutcomeUnknown     the request may have been written and no proof came back: timeout
                         after write, reset, any 5xx, "status unknown" codes, a 2xx body that
                         cannot be parsed, a WebSocket closed before its answer
                         -> UNKNOWN_EXECUTION: reconcile, never resend.
      DuplicateEvidence  the venue says this client order id already exists: an earlier
                         attempt landed -> UNKNOWN_EXECUTION, reconciled by client id.

Adapters raise these inside their transport code and turn them into receipts with
``receipt_for_error``; ``submit``/``cancel`` never raise for a venue outcome.

Reads (used by the reconciler) raise ``VenueReadError`` subclasses instead; a read never
decides an outcome by itself failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, DecimalException, localcontext
from typing import Protocol, runtime_checkable

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    TradeReport,
    Transport,
    amount_violation,
    utc_now,
)

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
    "split_unified",
]


# --------------------------------------------------------------------------- caller mistakes


class InvalidOrderError(ValueError):
    """A request breaks a venue rule; raised before anything is sent. Names the field and rule."""

    def __init__(self, field: str, rule: str, *, venue: str | None = None, instrument: str | None = None):
        self.field = field
        self.rule = rule
        where = " ".join(x for x in (venue, instrument) if x)
        super().__init__(f"{field}: {rule}" + (f" ({where})" if where else ""))


class UnknownInstrumentError(InvalidOrderError):
    def __init__(self, instrument: str, venue: str):
        super().__init__("instrument", f"{instrument!r} is not listed on {venue}", venue=venue)


def check_amount(field: str, value: object, *, venue: str | None = None, instrument: str | None = None) -> None:
    """Raise ``InvalidOrderError`` unless ``value`` is a sendable quantity/price (``amount_violation``).

    Repeated at the venue because ``model_copy(update=...)`` and ``model_construct`` skip the
    model's validators: nothing reaches a venue, or filter arithmetic, unchecked.
    """
    problem = amount_violation(value)
    if problem is not None:
        raise InvalidOrderError(field, problem, venue=venue, instrument=instrument)


# --------------------------------------------------------------------------- write outcomes


class VenueError(Exception):
    """Base of the write-outcome tree; carries the native code and message when there is one."""

    def __init__(self, message: str, *, native_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.native_code = native_code


class NotSent(VenueError):
    """Nothing left this process (or nothing reached the venue): provably not executed."""


class Rejected(VenueError):
    """The venue refused the request with a definite code: not executed."""

    def __init__(
        self,
        message: str,
        *,
        native_code: str | None = None,
        retriable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message, native_code=native_code)
        self.retriable = retriable
        self.retry_after = retry_after


class OutcomeUnknown(VenueError):
    """The request may have executed and no answer proves either way: reconcile."""


class DuplicateEvidence(OutcomeUnknown):
    """The venue already holds this client order id: evidence an earlier attempt landed."""


# --------------------------------------------------------------------------- read failures


class VenueReadError(Exception):
    """A read for reconciliation failed; it proves nothing about any command."""


class InvalidReadRequest(VenueReadError):
    """A read named an id the venue cannot take (checked before anything is sent)."""

    def __init__(self, field: str, rule: str, *, venue: str | None = None):
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" + (f" ({venue})" if venue else ""))


class VenueUnreachable(VenueReadError):
    """Connection refused / timed out / 5xx on a read."""


class VenueRateLimited(VenueReadError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- filters


def split_unified(instrument: str) -> tuple[str, str, str]:
    """``BTC/USDT:USDT`` -> ``("BTC", "USDT", "USDT")`` (shape already validated by the model)."""
    base, rest = instrument.split("/", 1)
    quote, settle = rest.split(":", 1)
    return base, quote, settle


# Enough digits for exact grid arithmetic on any amount ``amount_violation`` admits (20 + 20
# digits) against any step a venue lists; the default 28 raises InvalidOperation on 1E+30 % 0.001.
_GRID_PRECISION = 120


def _on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    if step == 0:
        return True
    with localcontext() as ctx:
        ctx.prec = _GRID_PRECISION
        try:
            return (value - origin) % step == 0
        except DecimalException:  # a step far outside any real venue's: refuse rather than guess
            return False


@dataclass(frozen=True, slots=True)
class InstrumentFilters:
    """A venue's trading rules for one instrument; zero disables a bound (Binance's convention)."""

    venue: str
    instrument: str
    native_symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    market_step_size: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None

    def check(self, request: OrderRequest, reference_price: Decimal | None = None) -> None:
        """Raise ``InvalidOrderError`` naming the field and rule the request breaks."""
        where = {"venue": self.venue, "instrument": self.instrument}
        check_amount("quantity", request.quantity, **where)
        if request.price is not None:
            check_amount("price", request.price, **where)
        qty = request.quantity
        market = request.type is OrderType.MARKET
        step = self.market_step_size if market and self.market_step_size is not None else self.step_size
        min_qty = self.market_min_qty if market and self.market_min_qty is not None else self.min_qty
        max_qty = self.market_max_qty if market and self.market_max_qty is not None else self.max_qty
        if not _on_grid(qty, Decimal(0), step):
            raise InvalidOrderError("quantity", f"{qty} is not a multiple of the step size {step}", **where)
        if min_qty and qty < min_qty:
            raise InvalidOrderError("quantity", f"{qty} is below the minimum quantity {min_qty}", **where)
        if max_qty and qty > max_qty:
            raise InvalidOrderError("quantity", f"{qty} is above the maximum quantity {max_qty}", **where)
        price = request.price
        if price is not None:
            if not _on_grid(price, self.min_price, self.tick_size):
                raise InvalidOrderError(
                    "price", f"{price} is not a multiple of the tick size {self.tick_size}", **where
                )
            if self.min_price and price < self.min_price:
                raise InvalidOrderError("price", f"{price} is below the minimum price {self.min_price}", **where)
            if self.max_price and price > self.max_price:
                raise InvalidOrderError("price", f"{price} is above the maximum price {self.max_price}", **where)
        notional_price = price if price is not None else reference_price
        if self.min_notional and not request.reduce_only and notional_price is not None:
            notional = notional_price * qty
            if notional < self.min_notional:
                raise InvalidOrderError(
                    "quantity",
                    f"notional {notional} (price x quantity) is below the minimum notional {self.min_notional}",
                    **where,
                )


# --------------------------------------------------------------------------- rate limits


@dataclass(slots=True)
class RateLimitState:
    """What the venue's own headers say about our budget; reads wait when it is nearly spent."""

    used: int = 0
    limit: int = 0
    reset_at: float = 0.0  # monotonic seconds when the budget resets (0 = unknown)
    banned_until: float = 0.0  # monotonic seconds until which the venue refuses us (418/429/10006)

    @property
    def headroom(self) -> float:
        return 1.0 if self.limit <= 0 else max(0.0, 1.0 - self.used / self.limit)


# --------------------------------------------------------------------------- receipts


def receipt_accepted(
    request: OrderRequest | CancelRequest,
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
    request: OrderRequest | CancelRequest,
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


# --------------------------------------------------------------------------- the protocol


class VenueEventSink(Protocol):
    """Where a venue's user stream delivers what it sees (implemented by ``Gateway``)."""

    def order_update(self, order: OrderReport) -> None:
        """A state change or fill of one of our orders."""

    def stream_gap(self, venue: str, reason: str) -> None:
        """The stream (or WS API) reconnected: updates may have been missed."""

    def parse_error(self, venue: str, detail: str) -> None:
        """A stream payload could not be parsed; it is logged and counted, never fatal."""


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

    def transport_for(self, requested: Transport) -> Transport:
        """Resolve AUTO to the transport that would be used now (WS API when up, REST otherwise)."""

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        """Send the order once (``request.client_order_id`` is always set by the gateway)."""

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        """Send the cancel once."""

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

    def rate_limit(self) -> RateLimitState: ...

    def read_count(self) -> int:
        """Venue reads issued so far (reconciler batching is measured with this)."""
