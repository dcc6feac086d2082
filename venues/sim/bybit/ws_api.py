"""Bybit trade WebSocket (``/v5/trade``, §5): ``auth`` / ``order.create`` / ``order.cancel`` / ``order.amend`` /
``order.create-batch`` / ``order.cancel-batch`` / ``ping``.

``reqId`` is echoed; a ``reqId`` is "in flight" from receipt until its answer is sent, and one
still in flight on the connection answers ``20006`` (a request never answered, under
ACCEPT_THEN_TIMEOUT, keeps its ``reqId`` in flight for the connection's life). An
unauthenticated order request answers ``10003``, an unknown op ``10404``; the header
``X-BAPI-TIMESTAMP`` is required unless ``state.ws_require_timestamp`` is false.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from venues.sim.bybit import fault_wire
from venues.sim.bybit.dialect import BybitDialect
from venues.sim.bybit.errors import MESSAGES, ApiError, param_error, text
from venues.sim.fault_answers import ws_answer
from venues.sim.faults import FaultKind
from venues.sim.sockets import serve_requests
from venues.sim.wire import ws_send as _ws_send

__all__ = ["TradeConn", "trade_ws"]

# Order ops and the REST endpoint whose rate budget each one spends (WT: REST and WS share it).
_OPS = {
    "order.create": "/v5/order/create",
    "order.cancel": "/v5/order/cancel",
    "order.amend": "/v5/order/amend",
    "order.create-batch": "/v5/order/create-batch",
    "order.cancel-batch": "/v5/order/cancel-batch",
}

log = logging.getLogger(__name__)


@dataclass(eq=False)
class TradeConn:
    """One trade WebSocket (``/v5/trade``)."""

    ws: web.WebSocketResponse
    request: web.Request
    conn_id: str
    account: str | None = None
    inflight: set[str] = field(default_factory=set)


async def trade_ws(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/trade — order entry over WebSocket (§5)."""
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = TradeConn(ws, request, d.new_conn_id())

    async def answer(data: str) -> bool:
        if d.state.trade_request_delay_ms:  # the request's trip across a network (state.py says why)
            await asyncio.sleep(d.state.trade_request_delay_ms / 1000)
        try:
            return await _trade_frame(d, conn, data)
        except Exception:  # never crash the socket on a bad frame
            log.exception("bybit sim: trade frame failed")
            await _ws_send(ws, {"retCode": 10016, "retMsg": MESSAGES[10016], "connId": conn.conn_id})
            return True

    await serve_requests(ws, d.trade_conns, conn, answer)
    return ws


async def _trade_frame(d: BybitDialect, conn: TradeConn, data: str) -> bool:
    """Answer one trade-socket frame; returns False when the socket was closed on purpose (faults)."""
    ws = conn.ws
    try:
        frame = orjson.loads(data)
        if not isinstance(frame, dict):
            raise ValueError("frame is not an object")
    except ValueError:
        await _ws_send(ws, {"retCode": 10001, "retMsg": "params error: frame is not a JSON object",
                            "connId": conn.conn_id})  # fmt: skip
        return True
    op = text(frame.get("op"))
    req_id = frame.get("reqId")
    d.venue.log("WS", op or "?")
    limits: dict[str, str] = {}

    def answer(code: int, msg: str, payload: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if req_id is not None:
            out["reqId"] = req_id
        out.update({"retCode": code, "retMsg": msg, "op": op, "data": payload if payload is not None else {}})
        out["retExtInfo"] = {}
        out["header"] = {**limits, "Traceid": secrets.token_hex(16), "Timenow": str(d.state.server_ms())}
        out["connId"] = conn.conn_id
        return out

    if op == "ping":
        out: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "pong", "data": [str(d.state.server_ms())],
                               "connId": conn.conn_id}  # fmt: skip
        if req_id is not None:
            out = {"reqId": req_id, **out}
        await _ws_send(ws, out)
        return True
    if op == "auth":
        reply: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn.conn_id}
        if req_id is not None:
            reply = {"reqId": req_id, **reply}
        if conn.account is not None:
            reply.update(retCode=20001, retMsg=MESSAGES[20001])
        else:
            try:
                conn.account = d.signer.ws_auth(frame.get("args"))
            except ApiError as err:
                reply.update(retCode=err.code, retMsg=err.msg)
        await _ws_send(ws, reply)
        return True
    if op not in _OPS:
        await _ws_send(ws, answer(10404, f"{MESSAGES[10404]}: {op}"))
        return True
    if conn.account is None:
        await _ws_send(ws, answer(10003, "Request not authorized"))
        return True
    account = conn.account
    if req_id is not None:
        if not isinstance(req_id, str) or len(req_id) > 36:
            await _ws_send(ws, answer(10001, "params error: reqId invalid"))
            return True
        if req_id in conn.inflight:
            await _ws_send(ws, answer(20006, MESSAGES[20006]))
            return True
        conn.inflight.add(req_id)
    try:
        header = frame.get("header") or {}
        if not isinstance(header, dict):
            raise param_error("header invalid")
        if header.get("X-BAPI-TIMESTAMP") is not None or d.state.ws_require_timestamp:
            d.signer.check_time(header.get("X-BAPI-TIMESTAMP"), header.get("X-BAPI-RECV-WINDOW"))
        args = frame.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise param_error("args must hold one request object")
        limits.update(d.limits.charge(account, _OPS[op]))
        ext: dict[str, Any] = {}
        if op == "order.create":
            code, msg, result, fault = d.orders.create(account, args[0], "ws")
        elif op == "order.cancel":
            code, msg, result, fault = d.orders.cancel_write(account, args[0], "ws")
        elif op == "order.amend":
            code, msg, result, fault = d.manage.amend_write(account, args[0], "ws")
        elif op == "order.create-batch":
            code, msg, result, ext, fault = d.manage.batch_create(account, args[0], "ws")
        else:
            code, msg, result, ext, fault = d.manage.batch_cancel(account, args[0], "ws")
    except ApiError as err:
        if err.headers:
            limits.update(err.headers)
        await _ws_send(ws, answer(err.code, err.msg))
        if isinstance(req_id, str):
            conn.inflight.discard(req_id)
        return True
    normal = answer(code, msg, result)
    normal["retExtInfo"] = ext
    keep_open = await ws_answer(ws, conn.request, fault, normal, fault_wire.ws_shapes(answer))
    if isinstance(req_id, str) and (fault is None or fault.kind is not FaultKind.ACCEPT_THEN_TIMEOUT):
        conn.inflight.discard(req_id)
    return keep_open
