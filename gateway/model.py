"""The gateway's one vocabulary: enums and frozen pydantic models shared by every package.

Nothing here knows a venue's field names. Adapters translate native payloads into these
models (``venues/<venue>/parse.py``); the reconciler, the gate and the journal speak only
these. Quantities and prices are ``Decimal`` everywhere.

Reading guide:
- requests: ``OrderRequest``, ``CancelRequest``, ``AmendRequest``, ``CancelAllRequest`` (what a strategy asks for);
- answers: ``CommandReceipt`` (what the evidence proves about one command), ``CommandAck``;
- venue facts: ``OrderReport``, ``TradeReport``, ``AmendmentReport`` (an order / fill / modification
  as the venue shows it);
- reconciliation: ``ReconcileOutcome``, ``ReconcileTrigger``, ``EvidenceSource``, ``ReconcileReport``;
- lifecycle: ``LifecycleEvent`` and its kinds, each stamped with the bus ``sequence``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Ack",
    "AmendRequest",
    "AmendmentReport",
    "AnyLifecycleEvent",
    "ALL_INSTRUMENTS",
    "CancelAllRequest",
    "CancelRequest",
    "CommandAck",
    "CommandOperation",
    "CommandReceipt",
    "CommandStatus",
    "EvidenceSource",
    "LifecycleEvent",
    "OrderReport",
    "OrderRequest",
    "OrderState",
    "OrderType",
    "OrderUpdate",
    "Receipt",
    "ReconcileOutcome",
    "ReconcileReport",
    "ReconcileTrigger",
    "RecoveryCompleted",
    "RecoveryScheduled",
    "Side",
    "TimeInForce",
    "TradeReport",
    "Transport",
    "amount_violation",
    "utc_now",
]

# Every id pattern is applied with ``fullmatch``: ``re.match`` with ``$`` accepts a final "\n".
INSTRUMENT_RE = re.compile(r"[A-Z0-9]{1,20}/[A-Z0-9]{1,20}:[A-Z0-9]{1,20}")
# Binance's rule, the stricter of the two venues' charsets; adapters add their own limits.
CLIENT_ORDER_ID_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
# Venue-neutral shape of a venue order id (Binance: int64 digits; Bybit: a UUID); adapters
# apply their venue's exact rule. Excludes every URL/query delimiter ('&', '=', '%', '+', '#', '?').
ORDER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The most digits either venue takes on each side of the point (Binance's -1100 rule
# ``^([0-9]{1,20})(\.[0-9]{1,20})?$``; Bybit's simulator uses the same bound).
MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 20


def utc_now() -> datetime:
    return datetime.now(UTC)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "POST_ONLY"


class Transport(StrEnum):
    REST = "REST"
    WEBSOCKET = "WEBSOCKET"
    AUTO = "AUTO"


class CommandOperation(StrEnum):
    CREATE_ORDER = "CREATE_ORDER"
    CANCEL_ORDER = "CANCEL_ORDER"
    AMEND_ORDER = "AMEND_ORDER"
    CANCEL_ALL = "CANCEL_ALL"


class CommandStatus(StrEnum):
    ACCEPTED = "ACCEPTED"  # the venue holds the order / cancel request
    REJECTED = "REJECTED"  # provably not executed
    UNKNOWN_EXECUTION = "UNKNOWN_EXECUTION"  # may or may not have executed: reconcile, never resend


class OrderState(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED})


class ReconcileOutcome(StrEnum):
    SYNCHRONIZED = "SYNCHRONIZED"  # the venue shows the command's effect; state attached
    ABSENT = "ABSENT"  # complete history read twice, past the grace window: it did not execute
    STILL_UNCERTAIN = "STILL_UNCERTAIN"  # deadline passed without proof either way; still tracked
    DIVERGED = "DIVERGED"  # proof contradicts an earlier ABSENT: alert


class ReconcileTrigger(StrEnum):
    UNKNOWN_EXECUTION = "UNKNOWN_EXECUTION"
    RECONNECT = "RECONNECT"
    STARTUP = "STARTUP"
    PERIODIC = "PERIODIC"
    MANUAL = "MANUAL"


class EvidenceSource(StrEnum):
    USER_STREAM = "USER_STREAM"
    ORDER_QUERY = "ORDER_QUERY"
    OPEN_ORDERS = "OPEN_ORDERS"
    ORDER_HISTORY = "ORDER_HISTORY"
    TRADES = "TRADES"
    NONE = "NONE"


_FROZEN = ConfigDict(frozen=True, extra="forbid")


def amount_violation(value: object) -> str | None:
    """Which rule a quantity or price breaks on every venue, or None when it is sendable.

    Exact (no decimal context is involved), so an absurd exponent is refused, never rounded or
    left to raise ``decimal.InvalidOperation`` later in filter arithmetic.
    """
    if not isinstance(value, Decimal):
        return f"must be a Decimal, got {type(value).__name__}"
    if not value.is_finite():
        return f"must be a finite decimal, got {value}"
    if value <= 0:
        return f"must be positive, got {value}"
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    # Every order's path: at most 20 fraction digits as written and fewer than 21 before the point
    # passes both rules below (stripping zeros only raises the exponent), without building strings.
    if exponent >= -MAX_FRACTION_DIGITS and value.adjusted() < MAX_INTEGER_DIGITS:
        return None
    text = "".join(map(str, digits))
    significant = text.rstrip("0")
    exponent += len(text) - len(significant)  # drop trailing zeros: 50000 is 5E+4
    if len(significant) + exponent > MAX_INTEGER_DIGITS:
        return f"must have at most {MAX_INTEGER_DIGITS} digits before the decimal point, got {value}"
    if -exponent > MAX_FRACTION_DIGITS:
        return f"must have at most {MAX_FRACTION_DIGITS} digits after the decimal point, got {value}"
    return None


def _check_client_order_id(value: str | None) -> str | None:
    if value is not None and not CLIENT_ORDER_ID_RE.fullmatch(value):
        raise ValueError(f"client_order_id {value!r} must be 1-36 characters of letters, digits and . : / _ -")
    return value


def _check_instrument(value: str) -> str:
    if not INSTRUMENT_RE.fullmatch(value):
        raise ValueError(f"instrument {value!r} must be a unified id BASE/QUOTE:SETTLE, e.g. 'BTC/USDT:USDT'")
    return value


class _VenueCommand(BaseModel):
    """Fields and checks every command shares: where it goes and which order it names."""

    model_config = _FROZEN

    venue: str = Field(min_length=1)
    instrument: str
    client_order_id: str | None = None

    @field_validator("instrument")
    @classmethod
    def _instrument_shape(cls, value: str) -> str:
        return _check_instrument(value)

    @field_validator("client_order_id")
    @classmethod
    def _client_order_id_shape(cls, value: str | None) -> str | None:
        return _check_client_order_id(value)


class OrderRequest(_VenueCommand):
    """A new order as a strategy asks for it; validated before anything is sent."""

    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    transport: Transport = Transport.AUTO

    @field_validator("quantity")
    @classmethod
    def _positive_quantity(cls, value: Decimal) -> Decimal:
        problem = amount_violation(value)
        if problem is not None:
            raise ValueError(f"quantity must be a positive finite decimal: {problem}")
        return value

    @field_validator("price")
    @classmethod
    def _positive_price(cls, value: Decimal | None) -> Decimal | None:
        problem = None if value is None else amount_violation(value)
        if problem is not None:
            raise ValueError(f"price must be a positive finite decimal: {problem}")
        return value

    @model_validator(mode="after")
    def _price_matches_type(self) -> OrderRequest:
        if self.type is OrderType.LIMIT and self.price is None:
            raise ValueError("price is required for LIMIT orders")
        if self.type is OrderType.MARKET and self.price is not None:
            raise ValueError("price must not be given for MARKET orders (they fill at the market)")
        if self.type is OrderType.MARKET and self.time_in_force is TimeInForce.POST_ONLY:
            raise ValueError("time_in_force POST_ONLY is not allowed for MARKET orders (they always take)")
        return self

    @property
    def notional(self) -> Decimal | None:
        return None if self.price is None else self.price * self.quantity


class CancelRequest(_VenueCommand):
    """Cancel one order, named by client order id or venue order id (at least one)."""

    order_id: str | None = None
    transport: Transport = Transport.AUTO

    @field_validator("order_id")
    @classmethod
    def _order_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not ORDER_ID_RE.fullmatch(value):
            raise ValueError(f"order_id {value!r} must be 1-64 ASCII letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _one_id_required(self) -> CancelRequest:
        if self.client_order_id is None and self.order_id is None:
            raise ValueError("client_order_id or order_id is required to name the order to cancel")
        return self


class AmendRequest(_VenueCommand):
    """Change one open order's price and/or quantity, named by client order id or venue order id.

    The receipt carries the target's ids; where a venue needs both values (Binance), the
    gateway fills in the unchanged one from the order it knows.
    """

    order_id: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    transport: Transport = Transport.AUTO

    @field_validator("order_id")
    @classmethod
    def _order_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not ORDER_ID_RE.fullmatch(value):
            raise ValueError(f"order_id {value!r} must be 1-64 ASCII letters, digits, '-' or '_'")
        return value

    @field_validator("quantity", "price")
    @classmethod
    def _positive_amount(cls, value: Decimal | None) -> Decimal | None:
        problem = None if value is None else amount_violation(value)
        if problem is not None:
            raise ValueError(f"must be a positive finite decimal: {problem}")
        return value

    @model_validator(mode="after")
    def _ids_and_change(self) -> AmendRequest:
        if self.client_order_id is None and self.order_id is None:
            raise ValueError("client_order_id or order_id is required to name the order to amend")
        if self.quantity is None and self.price is None:
            raise ValueError("an amend changes quantity and/or price: give at least one")
        return self


# A cancel-all's receipt names this instrument when it covered several (listed in its request).
ALL_INSTRUMENTS = "*"


class CancelAllRequest(BaseModel):
    """Cancel every open order on a venue, per instrument (``Gateway.cancel_all`` builds it).

    ``instruments`` are unified ids, at least one, each once; a venue cancels per instrument, so
    the gateway sends one request per instrument and the command's receipt sums them up.
    """

    model_config = _FROZEN

    venue: str = Field(min_length=1)
    instruments: tuple[str, ...] = Field(min_length=1)
    transport: Transport = Transport.AUTO

    @field_validator("instruments")
    @classmethod
    def _instruments_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for instrument in value:
            _check_instrument(instrument)
        if len(set(value)) != len(value):
            raise ValueError(f"instruments must be distinct, got {list(value)}")
        return value

    @property
    def instrument(self) -> str:
        """The one instrument, or ``ALL_INSTRUMENTS`` when the cancel-all covers several."""
        return self.instruments[0] if len(self.instruments) == 1 else ALL_INSTRUMENTS

    @property
    def client_order_id(self) -> None:
        """A cancel-all names no single order."""
        return None


class OrderReport(BaseModel):
    """One order as the venue shows it (stream update, query, open orders or history)."""

    model_config = _FROZEN

    venue: str
    instrument: str
    order_id: str
    client_order_id: str | None = None
    side: Side | None = None
    type: OrderType | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    state: OrderState
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    reduce_only: bool = False
    created_at_ms: int | None = None
    updated_at_ms: int | None = None
    # For stream deliveries: the last fill carried by this update, if any.
    last_fill_quantity: Decimal | None = None
    last_fill_price: Decimal | None = None
    trade_id: str | None = None


class TradeReport(BaseModel):
    """One fill as the venue's trade history shows it."""

    model_config = _FROZEN

    venue: str
    instrument: str
    trade_id: str
    order_id: str
    client_order_id: str | None = None
    side: Side | None = None
    price: Decimal
    quantity: Decimal
    time_ms: int


