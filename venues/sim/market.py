"""The simulator's public mark-price streams, shared by both dialects: who listens to which symbol, and the pusher.

A dialect (``venues/sim/binance/market.py``, ``venues/sim/bybit/market.py``) serves the socket,
reads its subscribe frames and renders its venue's messages; ``MarkStreams`` keeps the sockets
and their symbols, pushes every subscribed symbol's mark each ``state.mark_interval_seconds``
(as the venues do: Binance ``@1s``, Bybit every 100 ms) and at once when a test moves the mark
(``SimVenue.mark_moved``). No auth, no faults: the stream is public market data.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from venues.sim.engine import SimInstrument
from venues.sim.sockets import close_streams
from venues.sim.venue import SimVenue

__all__ = ["MarkConn", "MarkStreams"]

# (instrument, how this connection named the stream, first message on it) -> messages
Render = Callable[[SimInstrument, str, bool], list[dict[str, Any]]]


@dataclass(eq=False)
class MarkConn:
    """One public socket: the streams it subscribed (name as the client spelt it -> native symbol)."""

    ws: web.WebSocketResponse
    envelope: bool = False  # Binance combined-stream {"stream", "data"} wrapping
    streams: dict[str, str] = field(default_factory=dict)
    snapshots_sent: set[str] = field(default_factory=set)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class MarkStreams:
    """The public mark sockets of one venue (see the module docstring)."""

    def __init__(self, venue: SimVenue[Any], render: Render) -> None:
        self.venue = venue
        self.render = render
        self.conns: set[MarkConn] = set()
        self._task: asyncio.Task[None] | None = None
        venue.on_mark.append(self.push_symbol)
        venue.on_close.append(self.close)
        self.pushed = 0

    def subscribe(self, conn: MarkConn, names: dict[str, str]) -> None:
        """Add streams to a socket and send each one's current mark now (its snapshot)."""
        conn.streams.update(names)
        for name, symbol in names.items():
            self._send(conn, name, symbol)
        self._ensure_pusher()

    def unsubscribe(self, conn: MarkConn, names: list[str]) -> None:
        for name in names:
            conn.streams.pop(name, None)
            conn.snapshots_sent.discard(name)

    def push_symbol(self, symbol: str) -> None:
        """Push ``symbol``'s mark to every socket subscribed to it (a test moved the mark)."""
        for conn in list(self.conns):
            for name, subscribed in conn.streams.items():
                if subscribed == symbol:
                    self._send(conn, name, symbol)

    def push_all(self) -> None:
        for conn in list(self.conns):
            for name, symbol in conn.streams.items():
                self._send(conn, name, symbol)

    def _send(self, conn: MarkConn, name: str, symbol: str) -> None:
        inst = self.venue.engine.instruments.get(symbol)
        if inst is None:
            return
        first = name not in conn.snapshots_sent
        conn.snapshots_sent.add(name)
        for message in self.render(inst, name, first):
            payload = {"stream": name, "data": message} if conn.envelope else message
            conn.queue.put_nowait(orjson.dumps(payload))
            self.pushed += 1

    def _ensure_pusher(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pusher(), name=f"sim:{self.venue.name}:marks")

    async def _pusher(self) -> None:
        while True:
            await asyncio.sleep(max(0.01, float(self.venue.state.mark_interval_seconds)))
            self.push_all()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await close_streams(self.conns)
