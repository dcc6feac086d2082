"""Live reference prices: the mark of each instrument, when it was received, and the public stream that keeps it.

- ``MarkBook``: instrument -> (mark, monotonic time received). ``AdapterBase.reference_price`` /
  ``reference_age`` read it; a MARKET order's notional check refuses a mark older than the
  gate's ``RiskLimits.max_reference_age_seconds`` (the gateway first tries one REST read).
- ``MarkFeed``: the venue's public mark-price stream (Binance ``<symbol>@markPrice@1s`` on
  ``/market/stream``; Bybit ``tickers.<symbol>`` on ``/v5/public/linear``) for the instruments
  being traded: ``watch(instrument)`` subscribes once (now, or on the next connect), and every
  (re)connect subscribes again to all of them. A dialect supplies its ``MarkStreamDialect``.
  The feed is best effort: while it is down marks only age, and the REST fallback answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Protocol

from websockets.asyncio.client import ClientConnection

from venues.base import NotSent
from venues.websocket import WsConnection

__all__ = ["MarkBook", "MarkFeed", "MarkStreamDialect"]

log = logging.getLogger(__name__)


class MarkBook:
    """Marks and their arrival times; ``updated`` is set on every change (tests await it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._prices: dict[str, Decimal] = {}
        self._received: dict[str, float] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.listeners: list[Callable[[str, Decimal], None]] = []  # told every mark (the gateway's sink)

    def set(self, instrument: str, price: Decimal) -> None:
        self._prices[instrument] = price
        self._received[instrument] = self._clock()
        for listener in self.listeners:
            listener(instrument, price)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def price(self, instrument: str) -> Decimal | None:
        return self._prices.get(instrument)

    def age(self, instrument: str) -> float | None:
        received = self._received.get(instrument)
        return None if received is None else max(0.0, self._clock() - received)

    async def next_update(self) -> None:
        """Return after the next ``set`` of any instrument."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    async def wait_for(self, instrument: str, price: Decimal) -> None:
        """Return once ``instrument``'s mark is ``price`` (each change wakes it; no polling)."""
        while self._prices.get(instrument) != price:
            await self.next_update()


class MarkStreamDialect(Protocol):
    """What one venue's public mark stream looks like on the wire."""

    def url(self, stream_url: str) -> str:
        """The public stream's URL, derived from the adapter's user-stream URL (same host, its public path)."""

    def subscribe_frames(self, natives: Sequence[str]) -> list[str]:
        """The frames that subscribe these native symbols' mark streams."""

    def marks(self, frame: str | bytes) -> list[tuple[str, Decimal]]:
        """``(native symbol, mark)`` pairs a frame carries (none for answers, pongs, deltas without a mark)."""

    def heartbeat(self) -> str | None:
        """An application-level ping, when the venue wants one (Bybit); None otherwise."""


class MarkFeed:
    """One venue's public mark-price socket, feeding a ``MarkBook`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        dialect: MarkStreamDialect,
        *,
        name: str,
        book: MarkBook,
        native: Callable[[str], str],
        unify: Callable[[str], str],
        on_mark: Callable[[str, Decimal], None] | None = None,
    ) -> None:
        self._dialect = dialect
        self._book = book
        self._native = native
        self._unify = unify
        self._on_mark = on_mark
        self._watched: dict[str, str] = {}  # instrument -> native symbol
        self._tasks: set[asyncio.Task[None]] = set()
        beat = dialect.heartbeat()
        self.conn = WsConnection(
            url,
            name=f"{name}:mark-stream",
            on_message=self._on_message,
            on_open=self._subscribe_all,
            heartbeat=(lambda: beat) if beat is not None else None,
        )
        self.frames = 0

    @property
    def watched(self) -> list[str]:
        return list(self._watched)

    def watch(self, instrument: str) -> None:
        """Keep ``instrument``'s mark live; a no-op when it already is (cheap on the submit path)."""
        if instrument in self._watched:
            return
        native = self._native(instrument)
        self._watched[instrument] = native
        if self.conn.is_up:
            task = asyncio.get_running_loop().create_task(self._send(self._dialect.subscribe_frames([native])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def start(self, wait_seconds: float) -> None:
        await self.conn.start_within(wait_seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.conn.close()

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        if self._watched:
            for frame in self._dialect.subscribe_frames(list(self._watched.values())):
                await ws.send(frame)

    async def _send(self, frames: list[str]) -> None:
        # A socket lost before the frame went out subscribes everything again when it reconnects.
        with contextlib.suppress(NotSent):
            for frame in frames:
                await self.conn.send(frame)

    def _on_message(self, frame: str | bytes) -> None:
        try:
            marks = self._dialect.marks(frame)
        except (ValueError, TypeError, KeyError) as exc:
            log.debug("%s: unreadable mark frame (%s)", self.conn.name, exc)
            return
        for native, price in marks:
            if price <= 0:
                continue
            instrument = self._unify(native)
            self.frames += 1
            self._book.set(instrument, price)
            if self._on_mark is not None:
                self._on_mark(instrument, price)