class AmendmentReport(BaseModel):
    """One accepted modification of an order, as the venue's amendment history shows it (Binance)."""

    model_config = _FROZEN

    venue: str
    instrument: str
    order_id: str
    client_order_id: str | None = None
    time_ms: int
    price_before: Decimal | None = None
    price_after: Decimal | None = None
    quantity_before: Decimal | None = None
    quantity_after: Decimal | None = None


class CommandReceipt(BaseModel):
    """What the evidence proves about one command; never more."""

    model_config = _FROZEN

    operation: CommandOperation
    status: CommandStatus
    venue: str
    instrument: str
    order_id: str | None = None
    client_order_id: str | None = None
    request_id: str | None = None
    message: str = ""
    native_code: str | None = None
    # On UNKNOWN_EXECUTION: reconciliation can be tried again. Never "send it again".
    retriable: bool = False
    # True only when the venue provably did not execute the command.
    safe_to_resubmit: bool = False
    order_state: OrderState | None = None
    filled_quantity: Decimal | None = None
    average_price: Decimal | None = None
    transport: Transport | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    # Seconds to wait before a retriable rejection (rate limits) may be tried again.
    retry_after: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CommandReceipt:
        if self.safe_to_resubmit and self.status is not CommandStatus.REJECTED:
            raise ValueError("safe_to_resubmit can only be true on a REJECTED receipt")
        return self


