"""The Binance USD-M user data stream (docs/venues/binance-usdm.md §1, §7): listenKey lifecycle and event dispatch.

- The URL is resolved on every (re)connect: ``POST /fapi/v1/listenKey`` (returns the active key
  or a new one), then ``<stream_url>/private/ws?listenKey=<key>`` (the routed form).
- Keepalive ``PUT`` every 30 minutes; ``-1125`` or ``listenKeyExpired`` force a reconnect.
- A socket lost after it was up -> ``sink.stream_gap(name, reason)`` (updates may be missed).
- Events are peeked by ``e`` and dispatched through a table; ``ORDER_TRADE_UPDATE`` becomes an
  ``OrderReport`` for ``sink.order_update``. Duplicates and stale replays are dropped by the
  shared ``UpdateFilter`` (keyed by order, exec type, trade, filled, status).
- An unparsable payload goes to ``sink.parse_error``; nothing here ever raises into the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson

from venues.base import VenueEventSink, VenueReadError
from venues.binance.rest import BinanceRest
from venues.binance.schemas.parse import ParseError, order_update_report
from venues.common import UpdateFilter
from venues.websocket import WsConnection

__all__ = ["UserStream"]

log = logging.getLogger(__name__)


class UserStream:
    def __init__(
        self,
        rest: BinanceRest,
        stream_url: str,
        *,
        name: str,
        sink: VenueEventSink,
        unify: Callable[[str], str],
        keepalive_seconds: float = 1800.0,
    ):
        self._rest = rest
        self._root = stream_url.rstrip("/")
        self._name = name
        self._sink = sink
        self._unify = unify
        self._keepalive_seconds = keepalive_seconds
        self._filter = UpdateFilter()
        self._closing = False
        self._keepalive: asyncio.Task[None] | None = None
        self.conn = WsConnection(self._url, name=f"{name}:user-stream", on_message=self._on_message, on_down=self._down)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "ORDER_TRADE_UPDATE": self._order_update,
            "listenKeyExpired": self._expired,
        }
        self.delivered = 0
        self.skipped = 0  # updates nobody follows, dropped before parsing
        self._wants: Callable[[str, str | None, str | None], bool] = sink.wants_order_update

    async def _url(self) -> str:
        key = await self._rest.user_stream_key("POST")
        return f"{self._root}/private/ws?listenKey={key}"

    async def start(self, wait_seconds: float) -> None:
        await self.conn.start(wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.conn.up.wait(), wait_seconds)
        self._keepalive = asyncio.create_task(self._keep_alive(), name=f"{self._name}:listenKey-keepalive")

    async def close(self) -> None:
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        await self.conn.close()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_seconds)
            try:
                await self._rest.user_stream_key("PUT")
            except VenueReadError as exc:
                log.warning("%s: listenKey keepalive failed (%s); reconnecting", self._name, exc)
                await self.conn.drop()

    def _down(self, reason: str) -> None:
        if not self._closing:
            self._sink.stream_gap(self._name, f"user stream {reason}")

    def _on_message(self, frame: str | bytes) -> None:
        try:
            message = orjson.loads(frame)
            if isinstance(message, dict) and "data" in message and "stream" in message:
                message = message["data"]  # combined-stream envelope
            if not isinstance(message, dict):
                raise ParseError("event is not an object")
            handler = self._handlers.get(str(message.get("e")))
            if handler is not None:
                handler(message)
        except (ValueError, TypeError, KeyError) as exc:
            text = frame if isinstance(frame, str) else frame.decode(errors="replace")
            self._sink.parse_error(self._name, f"{exc}: {text[:200]}")

    def _order_update(self, event: dict[str, Any]) -> None:
        o = event["o"]
        if isinstance(o, dict):
            oid = o.get("i")
            if not self._wants(self._name, o.get("c") or None, None if oid is None else str(oid)):
                self.skipped += 1
                return
        report = order_update_report(event, venue=self._name, unify=self._unify)
        if not self._filter.admit((o.get("i"), o.get("x"), o.get("t"), o.get("z"), o.get("X")), report):
            return
        self.delivered += 1
        self._sink.order_update(report)

    @property
    def dropped_duplicates(self) -> int:
        return self._filter.dropped

    def _expired(self, event: dict[str, Any]) -> None:
        log.info("%s: listenKey expired; reconnecting with a new key", self._name)
        asyncio.get_running_loop().create_task(self.conn.drop())
