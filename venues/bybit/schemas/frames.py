"""Bybit v5 answers around the orders: pages, acks, socket op answers, stream frames, clock, marks.

With ``parse`` (orders, executions, the ``retCode`` envelope) and ``answer`` (write acks), the only
place the REST client, the sockets, the private stream and the adapter read a venue payload's
field names (docs/venues/bybit-v5.md §4-§6).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

from venues.bybit.schemas.parse import FILL_EXEC_TYPES
from venues.common import ParseError, keyed_decimals

__all__ = [
    "answer_headers",
    "cursor_page",
    "execution_key",
    "has_order_id",
    "is_fill",
    "mark_prices",
    "op_answer",
    "order_item_ids",
    "order_key",
    "refusal",
    "server_time_ms",
    "stream_items",
    "stream_topic",
    "subscribed",
    "trade_authenticated",
    "trade_response_id",
]


def server_time_ms(payload: Any) -> int | None:
    """``GET /v5/market/time``'s ``timeNano`` in ms."""
    if isinstance(payload, dict) and payload.get("timeNano"):
        return int(str(payload["timeNano"])) // 1_000_000
    return None


def cursor_page(payload: Any) -> tuple[list[Any], str]:
    """``(list, nextPageCursor)`` of a paged ``result``; the cursor is "" on the last page."""
    items = payload.get("list") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise ParseError("result has no list")
    return items, str(payload.get("nextPageCursor") or "")


def mark_prices(payload: Any) -> list[tuple[str, Decimal]]:
    """``(symbol, markPrice)`` of each ``GET /v5/market/tickers`` item."""
    items = payload.get("list") if isinstance(payload, dict) else None
    return keyed_decimals(items if isinstance(items, list) else (), "symbol", "markPrice")


def has_order_id(result: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a ``retCode 0`` write result is an ack at all (its fields are the write-answer schema's)."""
    return isinstance(result, dict) and bool(result.get("orderId"))


def is_fill(item: Any) -> bool:
    """Whether an execution item is a fill of one of our orders (funding, settlement... are not)."""
    return isinstance(item, dict) and item.get("execType", "Trade") in FILL_EXEC_TYPES


# --------------------------------------------------------------------------- sockets (§5, §6)


def trade_response_id(message: Any) -> str | None:
    """The ``reqId`` a trade-WS answer echoes."""
    if isinstance(message, dict):
        rid = message.get("reqId")
        return None if rid is None else str(rid)
    return None


def answer_headers(answer: Any) -> dict[str, str]:
    """A trade-WS answer's ``header`` (rate-limit fields), names lower-cased like HTTP headers."""
    header = answer.get("header") if isinstance(answer, dict) else None
    return {str(k).lower(): str(v) for k, v in header.items()} if isinstance(header, dict) else {}


def op_answer(raw: str | bytes, op: str) -> dict[str, Any] | None:
    """The frame when it answers ``op`` (``auth``, ``subscribe``); None for any other frame."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) and answer.get("op") == op else None


def trade_authenticated(answer: Mapping[str, Any]) -> bool:
    """The trade socket answers ``auth`` with a ``retCode``."""
    return answer.get("retCode") in (0, "0")


def subscribed(answer: Mapping[str, Any]) -> bool:
    """The private stream answers ``auth`` and ``subscribe`` with ``success``."""
    return answer.get("success") is True


def refusal(answer: Mapping[str, Any]) -> str:
    """Why the venue refused an op: its message (either socket's spelling), else the whole answer."""
    return str(answer.get("retMsg") or answer.get("ret_msg") or answer)


def stream_topic(message: Mapping[str, Any]) -> str:
    """A private-stream frame's topic without its category suffix (``order.linear`` -> ``order``)."""
    return str(message.get("topic", "")).split(".", 1)[0]


def stream_items(message: Mapping[str, Any]) -> Any:
    """A private-stream frame's ``data`` (a list when the frame is well formed)."""
    return message.get("data")


def order_item_ids(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(orderLinkId, orderId)`` of an ``order`` or ``execution`` item, before parsing it."""
    oid = item.get("orderId")
    return item.get("orderLinkId") or None, None if oid is None else str(oid)


def order_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes one ``order`` item distinct (a cancel racing a fill sends ``Filled`` twice).

    Price and quantity too: an amend's update may carry the same status, fill and millisecond.
    """
    return (
        "o", item.get("orderId"), item.get("orderStatus"), item.get("cumExecQty"), item.get("updatedTime"),
        item.get("price"), item.get("qty"),
    )  # fmt: skip


def execution_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return "x", item.get("execId")
