"""The Bybit v5 private stream (docs/venues/bybit-v5.md §6): auth + subscribe on every (re)connect, topic dispatch.

- ``order`` topic items become ``OrderReport``s; ``execution`` items (fills of our orders)
  become reports of the order as that fill proves it (filled = orderQty - leavesQty), with the
  fill attached, deduplicated by ``execId``.
- ``position`` and ``wallet`` items (absolute figures) go to ``sink.account_update``.
- Duplicates are expected (two ``Filled`` messages when a cancel races a fill): the shared
  ``UserStreamBase`` keeps delivery idempotent by (orderId, orderStatus, cumExecQty, updatedTime)
  and drops anything that does not advance the order.
- A socket lost after it was up -> ``sink.stream_gap``; an unparsable item -> ``sink.parse_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from venues.base import VenueEventSink
from venues.bybit.schemas import account
from venues.bybit.schemas.account import has_hedge_rows
from venues.bybit.schemas.frames import (
    execution_key,
    is_fill,
    order_item_ids,
    order_key,
    stream_items,
    stream_topic,
    subscribed,
)
from venues.bybit.schemas.parse import ParseError, execution_update_report, order_report
from venues.bybit.ws_api import AuthFailed, authenticate, expect_answer
from venues.streams import UserStreamBase
from venues.websocket import WsConnection

__all__ = ["DCP_TOPIC", "PrivateStream"]

log = logging.getLogger(__name__)

DCP_TOPIC = "dcp.future"

TOPICS = ("order", "execution", "position", "wallet")


class PrivateStream(UserStreamBase):
    def __init__(
        self,
        url: str,
        *,
        name: str,
        api_key: str,
        sign: Callable[[str], str],
        clock: Callable[[], int],
        sink: VenueEventSink,
        unify: Callable[[str], str],
        dcp: bool = False,
        heartbeat_interval: float = 20.0,
    ):
        super().__init__(name=name, sink=sink, unify=unify, label="private stream")
        # Subscribed to dcp.future, this stream keeps the account's disconnect cancel-all alive
        # (venues/bybit/switch.py): its ping then runs at a fraction of the DCP window.
        self.dcp = dcp
        self._api_key = api_key
        self._sign = sign
        self._clock = clock
        self.conn = WsConnection(
            url,
            name=f"{name}:private-stream",
            on_message=self._on_message,
            on_open=self._open,
            on_down=self._down,
            heartbeat=lambda: '{"req_id":"ping","op":"ping"}',
            heartbeat_interval=heartbeat_interval,
        )

    async def _open(self, ws: ClientConnection) -> None:
        await authenticate(
            ws,
            api_key=self._api_key,
            sign=self._sign,
            clock=self._clock,
            ok=subscribed,
            frame_id={"req_id": "auth"},
        )
        await ws.send(orjson.dumps({"req_id": "subscribe", "op": "subscribe", "args": list(TOPICS)}).decode())
        await expect_answer(ws, "subscribe", subscribed)
        if self.dcp:
            # A topic of its own: categorised and all-in-one topics may not share one request.
            await ws.send(orjson.dumps({"req_id": "dcp", "op": "subscribe", "args": [DCP_TOPIC]}).decode())
            try:
                await expect_answer(ws, "subscribe", subscribed)
            except AuthFailed as exc:
                log.error("%s: %s refused; the dead-man's switch is not kept alive: %s", self._name, DCP_TOPIC, exc)

    async def unsubscribe_dcp(self) -> None:
        """Leave ``dcp.future`` (a clean shutdown: the switch must not fire); reconnects no longer join it."""
        self.dcp = False
        await self.conn.send(orjson.dumps({"req_id": "undcp", "op": "unsubscribe", "args": [DCP_TOPIC]}).decode())

    def _on_message(self, frame: str | bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._parse_error(frame, "unparsable frame")
            return
        if not isinstance(message, dict):
            self._parse_error(frame, "frame is not an object")
            return
        topic = stream_topic(message)
        if topic not in TOPICS:
            return  # pong, op answers, topics we did not subscribe to
        items = stream_items(message)
        if not isinstance(items, list):
            self._parse_error(frame, f"{topic}: 'data' is not a list")
            return
        for item in items:
            try:
                self._item(topic, item)
            except (ParseError, ValueError, TypeError, KeyError) as exc:
                self._parse_error(orjson.dumps(item), f"{topic}: {exc}")

    def _item(self, topic: str, item: Any) -> None:
        if not isinstance(item, dict):
            raise ParseError("item is not an object")
        if topic == "position":
            if has_hedge_rows([item]):
                return  # a hedge leg: never mistaken for the net position
            self._sink.account_update(self._name, [account.position(item, venue=self._name, unify=self._unify)], [])
            return
        if topic == "wallet":
            self._sink.account_update(self._name, [], account.wallet_balances([item], venue=self._name))
            return
        if not self._wanted(*order_item_ids(item)):
            return
        if topic == "order":
            self._deliver(order_key(item), order_report(item, venue=self._name, unify=self._unify))
        elif is_fill(item):
            self._deliver(execution_key(item), execution_update_report(item, venue=self._name, unify=self._unify))
