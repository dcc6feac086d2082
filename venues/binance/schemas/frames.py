"""Binance USD-M answers around the orders: error bodies, WS API answers, user-stream events, clock, marks.

With ``parse`` (orders, trades) and ``answer`` (write answers), the only place the REST client,
the WS API, the user stream and the adapter read a venue payload's field names. § numbers
cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

from venues.common import ParseError, keyed_decimals

__all__ = [
    "WsAnswer",
    "error_code_msg",
    "is_order_object",
    "listen_key",
    "mark_prices",
    "order_update_ids",
    "order_update_key",
    "server_time_ms",
    "user_event",
    "ws_answer",
    "ws_response_id",
]


def error_code_msg(body: bytes) -> tuple[int | None, str]:
    """``(code, msg)`` of a REST error body (§3); no code when it is not Binance's JSON error."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body[:200].decode(errors="replace").strip()
    if isinstance(payload, dict) and isinstance(payload.get("code"), int):
        return int(payload["code"]), str(payload.get("msg", ""))
    return None, str(payload)[:200]


def is_order_object(payload: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a 2xx write body is an order object at all (its fields are the write-answer schema's)."""
    return isinstance(payload, dict) and "orderId" in payload


def listen_key(payload: Any) -> str:
    """The key of a ``POST/PUT /fapi/v1/listenKey`` answer."""
    try:
        return str(payload["listenKey"])
    except (KeyError, TypeError) as exc:
        raise ParseError("listenKey: unparsable answer") from exc


def server_time_ms(payload: Any) -> int | None:
    """``GET /fapi/v1/time``'s ``serverTime``."""
    if isinstance(payload, dict) and "serverTime" in payload:
        return int(payload["serverTime"])
    return None


def mark_prices(payload: Any) -> list[tuple[str, Decimal]]:
    """``(symbol, markPrice)`` of each ``GET /fapi/v1/premiumIndex`` item (one object or a list)."""
    return keyed_decimals(payload if isinstance(payload, list) else [payload], "symbol", "markPrice")


# --------------------------------------------------------------------------- WebSocket API (§6)


def ws_response_id(message: Any) -> str | None:
    """The request id an answer echoes."""
    if isinstance(message, dict):
        rid = message.get("id")
        return None if rid is None else str(rid)
    return None


@dataclass(frozen=True, slots=True)
class WsAnswer:
    """A WS API answer: ``ok`` with its ``result``, or the error's status, code, message and wait."""

    ok: bool
    status: int  # 0 when the answer has no integer status
    result: Any
    code: int | None
    msg: str
    retry_after_ms: int | None  # ``error.data.retryAfter``: ms epoch when a ban ends
    weight_used: int | None  # the REQUEST_WEIGHT ``rateLimits`` count, when reported


def ws_answer(message: Any) -> WsAnswer:
    """A WS API answer frame; ``ParseError`` when it is not an object."""
    if not isinstance(message, dict):
        raise ParseError("answer is not an object")
    weight: int | None = None
    for limit in message.get("rateLimits") or ():
        if isinstance(limit, dict) and limit.get("rateLimitType") == "REQUEST_WEIGHT" and "count" in limit:
            weight = int(limit["count"])
    status = message.get("status")
    raw_error = message.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    raw_data = error.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    return WsAnswer(
        ok=status == 200,
        status=status if isinstance(status, int) else 0,
        result=message.get("result"),
        code=error.get("code") if isinstance(error.get("code"), int) else None,
        msg=str(error.get("msg", "")),
        retry_after_ms=data.get("retryAfter") if isinstance(data.get("retryAfter"), int) else None,
        weight_used=weight,
    )


# --------------------------------------------------------------------------- user data stream (§7)


def user_event(message: Any) -> tuple[str, Mapping[str, Any]]:
    """``(event type, event)`` of a user-stream frame, out of the combined-stream envelope if wrapped."""
    if isinstance(message, dict) and "data" in message and "stream" in message:
        message = message["data"]
    if not isinstance(message, dict):
        raise ParseError("event is not an object")
    return str(message.get("e")), message


def order_update_ids(event: Mapping[str, Any]) -> tuple[str | None, str | None] | None:
    """``(client order id, order id)`` of an ``ORDER_TRADE_UPDATE``, before parsing it; None if unreadable."""
    o = event["o"]
    if not isinstance(o, dict):
        return None
    oid = o.get("i")
    return o.get("c") or None, None if oid is None else str(oid)


def order_update_key(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes one update distinct: order, execution type, trade, filled quantity, status, price, quantity.

    Two amends in a row are two ``x=AMENDMENT`` events that differ only in price or quantity.
    """
    o = event["o"]
    return o.get("i"), o.get("x"), o.get("t"), o.get("z"), o.get("X"), o.get("p"), o.get("q")