class CommandAck(BaseModel):
    """The immediate answer to a command, captured when the venue (or its silence) answered."""

    model_config = _FROZEN

    receipt: CommandReceipt
    transport: Transport | None
    acknowledged_at: datetime


class ReconcileReport(BaseModel):
    """One reconciliation attempt's verdict on one command, and which evidence decided it."""

    model_config = _FROZEN

    command_id: str
    operation: CommandOperation
    venue: str
    instrument: str
    client_order_id: str | None
    order_id: str | None = None
    outcome: ReconcileOutcome
    trigger: ReconcileTrigger
    evidence: EvidenceSource = EvidenceSource.NONE
    order: OrderReport | None = None
    reason: str = ""
    attempt: int = 1
    venue_reads: int = 0
    checked_at: datetime = Field(default_factory=utc_now)


class LifecycleEvent(BaseModel):
    """Base of every lifecycle event kind; ``sequence`` is the bus's gateway-wide audit order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int
    command_id: str
    at: datetime = Field(default_factory=utc_now)


class Ack(LifecycleEvent):
    kind: Literal["Ack"] = "Ack"
    ack: CommandAck


class Receipt(LifecycleEvent):
    kind: Literal["Receipt"] = "Receipt"
    receipt: CommandReceipt


class RecoveryScheduled(LifecycleEvent):
    kind: Literal["RecoveryScheduled"] = "RecoveryScheduled"
    trigger: ReconcileTrigger
    attempt: int = 1


class RecoveryCompleted(LifecycleEvent):
    kind: Literal["RecoveryCompleted"] = "RecoveryCompleted"
    report: ReconcileReport


class OrderUpdate(LifecycleEvent):
    kind: Literal["OrderUpdate"] = "OrderUpdate"
    order: OrderReport
    source: EvidenceSource = EvidenceSource.USER_STREAM


AnyLifecycleEvent = Annotated[
    Ack | Receipt | RecoveryScheduled | RecoveryCompleted | OrderUpdate,
    Field(discriminator="kind"),
]
"""The discriminated union of every kind, for decoding events back from the journal."""

LIFECYCLE_KINDS: tuple[type[LifecycleEvent], ...] = (Ack, Receipt, RecoveryScheduled, RecoveryCompleted, OrderUpdate)
