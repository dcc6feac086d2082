"""Binance WebSocket API (``/ws-fapi/v1``, §6): ``order.place`` / ``order.cancel`` / ``order.modify`` /
``order.status``, ``account.status`` / ``.balance`` / ``.position``, ``userDataStream.*`` and ``time``, HMAC
per request, ``rateLimits`` in every answer (unless ``returnRateLimits=false``), faults answered through
``fault_answers.ws_answer``."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from venues.sim.binance import fault_wire
from venues.sim.binance.dialect import BinanceDialect
from venues.sim.binance.errors import ApiError, error_response
from venues.sim.binance.market import ACCOUNT_METHODS, account_read
from venues.sim.fault_answers import ws_answer
from venues.sim.sockets import serve_requests
from venues.sim.wire import ws_send as _ws_send

__all__ = ["ws_api"]


async def ws_api(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /ws-fapi/v1 — WebSocket API (§6): order.place / order.cancel / order.status, HMAC per request."""
    try:
        d.limits.charge(request, 5)  # the handshake costs 5 weight
    except ApiError as err:
        return error_response(err)
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    quiet = request.query.get("returnRateLimits", "true").lower() == "false"
    await serve_requests(ws, d.api_sockets, ws, lambda data: _ws_frame(d, request, ws, data, quiet))
    return ws


async def _ws_frame(d: BinanceDialect, request: web.Request, ws: web.WebSocketResponse, data: str, quiet: bool) -> bool:
    """Answer one request frame; returns False when the socket was closed on purpose (faults)."""
    rid: Any = None
    account: str | None = None

    def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rid, "status": status, **body}
        if not quiet:
            out["rateLimits"] = d.limits.rate_limits(request, account)
        return out

    def error_frame(err: ApiError) -> dict[str, Any]:
        error: dict[str, Any] = {"code": err.code, "msg": err.msg}
        if err.retry_after is not None:
            error["data"] = {"retryAfter": int(time.time() * 1000 + err.retry_after * 1000)}
        return answer(err.status, {"error": error})

    try:
        frame = orjson.loads(data)
        if not isinstance(frame, dict):
            raise ValueError("frame is not an object")
    except ValueError:
        await _ws_send(
            ws, answer(400, {"error": {"code": -1102, "msg": "Malformed request: the frame is not a JSON object."}})
        )
        return True
    rid = frame.get("id")
    method = frame.get("method")
    params = frame.get("params") or {}
    if not isinstance(method, str) or not isinstance(params, dict):
        await _ws_send(ws, answer(400, {"error": {"code": -1102, "msg": "Mandatory parameter 'method' was not sent."}}))
        return True
    name = method.split("/", 1)[1] if "/" in method else method
    d.venue.log("WS", name)
    try:
        if name in ("userDataStream.start", "userDataStream.ping", "userDataStream.stop"):
            d.limits.charge(request, 1)
            account, _ = d.signer.account_for_key(params.get("apiKey"))
            if name == "userDataStream.start":
                result: Any = {"listenKey": d.streams.new_listen_key(account)}
            elif name == "userDataStream.ping":
                result = {"listenKey": d.streams.keepalive(account)}
            else:
                d.streams.close_key(account)
                result = {}
            await _ws_send(ws, answer(200, {"result": result}))
            return True
        if name == "time":
            d.limits.charge(request, 1)
            await _ws_send(ws, answer(200, {"result": {"serverTime": d.state.server_ms()}}))
            return True
        if name in ACCOUNT_METHODS:  # account.status / .balance / .position (and their v2/ forms), weight 5
            d.limits.charge(request, 5)
            account, sparams = d.signer.signed_ws(params)
            await _ws_send(ws, answer(200, {"result": account_read(d, name, account, sparams)}))
            return True
        if name not in ("order.place", "order.cancel", "order.modify", "order.status"):
            raise ApiError(-1102, f"Unknown method '{method}'.")
        d.limits.charge(request, 0 if name in ("order.place", "order.modify") else 1)
        account, sparams = d.signer.signed_ws(params)
        if name == "order.place":
            d.limits.count_order(account)
            status, payload, fault = d.orders.create(account, sparams, "ws")
        elif name == "order.modify":
            d.limits.count_order(account)
            status, payload, fault = d.manage.amend_write(account, sparams, "ws")
        elif name == "order.cancel":
            status, payload, fault = d.orders.cancel_write(account, sparams, "ws")
        else:
            fault = d.venue.take_fault(
                "query", transport="ws", client_order_id=sparams.get("origClientOrderId"), symbol=sparams.get("symbol")
            )
            try:
                status, payload = 200, d.payloads.order_json(d.orders.query(account, sparams), kind="read")
            except ApiError as err:
                status, payload = err.status, {"code": err.code, "msg": err.msg}
    except ApiError as err:
        await _ws_send(ws, error_frame(err))
        return True
    if "code" in payload:
        normal = answer(status, {"error": {"code": payload["code"], "msg": payload["msg"]}})
    else:
        normal = answer(200, {"result": payload})
    return await ws_answer(ws, request, fault, normal, fault_wire.ws_shapes(error_frame))
