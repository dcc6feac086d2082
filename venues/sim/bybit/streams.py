"""Bybit private stream (``/v5/private``, §6): ``auth`` / ``subscribe`` (``order``, ``execution``, ``position``
and their ``.linear`` forms, ``wallet``) / ``ping``; an ``order`` message for every engine event of the account
and ``execution``, ``position`` and ``wallet`` messages for every fill, rendered at event time and delivered under
the stream faults."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from venues.sim.bybit.errors import ApiError, text
from venues.sim.bybit.payloads import Payloads, link_id, uid
from venues.sim.bybit.signing import Signer
from venues.sim.bybit.state import BybitState
from venues.sim.engine import SimFill, SimOrder
from venues.sim.sockets import close_streams, drop_stream, serve_stream
from venues.sim.venue import SimVenue
from venues.sim.wire import StreamFaultDelivery

if TYPE_CHECKING:
    from venues.sim.bybit.account import BybitAccountPayloads

__all__ = ["TOPICS", "PrivateConn", "PrivateStreams"]

TOPICS = ("order", "execution", "position", "wallet")

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PrivateConn:
    """One private stream: the authenticated account, topics (base -> name), a send queue."""

    ws: web.WebSocketResponse
    conn_id: str
    account: str | None = None
    topics: dict[str, str] = field(default_factory=dict)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class PrivateStreams:
    """The private-stream sockets of one venue, fed by its engine."""

    def __init__(self, venue: SimVenue[BybitState], payloads: Payloads, signer: Signer, new_conn_id: Callable[[], str]):
        self.venue = venue
        self.state = venue.state
        self.payloads = payloads
        self.signer = signer
        self.new_conn_id = new_conn_id
        self.conns: set[PrivateConn] = set()
        self.delivery: StreamFaultDelivery[PrivateConn] = StreamFaultDelivery(
            self._conns_for, self._send_conn, self._drop_conn
        )
        # Told of each connection's (dis)subscription and close: the DCP switch watches these (safety.py).
        self.watchers: list[Callable[[PrivateConn, str], None]] = []
        self.account: BybitAccountPayloads | None = None  # renders position / wallet items (account.py)
        venue.engine.listeners.append(self._on_engine_event)

    def _conns_for(self, account: str, topic: str | None = None) -> list[PrivateConn]:
        return [c for c in self.conns if c.account == account and (c.topics if topic is None else topic in c.topics)]

    def _on_engine_event(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        """Engine listener: render the messages now (the order mutates afterwards), then deliver."""
        try:
            ts = self.state.server_ms()
            messages = [
                {
                    "id": str(uuid.uuid4()),
                    "topic": "order",
                    "creationTime": ts,
                    "data": [self.payloads.order_json(order, stream=True)],
                }
            ]
            if fill is not None:
                messages.append(
                    {
                        "id": f"{uid(account)}_{order.symbol}_{fill.trade_id}",
                        "topic": "execution",
                        "creationTime": ts,
                        "data": [self.payloads.execution_json(order, fill, stream=True)],
                    }
                )
                if self.account is not None:  # the position and wallet a fill changed (account.py)
                    messages.extend(self.account.stream_messages(account, order.symbol))
        except Exception:  # a listener must never break the engine
            log.exception("bybit sim: could not render a private-stream message")
            return
        if not self._conns_for(account):
            return
        fault = self.venue.take_fault("stream", client_order_id=link_id(order) or None, symbol=order.symbol)
        self.delivery.deliver_all(account, messages, fault)

    def _send_conn(self, conn: PrivateConn, message: dict[str, Any]) -> None:
        name = conn.topics.get(str(message["topic"]))
        if name is None:
            return
        conn.queue.put_nowait(orjson.dumps(message if name == message["topic"] else {**message, "topic": name}))

    def _drop_conn(self, conn: PrivateConn) -> None:
        drop_stream(self.conns, conn)

    async def close(self) -> None:
        self.delivery.close()
        await close_streams(self.conns)

    # ------------------------------------------------------------------ the socket

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET /v5/private — auth, subscribe to ``order`` / ``execution``, ping (§6)."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = PrivateConn(ws, self.new_conn_id())
        await serve_stream(conn, self.conns, lambda frame: self._frame(conn, frame))
        self._tell(conn, "closed")
        return ws

    def _tell(self, conn: PrivateConn, event: str) -> None:
        for watcher in self.watchers:
            try:
                watcher(conn, event)
            except Exception:  # a watcher must never break the socket
                log.exception("bybit sim: a private-stream watcher failed on %s", event)

    async def _frame(self, conn: PrivateConn, frame: dict[str, Any]) -> None:
        op = text(frame.get("op"))
        req_id = frame.get("req_id")
        self.venue.log("WS", f"private.{op or '?'}")

        def reply(success: bool, ret_msg: str = "", **extra: Any) -> bytes:
            out: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "op": op, "conn_id": conn.conn_id}
            if req_id is not None:
                out["req_id"] = req_id
            out.update(extra)
            return orjson.dumps(out)

        if op == "ping":
            out: dict[str, Any] = {"op": "pong", "args": [str(self.state.server_ms())], "conn_id": conn.conn_id}
            if req_id is not None:
                out = {"req_id": req_id, **out}
            conn.queue.put_nowait(orjson.dumps(out))
        elif op == "auth":
            if conn.account is not None:
                conn.queue.put_nowait(reply(False, "Repeat auth"))
                return
            try:
                conn.account = self.signer.ws_auth(frame.get("args"))
            except ApiError as err:
                reason = {10003: "Invalid apikey", 10004: "Signature verification failed"}.get(err.code, err.msg)
                conn.queue.put_nowait(reply(False, reason))
                return
            conn.queue.put_nowait(reply(True))
        elif op in ("subscribe", "unsubscribe"):
            args = frame.get("args")
            if conn.account is None:
                conn.queue.put_nowait(reply(False, "Request not authorized"))
                return
            if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
                conn.queue.put_nowait(reply(False, "args invalid"))
                return
            parsed: dict[str, str] = {}
            for name in args:
                base, _, category = name.partition(".")
                if base == "dcp" and category in ("", "future", "spot", "option"):
                    parsed[name] = name  # the disconnect-cancel-all keepalive: no messages (safety.py)
                    continue
                if base not in TOPICS or category not in ("", "linear") or (base == "wallet" and category):
                    conn.queue.put_nowait(reply(False, f"error:handler not found,topic:{name}"))
                    return
                parsed[base] = name
            if len({"." in name for name in args}) > 1:
                conn.queue.put_nowait(reply(False, "all-in-one and categorised topics can't share one request"))
                return
            if op == "subscribe":
                conn.topics.update(parsed)
            else:
                for base in parsed:
                    conn.topics.pop(base, None)
            # The venue is a network away: pybit records a subscription only after it has sent it, so an
            # ack on loopback can beat that record and fail its callback (state.private_ack_delay_ms).
            delay = self.state.private_ack_delay_ms / 1000
            asyncio.get_running_loop().call_later(delay, conn.queue.put_nowait, reply(True))
            self._tell(conn, "subscribed" if op == "subscribe" else "unsubscribed")
        else:
            conn.queue.put_nowait(reply(False, f"error:handler not found,op:{op}"))
