"""Helpers every dialect uses: numbers and ids on the wire, payload field readers, stream de-duplication.

The flows the adapters share live in ``venues.adapter_base`` (``AdapterBase``, also importable
from here); the outcome classification in ``venues.codebook``; the stream core in ``venues.streams``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gateway.model import OrderReport, OrderState
from venues.base import InvalidOrderError

if TYPE_CHECKING:
    from venues.adapter_base import AdapterBase

__all__ = [
    "AdapterBase",
    "ParseError",
    "UpdateFilter",
    "WriteAnswer",
    "check_id",
    "dec_field",
    "epoch_ms",
    "filter_value",
    "fmt_decimal",
    "field",
    "hmac_sha256_hex",
    "int_field",
    "keyed_decimals",
    "opt_dec_field",
    "opt_int_field",
    "query_string",
    "to_decimal",
    "to_int",
]


def __getattr__(name: str) -> Any:
    # ``from venues.common import AdapterBase`` keeps working; imported lazily because
    # venues.adapter_base itself imports these helpers.
    if name == "AdapterBase":
        from venues.adapter_base import AdapterBase

        return AdapterBase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def epoch_ms() -> int:
    return int(time.time() * 1000)


def hmac_sha256_hex(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def fmt_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: Decimal('1E+1') -> '10', '0.0100' -> '0.01'.

    Exact: ``normalize()`` would round to the context's 28 digits and send another number.
    Callers pass amounts ``check_amount`` admitted (finite, at most 20 + 20 digits).
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# Left unescaped in query keys/values: RFC 3986 query characters other than the '&', '=', '+',
# ';' delimiters. aiohttp (yarl) unescapes exactly these when it sends a URL, so escaping them
# would sign one string and send another (-1022 / 10004).
QUERY_SAFE = "!$'()*,:/?@"


# What ``quote(..., safe=QUERY_SAFE)`` leaves as it is (its always-safe ASCII set plus QUERY_SAFE),
# and the two separators query_string puts between them.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~!$'()*,:/?@&=-]*")


def query_string(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&...`` with every key and value percent-encoded, in the given order; sign this exact string."""
    pairs = list(params)
    plain = "&".join(f"{k}={v}" for k, v in pairs)
    # Orders are symbols, sides, plain decimals and ids from a small alphabet: nothing to encode, and
    # one scan of the joined text instead of two quote() calls (~10 Python calls each) per param.
    # Exactly the separators' '&' and '=' means no key or value holds one (those must be encoded).
    if plain.count("&") == len(pairs) - 1 and plain.count("=") == len(pairs) and _UNQUOTED.fullmatch(plain):
        return plain
    return "&".join(f"{quote(k, safe=QUERY_SAFE)}={quote(v, safe=QUERY_SAFE)}" for k, v in pairs)


def check_id(field: str, value: object, pattern: re.Pattern[str], rule: str, *, venue: str) -> str:
    """``value`` when it is a ``str`` that ``pattern`` fully matches, else ``InvalidOrderError`` naming ``rule``."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidOrderError(field, f"{value!r} {rule}", venue=venue)
    return value


def to_decimal(value: Any) -> Decimal:
    """A venue number (JSON string or number) as Decimal; raises ValueError on anything else."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a decimal: {value!r}")
    try:
        return Decimal(str(value)) if isinstance(value, int | float) else Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal: {value!r}") from exc


def to_int(value: Any) -> int:
    """A venue integer that recordings may stringify (``"1707907323983"`` or ``1707907323983``)."""
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


# --------------------------------------------------------------------------- payload fields


class ParseError(ValueError):
    """A venue payload lacks a field or carries a value of the wrong shape."""


def field(payload: Mapping[str, Any], key: str) -> Any:
    """``payload[key]``; ``ParseError`` naming the field when it is missing or null."""
    try:
        value = payload[key]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"missing field {key!r}") from exc
    if value is None:
        raise ParseError(f"field {key!r} is null")
    return value


def dec_field(payload: Mapping[str, Any], key: str) -> Decimal:
    try:
        return to_decimal(field(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def opt_dec_field(payload: Mapping[str, Any], key: str) -> Decimal | None:
    """A decimal where the venue's "0" or "" means "none" (price of a MARKET order, average before a fill)."""
    if payload.get(key) in (None, ""):
        return None
    value = dec_field(payload, key)
    return value if value else None


def int_field(payload: Mapping[str, Any], key: str) -> int:
    try:
        return to_int(field(payload, key))
    except ValueError as exc:
        raise ParseError(f"field {key!r}: {exc}") from exc


def filter_value(payload: Mapping[str, Any], key: str) -> Decimal:
    """A filter bound; absent or empty is 0, which ``InstrumentFilters`` reads as "no bound"."""
    value = payload.get(key)
    return Decimal(0) if value in (None, "") else to_decimal(value)


def keyed_decimals(items: Iterable[Any], key: str, value: str) -> list[tuple[str, Decimal]]:
    """``(item[key], item[value])`` of each object whose key is a string and value a decimal; others left out."""
    out: list[tuple[str, Decimal]] = []
    for item in items:
        name = item.get(key) if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            continue
        try:
            out.append((name, to_decimal(item[value])))
        except (KeyError, ValueError):
            continue
    return out


def opt_int_field(payload: Mapping[str, Any], key: str) -> int | None:
    return None if payload.get(key) in (None, "") else int_field(payload, key)


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    """What a write answer that passed its dialect's schema proves (an ack proves only the ids)."""

    order_id: str
    client_order_id: str
    state: OrderState | None = None
    filled_quantity: Decimal | None = None
    average_price: Decimal | None = None


# --------------------------------------------------------------------------- stream hygiene


class UpdateFilter:
    """Drops user-stream order updates that tell nothing new, for every venue.

    An update is dropped when its identity ``key`` was already delivered (an exact duplicate),
    or when it is older than what was delivered for the order: less filled, open after a
    terminal state, or the same filled quantity, state, quantity and price again (Bybit's double
    ``Filled`` when a cancel races a fill; an amend's update differs in price or quantity).
    Bounded: the oldest entries are forgotten first.
    """

    def __init__(self, max_entries: int = 20_000):
        self._max = max_entries
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._progress: OrderedDict[str, tuple[Decimal, str, bool, Decimal | None, Decimal | None]] = OrderedDict()
        self.dropped = 0

    def admit(self, key: Hashable, order: OrderReport) -> bool:
        if key in self._seen:
            self.dropped += 1
            return False
        self._seen[key] = None
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        last = self._progress.get(order.order_id)
        terminal = order.state.is_terminal
        if last is not None:
            filled, state, was_terminal, quantity, price = last
            stale = order.filled_quantity < filled or (was_terminal and not terminal)
            # An amend changes price or quantity and nothing else: that is news, not a repeat.
            same_terms = order.quantity == quantity and order.price == price
            repeat = order.filled_quantity == filled and order.state.value == state and same_terms
            if stale or repeat:
                self.dropped += 1
                return False
        progress = (order.filled_quantity, order.state.value, terminal, order.quantity, order.price)
        self._progress[order.order_id] = progress
        if len(self._progress) > self._max:
            self._progress.popitem(last=False)
        return True
