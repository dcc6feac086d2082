"""Binance USD-M's public mark-price stream on the wire: ``<symbol>@markPrice@1s`` on the routed ``/market`` path.

Mark price is "regular market data": since the 2026 routing change it is served on
``<root>/market/...`` only (a bare ``<root>/ws/...`` connection never delivers it). The combined
form ``<root>/market/stream`` takes ``SUBSCRIBE`` frames and wraps each event as
``{"stream", "data"}`` (shared/venues/binance-usdm-wave2.md §5, mark price stream).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

import orjson

from venues.binance.schemas.account import mark_update
from venues.binance.schemas.frames import user_event

__all__ = ["BinanceMarkStream"]


class BinanceMarkStream:
    """``venues.marks.MarkStreamDialect`` for Binance USD-M."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def url(self, stream_url: str) -> str:
        return f"{stream_url.rstrip('/')}/market/stream"

    def subscribe_frames(self, natives: Sequence[str]) -> list[str]:
        params = [f"{native.lower()}@markPrice@1s" for native in natives]
        return [orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": next(self._ids)}).decode()]

    def marks(self, frame: str | bytes) -> list[tuple[str, Decimal]]:
        kind, event = user_event(orjson.loads(frame))  # unwraps the combined-stream envelope
        if kind != "markPriceUpdate":
            return []  # SUBSCRIBE answers ({"result": null, "id": n})
        symbol, mark, _ = mark_update(event)
        return [(symbol, mark)]

    def heartbeat(self) -> str | None:
        return None  # the server pings; websockets answers
