"""The schema a 2xx answer to a create or cancel must meet before it may make a receipt ACCEPTED.

A Binance write answer (REST 200 body, WS API ``result``) proves acceptance only when it is a
well-typed order object *about the order we sent*: an int64 ``orderId``, a known ``status``,
the symbol, client order id, quantity and (LIMIT) price we sent, a filled quantity within the
order. Anything else proves nothing and raises ``ParseError`` naming what failed; the adapter
turns that into UNKNOWN_EXECUTION (reconciled by client order id, never resent).

Plain typed checks on the ``dict`` orjson produced, not a model round trip: this runs on the
submit -> ack hot path. § numbers below cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.model import OrderState, OrderType, Side
from venues.binance.schemas.parse import STATUS
from venues.common import ParseError, WriteAnswer, to_decimal

__all__ = ["INT64_MAX", "ORDER_ID_RE", "WriteAnswer", "amend_answer", "cancel_answer", "create_answer"]

# §5: orderId is an int64 JSON number; recordings stringify it, so canonical digits are accepted too.
ORDER_ID_RE = re.compile(r"[1-9][0-9]{0,18}")
INT64_MAX = 2**63 - 1
_SIDES = {Side.BUY: "BUY", Side.SELL: "SELL"}
_TYPES = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET"}
_ZERO = Decimal(0)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _order_id(payload: Mapping[str, Any]) -> str:
    raw = payload.get("orderId")
    # bool is an int subclass: `true` must not pass as order 1.
    if type(raw) is int and 0 < raw <= INT64_MAX:
        return str(raw)
    if isinstance(raw, str) and ORDER_ID_RE.fullmatch(raw) and int(raw) <= INT64_MAX:
        return raw
    raise ParseError(f"orderId {_show(raw)} is not a positive int64")


def _text(payload: Mapping[str, Any], key: str, expected: str) -> str:
    raw = payload.get(key)
    if raw != expected or not isinstance(raw, str):
        raise ParseError(f"{key} {_show(raw)} is not the one sent ({expected!r})")
    return raw


def _amount(payload: Mapping[str, Any], key: str) -> Decimal:
    raw = payload.get(key)
    try:
        value = to_decimal(raw)
    except ValueError:
        value = None
    # NaN/Infinity would slip past equality and break ordering comparisons.
    if value is None or not value.is_finite() or value < _ZERO:
        raise ParseError(f"{key} {_show(raw)} is not a non-negative decimal")
    return value


def _status(payload: Mapping[str, Any]) -> OrderState:
    raw = payload.get("status")
    state = STATUS.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise ParseError(f"status {_show(raw)} is not a known order status")
    return state


def _average(payload: Mapping[str, Any]) -> Decimal | None:
    if payload.get("avgPrice") in (None, ""):
        return None
    value = _amount(payload, "avgPrice")
    return value if value else None  # "0.00" before any fill


def _filled(payload: Mapping[str, Any], quantity: Decimal, state: OrderState) -> Decimal:
    filled = _amount(payload, "executedQty")
    if filled > quantity:
        raise ParseError(f"executedQty {filled} is above the order quantity {quantity}")
    # The state and the filled quantity must tell the same story.
    if state is OrderState.FILLED and filled != quantity:
        raise ParseError(f"status FILLED with executedQty {filled} of {quantity}")
    if state is OrderState.PARTIALLY_FILLED and not _ZERO < filled < quantity:
        raise ParseError(f"status PARTIALLY_FILLED with executedQty {filled} of {quantity}")
    if state is OrderState.NEW and filled:
        raise ParseError(f"status NEW with executedQty {filled}")
    return filled


def create_answer(
    payload: Any,
    *,
    symbol: str,
    client_order_id: str,
    side: Side,
    order_type: OrderType,
    quantity: Decimal,
    price: Decimal | None,
) -> WriteAnswer:
    """A 2xx answer to ``POST /fapi/v1/order`` / ``order.place`` for exactly this order, or ``ParseError``."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"answer is a {type(payload).__name__}, not an order object")
    order_id = _order_id(payload)
    _text(payload, "symbol", symbol)
    _text(payload, "clientOrderId", client_order_id)
    state = _status(payload)
    if state is OrderState.REJECTED:  # a "success" saying the order was refused proves neither
        raise ParseError("status REJECTED contradicts an accepted create")
    if "side" in payload:
        _text(payload, "side", _SIDES[side])
    kind = payload.get("origType") or payload.get("type")
    if kind is not None and kind != _TYPES[order_type]:
        raise ParseError(f"type {_show(kind)} is not the one sent ({_TYPES[order_type]!r})")
    orig = _amount(payload, "origQty")
    if orig != quantity:
        raise ParseError(f"origQty {orig} is not the quantity sent ({quantity})")
    if order_type is OrderType.LIMIT:
        sent = _amount(payload, "price")
        if sent != price:
            raise ParseError(f"price {sent} is not the price sent ({price})")
    filled = _filled(payload, quantity, state)
    return WriteAnswer(order_id, client_order_id, state, filled, _average(payload))


