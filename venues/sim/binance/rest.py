"""Binance REST routes (``/fapi``, §5): each endpoint's weight, signature check, answer and fault.

Every write asks the fault plan through ``Orders`` (``SimVenue.write``), every signed order read
asks it for ``"query"``; ``fault_answers`` turns a fault into what the client sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from venues.sim.binance import fault_wire
from venues.sim.binance.dialect import BinanceDialect
from venues.sim.binance.errors import ApiError, error_response, json_response
from venues.sim.binance.orders import WriteAnswer
from venues.sim.fault_answers import read_answer, rest_answer

__all__ = ["Handler", "endpoint", "routes"]

log = logging.getLogger(__name__)

Handler = Callable[[BinanceDialect, web.Request], Awaitable[web.StreamResponse]]


def endpoint(d: BinanceDialect, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler: an ``ApiError`` is the venue's error answer, anything else ``-1000``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(d, request)
        except ApiError as err:
            return error_response(err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("binance sim: %s %s failed", request.method, request.path)
            return error_response(ApiError(-1000))

    return handle


async def get_time(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/time — server time (§5 TM), weight 1."""
    d.limits.charge(request, 1)
    return json_response({"serverTime": d.state.server_ms()})


async def get_ping(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/ping — connectivity, weight 1."""
    d.limits.charge(request, 1)
    return json_response({})


async def get_exchange_info(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/exchangeInfo — rate limits and symbol filters from the engine (§5 EI), weight 1."""
    d.limits.charge(request, 1)
    return json_response(d.payloads.exchange_info())


async def get_premium_index(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/premiumIndex — mark prices, one symbol or all, weight 1 / 10."""
    symbol = request.query.get("symbol")
    d.limits.charge(request, 1 if symbol else 10)
    if symbol:
        return json_response(d.payloads.premium(d.orders.instrument(symbol)))
    return json_response([d.payloads.premium(i) for i in d.engine.instruments.values()])


async def _write(request: web.Request, answer: WriteAnswer, headers: dict[str, str]) -> web.StreamResponse:
    status, payload, fault = answer
    if "code" in payload:
        normal = error_response(ApiError(payload["code"], payload["msg"], status=status), headers)
    else:
        normal = json_response(payload, status=status, headers=headers)
    return await rest_answer(fault_wire.REST, request, fault, normal)


async def post_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """POST /fapi/v1/order — new order (§5 NO), 0 IP weight, 1 on each ORDERS limiter."""
    d.limits.charge(request, 0)
    account, params = await d.signer.signed_rest(request)
    d.limits.count_order(account)
    headers = d.limits.order_headers(account)
    return await _write(request, d.orders.create(account, params, "rest"), headers)


async def delete_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """DELETE /fapi/v1/order — cancel by orderId or origClientOrderId (§5 CO), weight 1."""
    d.limits.charge(request, 1)
    account, params = await d.signer.signed_rest(request)
    headers = d.limits.order_headers(account)
    return await _write(request, d.orders.cancel_write(account, params, "rest"), headers)


async def put_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """PUT /fapi/v1/order — modify price and quantity (wave2 §2 MO), 0 IP weight, 1 on each ORDERS limiter."""
    d.limits.charge(request, 0)
    account, params = await d.signer.signed_rest(request)
    d.limits.count_order(account)
    headers = d.limits.order_headers(account)
    return await _write(request, d.manage.amend_write(account, params, "rest"), headers)


async def _batch(request: web.Request, answer: tuple[int, Any, Any], headers: dict[str, str]) -> web.StreamResponse:
    status, body, fault = answer
    return await rest_answer(fault_wire.REST, request, fault, json_response(body, status=status, headers=headers))


async def post_batch_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """POST /fapi/v1/batchOrders — up to 5 creates (wave2 §3 PB), weight 5; a result per item, in order."""
    d.limits.charge(request, 5)
    account, params = await d.signer.signed_rest(request)
    answer = d.manage.batch_create(account, params, d.limits.count_order)
    return await _batch(request, answer, d.limits.order_headers(account))


async def delete_batch_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """DELETE /fapi/v1/batchOrders — up to 10 cancels by id list (wave2 §3 DB), weight 1."""
    d.limits.charge(request, 1)
    account, params = await d.signer.signed_rest(request)
    return await _batch(request, d.manage.batch_cancel(account, params), d.limits.order_headers(account))


async def _read(
    d: BinanceDialect,
    request: web.Request,
    weight: int,
    produce: Callable[[str, dict[str, str]], Any],
) -> web.StreamResponse:
    """A signed read: charge, verify, consult the ``query`` faults, answer."""
    d.limits.charge(request, weight)
    account, params = await d.signer.signed_rest(request)
    fault = d.venue.take_fault(
        "query", transport="rest", client_order_id=params.get("origClientOrderId"), symbol=params.get("symbol")
    )

    def answer() -> web.Response:
        try:
            return json_response(produce(account, params))
        except ApiError as err:
            return error_response(err)

    return await read_answer(fault_wire.REST, request, fault, answer, lambda: json_response({}))


async def get_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/order — query one order (§5 QO), weight 1; -2013 when not found."""
    return await _read(d, request, 1, lambda a, p: d.payloads.order_json(d.orders.query(a, p), kind="read"))


async def get_order_amendment(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/orderAmendment — an order's accepted modifies, newest first (wave2 §2 OA), weight 1."""
    return await _read(d, request, 1, d.manage.amendments)


async def get_open_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/openOrder — one open order (§5 QC), weight 1; -2013 when filled/cancelled/unknown."""
    return await _read(
        d, request, 1, lambda a, p: d.payloads.order_json(d.orders.query(a, p, open_only=True), kind="read")
    )


async def get_open_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/openOrders — open orders, one symbol (weight 1) or all (weight 40) (§5 OO)."""

    def produce(account: str, params: dict[str, str]) -> Any:
        symbol = params.get("symbol") or None
        if symbol:
            d.orders.instrument(symbol)
        return [d.payloads.order_json(o, kind="read") for o in d.engine.open_orders(account, symbol)]

    return await _read(d, request, 1 if request.query.get("symbol") else 40, produce)


async def get_all_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/allOrders — order history, window < 7 days, limit ≤ 1000 (§5 AO), weight 5."""
    return await _read(d, request, 5, d.orders.all_orders)


async def get_user_trades(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/userTrades — account trades, window ≤ 7 days, limit ≤ 1000 (§5 UT), weight 5."""
    return await _read(d, request, 5, d.orders.user_trades)


async def get_position_risk(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v3/positionRisk (and v2) — positions tracked by the engine, weight 5."""
    d.limits.charge(request, 5)
    account, params = await d.signer.signed_rest(request)
    symbol = params.get("symbol") or None
    if symbol:
        d.orders.instrument(symbol)
    return json_response(d.payloads.positions_json(account, symbol))


async def get_balance(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v2/balance (and v3) — wallet balances, weight 5."""
    d.limits.charge(request, 5)
    account, _ = await d.signer.signed_rest(request)
    return json_response(d.payloads.balances_json(account))


async def get_account(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v2/account (and v3) — balances and positions, weight 5."""
    d.limits.charge(request, 5)
    account, _ = await d.signer.signed_rest(request)
    return json_response(d.payloads.account_json(account))


async def listen_key(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """POST/PUT/DELETE /fapi/v1/listenKey — USER_STREAM: API key header only (§5), weight 1."""
    d.limits.charge(request, 1)
    account, _ = d.signer.account_for_key(request.headers.get("X-MBX-APIKEY"))
    if request.method == "POST":
        return json_response({"listenKey": d.streams.new_listen_key(account)})
    if request.method == "PUT":
        return json_response({"listenKey": d.streams.keepalive(account)})
    d.streams.close_key(account)
    return json_response({})


async def algo_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """/fapi/v1/algoOrder — out of scope here; signed, then refused."""
    d.limits.charge(request, 1)
    await d.signer.signed_rest(request)
    raise ApiError(-4120, "Algo orders are not supported by this simulator.")


async def user_stream(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    return await d.streams.serve(request)


def routes(d: BinanceDialect, app: web.Application, ws_api: Handler) -> None:
    """Mount every REST route, the WS API (``ws_api``) and the user-stream sockets."""
    r = app.router

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return endpoint(d, fn)

    r.add_get("/fapi/v1/time", ep(get_time))
    r.add_get("/fapi/v1/ping", ep(get_ping))
    r.add_get("/fapi/v1/exchangeInfo", ep(get_exchange_info))
    r.add_get("/fapi/v1/premiumIndex", ep(get_premium_index))
    r.add_post("/fapi/v1/order", ep(post_order))
    r.add_get("/fapi/v1/order", ep(get_order))
    r.add_delete("/fapi/v1/order", ep(delete_order))
    r.add_put("/fapi/v1/order", ep(put_order))
    r.add_get("/fapi/v1/orderAmendment", ep(get_order_amendment))
    r.add_post("/fapi/v1/batchOrders", ep(post_batch_orders))
    r.add_delete("/fapi/v1/batchOrders", ep(delete_batch_orders))
    r.add_get("/fapi/v1/openOrder", ep(get_open_order))
    r.add_get("/fapi/v1/openOrders", ep(get_open_orders))
    r.add_get("/fapi/v1/allOrders", ep(get_all_orders))
    r.add_get("/fapi/v1/userTrades", ep(get_user_trades))
    for verb in ("POST", "PUT", "DELETE"):
        r.add_route(verb, "/fapi/v1/listenKey", ep(listen_key))
    r.add_route("*", "/fapi/v1/algoOrder", ep(algo_order))
    for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        r.add_get(path, ep(get_position_risk))
    for path in ("/fapi/v2/balance", "/fapi/v3/balance"):
        r.add_get(path, ep(get_balance))
    for path in ("/fapi/v2/account", "/fapi/v3/account"):
        r.add_get(path, ep(get_account))
    r.add_get("/ws-fapi/v1", ep(ws_api))
    for path in ("/ws/{key}", "/private/ws", "/private/ws/{key}", "/private/stream", "/stream"):
        r.add_get(path, ep(user_stream))
    app.on_response_prepare.append(d.limits.weight_header())
