"""Native Bybit v5 linear payloads -> ``OrderReport`` / ``TradeReport``; the only place wire names are read.

One order object serves realtime, history and the ``order`` stream topic (docs/venues/bybit-v5.md §4, §6).
Decimals arrive as strings, ``createdTime``/``execTime`` as strings of ms; recordings also
stringify ``retCode``, so every value goes through the shared field readers. Anything
missing or malformed raises ``ParseError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from gateway.model import OrderReport, OrderState, OrderType, Side, TradeReport
from venues.common import ParseError, dec_field, field, opt_dec_field, opt_int_field, to_int

__all__ = [
    "FILL_EXEC_TYPES",
    "STATUS",
    "ParseError",
    "envelope",
    "execution_update_report",
    "order_report",
    "trade_report",
]

# Bybit orderStatus -> gateway state (§7). Derivatives' ``Cancelled`` may carry fills
# (filled_quantity says so); ``Deactivated`` is a conditional order cancelled before its trigger.
STATUS: dict[str, OrderState] = {
    "New": OrderState.NEW,
    "PartiallyFilled": OrderState.PARTIALLY_FILLED,
    "Untriggered": OrderState.NEW,
    "Triggered": OrderState.NEW,
    "Filled": OrderState.FILLED,
    "Cancelled": OrderState.CANCELED,
    "PartiallyFilledCanceled": OrderState.CANCELED,
    "Deactivated": OrderState.CANCELED,
    "Rejected": OrderState.REJECTED,
}
_TYPES = {"Limit": OrderType.LIMIT, "Market": OrderType.MARKET}
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
# Executions that are fills of one of our orders (funding, settlement and delivery are not).
FILL_EXEC_TYPES = frozenset({"Trade", "AdlTrade", "BustTrade", "BlockTrade"})

Unify = Callable[[str], str]
POST_ONLY_WOULD_TAKE = "EC_PostOnlyWillTakeLiquidity"


def envelope(body: Any) -> tuple[int, str, Any]:
    """``(retCode, retMsg, result)`` of a REST answer or trade-WS frame; ``ParseError`` when it has none."""
    if not isinstance(body, Mapping):
        raise ParseError("answer is not an object")
    try:
        code = to_int(field(body, "retCode"))
    except ValueError as exc:
        raise ParseError(f"field 'retCode': {exc}") from exc
    return code, str(body.get("retMsg", "")), body.get("result", body.get("data"))


def _state(raw: Any) -> OrderState:
    state = STATUS.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise ParseError(f"unknown orderStatus {raw!r}")
    return state


def _limit_price(payload: Mapping[str, Any], key: str) -> Decimal | None:
    # A Market order's price is the venue's slippage-protection bound, not a limit of ours
    # (recorded: fixture bybit-ccxt-Y3, a filled LTCUSDT Market order with "price": "73.64").
    if payload.get("orderType") == "Market":
        return None
    return opt_dec_field(payload, key)


def _post_only_closed(payload: Mapping[str, Any]) -> OrderState | None:
    """A PostOnly that would have taken: acked, then closed with nothing executed (wave2 §6).

    Bybit shows it ``Cancelled`` (the documented record) and, in one third-party log, ``Rejected``;
    either way the venue accepted the order and then canceled it, so it reads CANCELED.
    """
    if payload.get("rejectReason") == POST_ONLY_WOULD_TAKE and payload.get("orderStatus") == "Rejected":
        return OrderState.CANCELED
    return None


def order_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """An order object (realtime, history, ``order`` topic)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"order payload is a {type(payload).__name__}, not an object")
    return OrderReport(
        venue=venue,
        instrument=unify(str(field(payload, "symbol"))),
        order_id=str(field(payload, "orderId")),
        client_order_id=payload.get("orderLinkId") or None,
        side=_SIDES.get(payload.get("side", "")),
        type=_TYPES.get(payload.get("orderType", "")),
        quantity=dec_field(payload, "qty"),
        price=_limit_price(payload, "price"),
        state=_post_only_closed(payload) or _state(field(payload, "orderStatus")),
        filled_quantity=dec_field(payload, "cumExecQty"),
        average_price=opt_dec_field(payload, "avgPrice"),
        reduce_only=payload.get("reduceOnly") is True,
        created_at_ms=opt_int_field(payload, "createdTime"),
        updated_at_ms=opt_int_field(payload, "updatedTime"),
    )


def trade_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> TradeReport:
    """An execution item (``/v5/execution/list``, ``execution`` topic)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"execution payload is a {type(payload).__name__}, not an object")
    time_ms = opt_int_field(payload, "execTime")
    if time_ms is None:
        raise ParseError("missing field 'execTime'")
    return TradeReport(
        venue=venue,
        instrument=unify(str(field(payload, "symbol"))),
        trade_id=str(field(payload, "execId")),
        order_id=str(field(payload, "orderId")),
        client_order_id=payload.get("orderLinkId") or None,
        side=_SIDES.get(payload.get("side", "")),
        price=dec_field(payload, "execPrice"),
        quantity=dec_field(payload, "execQty"),
        time_ms=time_ms,
    )


def execution_update_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """The order as one fill proves it: filled = orderQty - leavesQty, FILLED when nothing is left."""
    trade = trade_report(payload, venue=venue, unify=unify)
    order_qty = dec_field(payload, "orderQty")
    leaves = dec_field(payload, "leavesQty")
    return OrderReport(
        venue=venue,
        instrument=trade.instrument,
        order_id=trade.order_id,
        client_order_id=trade.client_order_id,
        side=trade.side,
        type=_TYPES.get(payload.get("orderType", "")),
        quantity=order_qty,
        price=_limit_price(payload, "orderPrice"),
        state=OrderState.FILLED if leaves == 0 else OrderState.PARTIALLY_FILLED,
        filled_quantity=max(Decimal(0), order_qty - leaves),
        updated_at_ms=trade.time_ms,
        last_fill_quantity=trade.quantity,
        last_fill_price=trade.price,
        trade_id=trade.trade_id,
    )
