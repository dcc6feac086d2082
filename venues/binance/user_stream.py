"""The Binance USD-M user data stream (docs/venues/binance-usdm.md §1, §7): listenKey lifecycle and event dispatch.

- The URL is resolved on every (re)connect: ``POST /fapi/v1/listenKey`` (returns the active key
  or a new one), then ``<stream_url>/private/ws?listenKey=<key>`` (the routed form).
- Keepalive ``PUT`` every 30 minutes; ``-1125`` or ``listenKeyExpired`` force a reconnect.
- A socket lost after it was up -> ``sink.stream_gap(name, reason)`` (updates may be missed).
- Events are peeked by ``e`` and dispatched through a table; ``ORDER_TRADE_UPDATE`` becomes an
  ``OrderReport`` for ``sink.order_update``. Duplicates and stale replays are dropped by the
  shared ``UserStreamBase`` (keyed by order, exec type, trade, filled, status). ``ACCOUNT_UPDATE``
  becomes the changed positions and balances for ``sink.account_update`` (wave2 §5).
- An unparsable payload goes to ``sink.parse_error``; nothing here ever raises into the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from venues.base import VenueEventSink, VenueReadError
from venues.binance.rest import BinanceRest
from venues.binance.schemas.account import account_update
from venues.binance.schemas.frames import order_update_ids, order_update_key, user_event
from venues.binance.schemas.parse import order_update_report
from venues.streams import UserStreamBase
from venues.websocket import WsConnection

__all__ = ["UserStream"]

log = logging.getLogger(__name__)


class UserStream(UserStreamBase):
    def __init__(
        self,
        rest: BinanceRest,
        stream_url: str,
        *,
        name: str,
        sink: VenueEventSink,
        unify: Callable[[str], str],
        keepalive_seconds: float = 1800.0,
        mark_of: Callable[[str], Decimal | None] = lambda instrument: None,
    ):
        super().__init__(name=name, sink=sink, unify=unify, label="user stream")
        self._rest = rest
        self._root = stream_url.rstrip("/")
        self._keepalive_seconds = keepalive_seconds
        self._mark_of = mark_of
        self._keepalive: asyncio.Task[None] | None = None
        self.conn = WsConnection(self._url, name=f"{name}:user-stream", on_message=self._on_message, on_down=self._down)
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "ORDER_TRADE_UPDATE": self._order_update,
            "listenKeyExpired": self._expired,
            "ACCOUNT_UPDATE": self._account_update,
        }

    async def _url(self) -> str:
        key = await self._rest.user_stream_key("POST")
        return f"{self._root}/private/ws?listenKey={key}"

    async def start(self, wait_seconds: float) -> None:
        await super().start(wait_seconds)
        self._keepalive = asyncio.create_task(self._keep_alive(), name=f"{self._name}:listenKey-keepalive")

    async def close(self) -> None:
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        await super().close()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_seconds)
            try:
                await self._rest.user_stream_key("PUT")
            except VenueReadError as exc:
                log.warning("%s: listenKey keepalive failed (%s); reconnecting", self._name, exc)
                await self.conn.drop()

    def _on_message(self, frame: str | bytes) -> None:
        try:
            kind, event = user_event(orjson.loads(frame))
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(event)
        except (ValueError, TypeError, KeyError) as exc:
            self._parse_error(frame, str(exc))

    def _order_update(self, event: Mapping[str, Any]) -> None:
        ids = order_update_ids(event)
        if ids is not None and not self._wanted(*ids):
            return
        report = order_update_report(event, venue=self._name, unify=self._unify)
        self._deliver(order_update_key(event), report)

    def _account_update(self, event: Mapping[str, Any]) -> None:
        """Positions and balances that changed: absolute figures, so a duplicate or a replay is harmless."""
        positions, balances = account_update(event, venue=self._name, unify=self._unify, mark_of=self._mark_of)
        self._sink.account_update(self._name, positions, balances)

    def _expired(self, event: Mapping[str, Any]) -> None:
        log.info("%s: listenKey expired; reconnecting with a new key", self._name)
        asyncio.get_running_loop().create_task(self.conn.drop())
