"""Native Binance USD-M payloads -> ``OrderReport`` / ``TradeReport``; the only place wire names are read.

Every numeric field may arrive as a JSON number or a string (recordings stringify them), so
values go through ``to_decimal`` / ``to_int``. Anything missing or malformed raises
``ParseError`` naming the field; callers turn that into a parse error (stream) or an
unknown outcome / read error (REST, WS API), never a crash.

§ numbers below cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.model import OrderReport, OrderState, OrderType, Side, TradeReport
from venues.common import ParseError, dec_field, field, int_field, opt_dec_field, opt_int_field

__all__ = ["FILL_EXEC_TYPES", "STATUS", "ParseError", "order_report", "order_update_report", "trade_report"]

# Binance order status -> gateway state (§8). EXPIRED_IN_MATCH is an STP expiry.
STATUS: dict[str, OrderState] = {
    "NEW": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
    "NEW_INSURANCE": OrderState.NEW,
    "NEW_ADL": OrderState.NEW,
}
_TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
FILL_EXEC_TYPES = frozenset({"TRADE", "CALCULATED"})
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}

Unify = Callable[[str], str]


def _state(raw: Any) -> OrderState:
    state = STATUS.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise ParseError(f"unknown order status {raw!r}")
    return state


def order_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """An order object (REST order endpoints, WS API ``result``)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"order payload is a {type(payload).__name__}, not an object")
    symbol = field(payload, "symbol")
    updated = opt_int_field(payload, "updateTime")
    return OrderReport(
        venue=venue,
        instrument=unify(str(symbol)),
        order_id=str(int_field(payload, "orderId")),
        client_order_id=payload.get("clientOrderId") or None,
        side=_SIDES.get(payload.get("side", "")),
        type=_TYPES.get(payload.get("origType") or payload.get("type", "")),
        quantity=dec_field(payload, "origQty"),
        price=opt_dec_field(payload, "price"),
        state=_state(field(payload, "status")),
        filled_quantity=dec_field(payload, "executedQty"),
        average_price=opt_dec_field(payload, "avgPrice"),
        reduce_only=bool(payload.get("reduceOnly", False)),
        created_at_ms=opt_int_field(payload, "time"),
        updated_at_ms=updated,
    )


def order_update_report(event: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """An ``ORDER_TRADE_UPDATE`` event (§7), its ``o`` object carrying the order."""
    o = field(event, "o")
    if not isinstance(o, Mapping):
        raise ParseError("ORDER_TRADE_UPDATE 'o' is not an object")
    # x=CALCULATED is a liquidation's execution (wave2 §5): a fill like a TRADE, of an order we never sent.
    trade = o.get("x") in FILL_EXEC_TYPES
    trade_id = opt_int_field(o, "t")
    return OrderReport(
        venue=venue,
        instrument=unify(str(field(o, "s"))),
        order_id=str(int_field(o, "i")),
        client_order_id=o.get("c") or None,
        side=_SIDES.get(o.get("S", "")),
        type=_TYPES.get(o.get("ot") or o.get("o", "")),
        quantity=dec_field(o, "q"),
        price=opt_dec_field(o, "p"),
        state=_state(field(o, "X")),
        filled_quantity=dec_field(o, "z"),
        average_price=opt_dec_field(o, "ap"),
        reduce_only=bool(o.get("R", False)),
        updated_at_ms=opt_int_field(o, "T") or opt_int_field(event, "E"),
        last_fill_quantity=dec_field(o, "l") if trade else None,
        last_fill_price=dec_field(o, "L") if trade else None,
        trade_id=str(trade_id) if trade and trade_id else None,
    )


def trade_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> TradeReport:
    """A ``userTrades`` item (§5 UT)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"trade payload is a {type(payload).__name__}, not an object")
    return TradeReport(
        venue=venue,
        instrument=unify(str(field(payload, "symbol"))),
        trade_id=str(int_field(payload, "id")),
        order_id=str(int_field(payload, "orderId")),
        side=_SIDES.get(payload.get("side", "")),
        price=dec_field(payload, "price"),
        quantity=dec_field(payload, "qty"),
        time_ms=int_field(payload, "time"),
    )
