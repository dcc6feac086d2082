"""Bybit v5's public linear stream on the wire: ``tickers.<symbol>`` for the mark price.

``<host>/v5/public/linear`` (beside the private stream's ``/v5/private``); ``subscribe`` ops,
then a ``snapshot`` and ``delta``s every 100 ms; a delta leaves out what did not change, so a
frame without ``markPrice`` keeps the mark held (shared/venues/bybit-v5-wave2.md §5 TK).
The socket wants an application ``ping`` every 20 s.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

import orjson

from venues.bybit.schemas.account import ticker_mark

__all__ = ["BybitMarkStream"]

MAX_ARGS = 10  # topics per subscribe op the public stream takes


class BybitMarkStream:
    """``venues.marks.MarkStreamDialect`` for Bybit linear."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def url(self, stream_url: str) -> str:
        root = stream_url.rstrip("/")
        if root.endswith("/private"):
            root = root[: -len("/private")]
        return f"{root}/public/linear"

    def subscribe_frames(self, natives: Sequence[str]) -> list[str]:
        topics = [f"tickers.{native}" for native in natives]
        return [
            orjson.dumps(
                {"req_id": f"marks-{next(self._ids)}", "op": "subscribe", "args": topics[i : i + MAX_ARGS]}
            ).decode()
            for i in range(0, len(topics), MAX_ARGS)
        ]

    def marks(self, frame: str | bytes) -> list[tuple[str, Decimal]]:
        message = orjson.loads(frame)
        if not isinstance(message, dict) or not str(message.get("topic", "")).startswith("tickers."):
            return []  # op answers, pongs
        found = ticker_mark(message)
        return [] if found is None else [found]

    def heartbeat(self) -> str | None:
        return '{"op":"ping"}'
