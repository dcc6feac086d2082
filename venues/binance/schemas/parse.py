"""Native Binance USD-M payloads -> ``OrderReport`` / ``TradeReport``; the only place wire names are read.

Every numeric field may arrive as a JSON number or a string (recordings stringify them), so
values go through ``to_decimal`` / ``to_int``. Anything missing or malformed raises
``ParseError`` naming the field; callers turn that into a parse error (stream) or an
unknown outcome / read error (REST, WS API), never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from gateway.model import OrderReport, OrderState, OrderType, Side, TradeReport
from venues.common import to_decimal, to_int

__all__ = ["STATUS", "ParseError", "order_report", "order_update_report", "trade_report"]

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
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}

Unify = Callable[[str], str]


class ParseError(ValueError):
    """A payload lacks a field or carries a value of the wrong shape."""


def _get(payload: Mapping[str, Any], key: str) -> Any:
    try:
        value = payload[key]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"missing field {key!r}") from exc
    if value is None:
        raise ParseError(f"field {key!r} is null")
    return value


def _dec(payload: Mapping[str, Any], key: str) -> Decimal:
    try:
        return to_decimal(_get(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def _opt_dec(payload: Mapping[str, Any], key: str) -> Decimal | None:
    """A decimal where Binance's "0" means "none" (price of a MARKET order, avgPrice before a fill)."""
    if payload.get(key) in (None, ""):
        return None
    value = _dec(payload, key)
    return value if value else None


def _int(payload: Mapping[str, Any], key: str) -> int:
    try:
        return to_int(_get(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def _opt_int(payload: Mapping[str, Any], key: str) -> int | None:
    return None if payload.get(key) in (None, "") else _int(payload, key)


def _state(raw: Any) -> OrderState:
    state = STATUS.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise ParseError(f"unknown order status {raw!r}")
    return state


def order_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """An order object (REST order endpoints, WS API ``result``)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"order payload is a {type(payload).__name__}, not an object")
    symbol = _get(payload, "symbol")
    updated = _opt_int(payload, "updateTime")
    return OrderReport(
        venue=venue,
        instrument=unify(str(symbol)),
        order_id=str(_int(payload, "orderId")),
        client_order_id=payload.get("clientOrderId") or None,
        side=_SIDES.get(payload.get("side", "")),
        type=_TYPES.get(payload.get("origType") or payload.get("type", "")),
        quantity=_dec(payload, "origQty"),
        price=_opt_dec(payload, "price"),
        state=_state(_get(payload, "status")),
        filled_quantity=_dec(payload, "executedQty"),
        average_price=_opt_dec(payload, "avgPrice"),
        reduce_only=bool(payload.get("reduceOnly", False)),
        created_at_ms=_opt_int(payload, "time"),
        updated_at_ms=updated,
    )


def order_update_report(event: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport:
    """An ``ORDER_TRADE_UPDATE`` event (§7), its ``o`` object carrying the order."""
    o = _get(event, "o")
    if not isinstance(o, Mapping):
        raise ParseError("ORDER_TRADE_UPDATE 'o' is not an object")
    trade = o.get("x") == "TRADE"
    trade_id = _opt_int(o, "t")
    return OrderReport(
        venue=venue,
        instrument=unify(str(_get(o, "s"))),
        order_id=str(_int(o, "i")),
        client_order_id=o.get("c") or None,
        side=_SIDES.get(o.get("S", "")),
        type=_TYPES.get(o.get("ot") or o.get("o", "")),
        quantity=_dec(o, "q"),
        price=_opt_dec(o, "p"),
        state=_state(_get(o, "X")),
        filled_quantity=_dec(o, "z"),
        average_price=_opt_dec(o, "ap"),
        reduce_only=bool(o.get("R", False)),
        updated_at_ms=_opt_int(o, "T") or _opt_int(event, "E"),
        last_fill_quantity=_dec(o, "l") if trade else None,
        last_fill_price=_dec(o, "L") if trade else None,
        trade_id=str(trade_id) if trade and trade_id else None,
    )


def trade_report(payload: Mapping[str, Any], *, venue: str, unify: Unify) -> TradeReport:
    """A ``userTrades`` item (§5 UT)."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"trade payload is a {type(payload).__name__}, not an object")
    return TradeReport(
        venue=venue,
        instrument=unify(str(_get(payload, "symbol"))),
        trade_id=str(_int(payload, "id")),
        order_id=str(_int(payload, "orderId")),
        side=_SIDES.get(payload.get("side", "")),
        price=_dec(payload, "price"),
        quantity=_dec(payload, "qty"),
        time_ms=_int(payload, "time"),
    )