def _target(payload: Any, *, symbol: str, client_order_id: str | None, order_id: str | None) -> tuple[str, str]:
    """The ids of an answer about an existing order, checked to name exactly the target; ``ParseError`` if not."""
    if not isinstance(payload, Mapping):
        raise ParseError(f"answer is a {type(payload).__name__}, not an order object")
    answered_id = _order_id(payload)
    if order_id is not None and answered_id != order_id:
        raise ParseError(f"orderId {answered_id} is not the target ({order_id})")
    _text(payload, "symbol", symbol)
    if client_order_id is not None:
        return answered_id, _text(payload, "clientOrderId", client_order_id)
    raw = payload.get("clientOrderId")
    if not isinstance(raw, str):
        raise ParseError(f"clientOrderId {_show(raw)} is not a string")
    return answered_id, raw


def cancel_answer(payload: Any, *, symbol: str, client_order_id: str | None, order_id: str | None) -> WriteAnswer:
    """A 2xx answer to ``DELETE /fapi/v1/order`` / ``order.cancel`` naming the target, or ``ParseError``."""
    answered_id, answered_cid = _target(payload, symbol=symbol, client_order_id=client_order_id, order_id=order_id)
    state = _status(payload)
    if state is not OrderState.CANCELED:  # §5 CO: the cancelled order comes back CANCELED
        raise ParseError(f"status {payload.get('status')!r} contradicts an accepted cancel")
    quantity = _amount(payload, "origQty")
    if not quantity:
        raise ParseError("origQty 0 is not an order quantity")
    filled = _filled(payload, quantity, state)
    return WriteAnswer(answered_id, answered_cid, state, filled, _average(payload))


def amend_answer(
    payload: Any,
    *,
    symbol: str,
    client_order_id: str | None,
    order_id: str | None,
    quantity: Decimal,
    price: Decimal,
) -> WriteAnswer:
    """A 2xx answer to ``PUT /fapi/v1/order`` / ``order.modify`` (wave2 §2) for exactly this order, or ``ParseError``.

    An open order must show the quantity and price sent; one the modify closed (a partially filled
    order cut to its filled quantity, a crossing GTX: both documented to cancel) shows its state.
    """
    answered_id, cid = _target(payload, symbol=symbol, client_order_id=client_order_id, order_id=order_id)
    state = _status(payload)
    orig = _amount(payload, "origQty")
    if state.is_open:
        if orig != quantity:
            raise ParseError(f"origQty {orig} is not the quantity sent ({quantity})")
        sent = _amount(payload, "price")
        if sent != price:
            raise ParseError(f"price {sent} is not the price sent ({price})")
    filled = _amount(payload, "executedQty")
    if filled > orig:
        raise ParseError(f"executedQty {filled} is above the order quantity {orig}")
    return WriteAnswer(answered_id, cid, state, filled, _average(payload))
