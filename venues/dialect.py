"""What a venue dialect declares for ``AdapterBase``: its ``Dialect`` constants and the shapes it plugs in.

``Dialect`` holds the name, URLs and history lag a venue defaults to, where each write goes
(``WriteRoute``: REST verb and path, WebSocket method), its history and trade reads and their
parsers, and how its success answer is named. ``DEFAULT`` in an adapter's keyword argument
means "the dialect's own"; ``AdapterOptions`` types those keyword arguments for a dialect that
adds its own. ``VenueRest`` and ``UserStream`` are what the shared flows call on its clients.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypedDict

from gateway.model import CommandOperation, OrderReport, TradeReport
from venues.marks import MarkStreamDialect
from venues.transport import HttpKind

__all__ = [
    "DEFAULT",
    "AdapterOptions",
    "Dialect",
    "DialectDefault",
    "OrderParser",
    "TradeParser",
    "UserStream",
    "VenueRest",
    "WriteRoute",
]

Unify = Callable[[str], str]


class DialectDefault(enum.Enum):
    """The type of ``DEFAULT``."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


# "The dialect's own": name, URLs and history lag default to ``DIALECT`` (None turns a socket off).
DEFAULT: Final = DialectDefault.DEFAULT


class OrderParser(Protocol):
    def __call__(self, payload: Mapping[str, Any], *, venue: str, unify: Unify) -> OrderReport: ...


class TradeParser(Protocol):
    def __call__(self, payload: Mapping[str, Any], *, venue: str, unify: Unify) -> TradeReport: ...


def _every_item(item: Any) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class WriteRoute:
    """Where one write goes: the REST verb and path, and the WebSocket method (or op) name."""

    method: str
    path: str
    ws_method: str


@dataclass(frozen=True, slots=True)
class Dialect:
    """A venue's constants as the shared flows need them."""

    name: str
    rest_url: str
    ws_api_url: str | None
    stream_url: str | None
    history_lag_seconds: float
    writes: Mapping[CommandOperation, WriteRoute]
    history_path: str
    trades_path: str
    parse_order: OrderParser
    parse_trade: TradeParser
    answer: str  # what a success answer is called in messages ("2xx answer", "retCode 0 ack")
    ack_message: str = ""  # the ACCEPTED receipt's message
    is_fill: Callable[[Any], bool] = _every_item  # which trade-read items are fills of our orders
    # The public mark-price stream (venues/marks.py), derived from ``stream_url``; None: REST marks only.
    mark_stream: MarkStreamDialect | None = None


class AdapterOptions(TypedDict, total=False):
    """``AdapterBase``'s keyword arguments, for a dialect that adds its own."""

    rest_url: str | DialectDefault
    ws_api_url: str | DialectDefault | None
    stream_url: str | DialectDefault | None
    request_timeout: float
    recv_window_ms: int
    http: HttpKind
    name: str | DialectDefault
    history_lag_seconds: float | DialectDefault
    connect_wait_seconds: float
    dead_mans_switch_seconds: float | None
    market_stream_url: str | DialectDefault | None


class VenueRest(Protocol):
    async def write(self, method: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a create/cancel once; the answer's order object, or raise a write-outcome error."""
        ...


class UserStream(Protocol):
    async def start(self, wait_seconds: float) -> None: ...

    async def close(self) -> None: ...
