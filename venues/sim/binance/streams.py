"""Binance user data streams (§1, §7): the listenKey registry and every socket that listens on a key.

``/ws/<key>``, ``/private/ws?listenKey=``, ``/private/ws/<key>``, ``/private/stream`` + SUBSCRIBE
(and ``/stream?streams=``) share one registry; ``ORDER_TRADE_UPDATE`` goes out for every engine
event of the account, ``ACCOUNT_UPDATE`` on fills, ``listenKeyExpired`` when a key lapses (TTL
``state.listen_key_ttl_seconds``). Every event asks the fault plan (``"stream"``) and is delivered
under its stream fault by ``StreamFaultDelivery``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from venues.sim.binance.errors import CODE_MESSAGES, ApiError, error_response
from venues.sim.binance.payloads import Payloads
from venues.sim.binance.state import BinanceState
from venues.sim.engine import SimFill, SimOrder, now_ms
from venues.sim.sockets import close_streams, drop_stream, serve_stream
from venues.sim.venue import SimVenue
from venues.sim.wire import StreamFaultDelivery
from venues.sim.wire import ws_send as _ws_send

__all__ = ["ListenKey", "StreamConn", "UserStreams"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class StreamConn:
    """One user-data WebSocket: the keys it listens on, an optional event allow-list, a send queue."""

    ws: web.WebSocketResponse
    request: web.Request
    envelope: bool  # combined-stream {"stream", "data"} wrapping (/private/stream, /stream)
    keys: set[str] = field(default_factory=set)
    events: frozenset[str] | None = None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


@dataclass(eq=False)
class ListenKey:
    key: str
    account: str
    expires_ms: int
    alive: bool = True
    timer: asyncio.TimerHandle | None = None


class UserStreams:
    """The listen keys and user-data sockets of one venue, fed by its engine."""

    def __init__(self, venue: SimVenue[BinanceState], payloads: Payloads):
        self.venue = venue
        self.state = venue.state
        self.payloads = payloads
        self.listen_keys: dict[str, ListenKey] = {}
        self._key_by_account: dict[str, str] = {}
        self.conns: set[StreamConn] = set()
        self.delivery: StreamFaultDelivery[tuple[StreamConn, str]] = StreamFaultDelivery(
            self._conns_for, self._send_target, self._drop_target
        )
        venue.engine.listeners.append(self._on_engine_event)

    def new_listen_key(self, account: str) -> str:
        key = self._key_by_account.get(account)
        found = self.listen_keys.get(key) if key else None
        if found is None or not found.alive:
            found = ListenKey(secrets.token_urlsafe(45)[:60], account, 0)
            self.listen_keys[found.key] = found
            self._key_by_account[account] = found.key
        self._extend(found)
        return found.key

    def keepalive(self, account: str) -> str:
        key = self._key_by_account.get(account)
        found = self.listen_keys.get(key) if key else None
        if found is None or not found.alive:
            raise ApiError(-1125)
        self._extend(found)
        return found.key

    def close_key(self, account: str) -> None:
        key = self._key_by_account.pop(account, None)
        found = self.listen_keys.pop(key, None) if key else None
        if found is not None:
            found.alive = False
            if found.timer is not None:
                found.timer.cancel()

    def _extend(self, lk: ListenKey) -> None:
        ttl = float(self.state.listen_key_ttl_seconds)
        lk.expires_ms = now_ms() + int(ttl * 1000)
        if lk.timer is not None:
            lk.timer.cancel()
        lk.timer = asyncio.get_running_loop().call_later(ttl, self.expire_listen_key, lk.key)

    def expire_listen_key(self, key: str) -> None:
        """The key lapses: its sockets get ``listenKeyExpired`` and nothing more (§7 LX)."""
        lk = self.listen_keys.get(key)
        if lk is None or not lk.alive:
            return
        lk.alive = False
        if lk.timer is not None:
            lk.timer.cancel()
        if self._key_by_account.get(lk.account) == key:
            del self._key_by_account[lk.account]
        event = {"e": "listenKeyExpired", "E": str(self.state.server_ms()), "listenKey": key}
        for conn in list(self.conns):
            if key in conn.keys:
                self._send_conn(conn, key, event)
                conn.keys.discard(key)

    def _send_conn(self, conn: StreamConn, key: str, event: dict[str, Any]) -> None:
        if conn.events is not None and event.get("e") not in conn.events and event.get("e") != "listenKeyExpired":
            return
        payload = {"stream": key, "data": event} if conn.envelope else event
        conn.queue.put_nowait(orjson.dumps(payload))

    def _conns_for(self, account: str) -> list[tuple[StreamConn, str]]:
        out = []
        for conn in self.conns:
            for key in conn.keys:
                lk = self.listen_keys.get(key)
                if lk is not None and lk.alive and lk.account == account:
                    out.append((conn, key))
                    break
        return out

    def _on_engine_event(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        """Engine listener: build the events now (the order mutates afterwards), then deliver."""
        try:
            events = [self.payloads.order_update_event(order, fill, exec_type)]
            if fill is not None:
                events.append(self.payloads.account_update_event(account, order))
        except Exception:  # a listener must never break the engine
            log.exception("binance sim: could not render a user-stream event")
            return
        if not self._conns_for(account):
            return
        fault = self.venue.take_fault("stream", client_order_id=order.client_order_id, symbol=order.symbol)
        self.delivery.deliver_all(account, events, fault)

    def _send_target(self, target: tuple[StreamConn, str], event: dict[str, Any]) -> None:
        self._send_conn(target[0], target[1], event)

    def _drop_target(self, target: tuple[StreamConn, str]) -> None:
        drop_stream(self.conns, target[0])

    async def close(self) -> None:
        for lk in self.listen_keys.values():
            if lk.timer is not None:
                lk.timer.cancel()
        self.delivery.close()
        await close_streams(self.conns)

    # ------------------------------------------------------------------ the socket

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET /ws/<key>, /private/ws?listenKey=, /private/ws/<key>, /private/stream, /stream?streams= (§1)."""
        path = request.path
        key = request.match_info.get("key") or request.query.get("listenKey") or None
        envelope = path.startswith("/private/stream") or path == "/stream"
        keys: set[str] = set()
        if path == "/stream" and request.query.get("streams"):
            keys = set(request.query["streams"].split("/"))
        elif key:
            keys = {key}
        for k in keys:
            lk = self.listen_keys.get(k)
            if lk is None or not lk.alive:
                return error_response(ApiError(-1125))
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        events_param = request.query.get("events")
        conn = StreamConn(ws, request, envelope, keys, frozenset(events_param.split("/")) if events_param else None)
        await serve_stream(conn, self.conns, lambda frame: self._frame(conn, frame))
        return ws

    async def _frame(self, conn: StreamConn, frame: dict[str, Any]) -> None:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS on a combined stream."""
        ws = conn.ws
        method, fid, params = frame.get("method"), frame.get("id"), frame.get("params") or []
        if method == "SUBSCRIBE":
            bad = [p for p in params if not (self.listen_keys.get(p) and self.listen_keys[p].alive)]
            if bad:
                await _ws_send(ws, {"error": {"code": -1125, "msg": CODE_MESSAGES[-1125]}, "id": fid})
                return
            conn.keys.update(params)
            await _ws_send(ws, {"result": None, "id": fid})
        elif method == "UNSUBSCRIBE":
            conn.keys.difference_update(params)
            await _ws_send(ws, {"result": None, "id": fid})
        elif method == "LIST_SUBSCRIPTIONS":
            await _ws_send(ws, {"result": sorted(conn.keys), "id": fid})
