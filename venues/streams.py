"""What every user stream shares: its sink, the skip of orders nobody follows, de-duplication, gap reports.

A dialect's stream (Binance user data stream, Bybit private stream) subclasses ``UserStreamBase``,
sets ``conn`` (a ``WsConnection`` whose ``on_down`` is ``_down``) and parses its own frames with its
schemas; ``_wanted``, ``_deliver`` and ``_parse_error`` are the only ways a frame reaches the sink.
Nothing here ever raises into the socket.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from gateway.model import OrderReport
from venues.base import VenueEventSink
from venues.common import UpdateFilter
from venues.websocket import WsConnection

__all__ = ["UserStreamBase"]


class UserStreamBase:
    conn: WsConnection

    def __init__(self, *, name: str, sink: VenueEventSink, unify: Callable[[str], str], label: str) -> None:
        self._name = name
        self._sink = sink
        self._unify = unify
        self._label = label  # how a gap names this stream: "user stream", "private stream"
        self._filter = UpdateFilter()
        self._closing = False
        self.delivered = 0
        self.skipped = 0  # updates nobody follows, dropped before parsing
        self._wants: Callable[[str, str | None, str | None], bool] = sink.wants_order_update

    @property
    def dropped_duplicates(self) -> int:
        return self._filter.dropped

    async def start(self, wait_seconds: float) -> None:
        await self.conn.start_within(wait_seconds)

    async def close(self) -> None:
        self._closing = True
        await self.conn.close()

    def _down(self, reason: str) -> None:
        if not self._closing:
            self._sink.stream_gap(self._name, f"{self._label} {reason}")

    def _wanted(self, client_order_id: str | None, order_id: str | None) -> bool:
        """Whether anyone follows this order; counted in ``skipped`` when not."""
        if self._wants(self._name, client_order_id, order_id):
            return True
        self.skipped += 1
        return False

    def _deliver(self, key: Hashable, report: OrderReport) -> None:
        """Hand the update to the sink unless it repeats or is older than what was delivered."""
        if self._filter.admit(key, report):
            self.delivered += 1
            self._sink.order_update(report)

    def _parse_error(self, frame: str | bytes, detail: str) -> None:
        text = frame if isinstance(frame, str) else frame.decode(errors="replace")
        self._sink.parse_error(self._name, f"{detail}: {text[:200]}")
