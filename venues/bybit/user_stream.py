"""The Bybit v5 private stream (docs/venues/bybit-v5.md §6): auth + subscribe on every (re)connect, topic dispatch.

- ``order`` topic items become ``OrderReport``s; ``execution`` items (fills of our orders)
  become reports of the order as that fill proves it (filled = orderQty - leavesQty), with the
  fill attached, deduplicated by ``execId``.
- Duplicates are expected (two ``Filled`` messages when a cancel races a fill): the shared
  ``UpdateFilter`` keeps delivery idempotent by (orderId, orderStatus, cumExecQty, updatedTime)
  and drops anything that does not advance the order.
- A socket lost after it was up -> ``sink.stream_gap``; an unparsable item -> ``sink.parse_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection

from venues.base import VenueEventSink
from venues.bybit.schemas.parse import FILL_EXEC_TYPES, ParseError, execution_update_report, order_report
from venues.bybit.ws_api import AuthFailed, authenticate
from venues.common import UpdateFilter
from venues.websocket import WsConnection

__all__ = ["PrivateStream"]

log = logging.getLogger(__name__)
TOPICS = ("order", "execution")


class PrivateStream:
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
    ):
        self._name = name
        self._api_key = api_key
        self._sign = sign
        self._clock = clock
        self._sink = sink
        self._unify = unify
        self._filter = UpdateFilter()
        self._closing = False
        self.conn = WsConnection(
            url,
            name=f"{name}:private-stream",
            on_message=self._on_message,
            on_open=self._open,
            on_down=self._down,
            heartbeat=lambda: '{"req_id":"ping","op":"ping"}',
        )
        self.delivered = 0
        self.skipped = 0  # updates nobody follows, dropped before parsing
        self._wants: Callable[[str, str | None, str | None], bool] = sink.wants_order_update

    @property
    def dropped_duplicates(self) -> int:
        return self._filter.dropped

    async def _open(self, ws: ClientConnection) -> None:
        await authenticate(
            ws,
            api_key=self._api_key,
            sign=self._sign,
            clock=self._clock,
            ok=lambda a: a.get("success") is True,
            frame_id={"req_id": "auth"},
        )
        await ws.send(orjson.dumps({"req_id": "subscribe", "op": "subscribe", "args": list(TOPICS)}).decode())
        while True:
            with contextlib.suppress(orjson.JSONDecodeError):
                answer = orjson.loads(await ws.recv())
                if isinstance(answer, dict) and answer.get("op") == "subscribe":
                    if answer.get("success") is not True:
                        raise AuthFailed(f"subscribe refused: {answer.get('ret_msg') or answer}")
                    return

    async def start(self, wait_seconds: float) -> None:
        await self.conn.start(wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.conn.up.wait(), wait_seconds)

    async def close(self) -> None:
        self._closing = True
        await self.conn.close()

    def _down(self, reason: str) -> None:
        if not self._closing:
            self._sink.stream_gap(self._name, f"private stream {reason}")

    def _on_message(self, frame: str | bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._parse_error(frame, "unparsable frame")
            return
        if not isinstance(message, dict):
            self._parse_error(frame, "frame is not an object")
            return
        topic = str(message.get("topic", "")).split(".", 1)[0]
        if topic not in TOPICS:
            return  # pong, op answers, topics we did not subscribe to
        items = message.get("data")
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
        oid = item.get("orderId")
        if not self._wants(self._name, item.get("orderLinkId") or None, None if oid is None else str(oid)):
            self.skipped += 1
            return
        if topic == "order":
            report = order_report(item, venue=self._name, unify=self._unify)
            key: tuple[Any, ...] = ("o", item.get("orderId"), item.get("orderStatus"), item.get("cumExecQty"),
                                    item.get("updatedTime"))  # fmt: skip
        else:
            if item.get("execType", "Trade") not in FILL_EXEC_TYPES:
                return
            report = execution_update_report(item, venue=self._name, unify=self._unify)
            key = ("x", item.get("execId"))
        if self._filter.admit(key, report):
            self.delivered += 1
            self._sink.order_update(report)

    def _parse_error(self, frame: str | bytes, detail: str) -> None:
        text = frame if isinstance(frame, str) else frame.decode(errors="replace")
        self._sink.parse_error(self._name, f"{detail}: {text[:200]}")
