"""The schema a ``retCode 0`` answer to a create or cancel must meet before it may make a receipt ACCEPTED.

Bybit acknowledges a write with ``{"orderId", "orderLinkId"}`` only (docs/venues/bybit-v5.md §4 OC/OX, §5).
That proves acceptance only when the ``orderId`` is a non-empty string of the venue's shape and
the ack names the order we sent (create: our ``orderLinkId``; cancel: the target's id). Anything
else raises ``ParseError`` naming what failed; the adapter turns that into UNKNOWN_EXECUTION
(reconciled by client order id, never resent). Plain typed checks: this is the ack hot path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from venues.common import ParseError

__all__ = ["ORDER_ID_RE", "cancel_ack", "create_ack"]

# §4/§5: linear orderIds are UUIDs; the create docs' example shows a decimal one, accepted too.
ORDER_ID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9]{1,20}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _order_id(ack: Mapping[str, Any]) -> str:
    raw = ack.get("orderId")
    if not isinstance(raw, str) or not ORDER_ID_RE.fullmatch(raw):
        raise ParseError(f"orderId {_show(raw)} is not a Bybit orderId (a UUID or up to 20 digits)")
    return raw


def _link_id(ack: Mapping[str, Any], expected: str | None) -> str:
    raw = ack.get("orderLinkId")
    if not isinstance(raw, str) or (expected is not None and raw != expected):
        wanted = f" ({expected!r})" if expected is not None else ""
        raise ParseError(f"orderLinkId {_show(raw)} is not the one sent{wanted}")
    return raw


def _mapping(ack: Any) -> Mapping[str, Any]:
    if not isinstance(ack, Mapping):
        raise ParseError(f"ack is a {type(ack).__name__}, not an object")
    return ack


def create_ack(ack: Any, *, client_order_id: str) -> tuple[str, str]:
    """``(orderId, orderLinkId)`` of an ack for exactly this create, or ``ParseError``."""
    body = _mapping(ack)
    return _order_id(body), _link_id(body, client_order_id)


def cancel_ack(ack: Any, *, client_order_id: str | None, order_id: str | None) -> tuple[str, str]:
    """``(orderId, orderLinkId)`` of an ack naming the cancel's target, or ``ParseError``."""
    body = _mapping(ack)
    answered = _order_id(body)
    if order_id is not None and answered != order_id:
        raise ParseError(f"orderId {_show(answered)} is not the target ({order_id!r})")
    return answered, _link_id(body, client_order_id)
