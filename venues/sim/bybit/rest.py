"""Bybit REST routes (``/v5/...``, §4): market time, instruments-info, tickers, order create/cancel (acks only),
order realtime/history and the execution list, each in the envelope with its ``X-Bapi-Limit*`` headers.

Every write asks the fault plan through ``Orders`` (``SimVenue.write``), every signed read asks it
for ``"query"``; ``fault_answers`` turns a fault into what the client sees.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from venues.sim.bybit.dialect import BybitDialect
from venues.sim.bybit.errors import MESSAGES, ApiError, text
from venues.sim.bybit.limits import HDR_KEY, PUBLIC_LIMIT
from venues.sim.bybit.manage import BatchAnswer
from venues.sim.bybit.orders import WriteAnswer
from venues.sim.fault_answers import read_answer, rest_answer

__all__ = ["Handler", "endpoint", "routes"]

log = logging.getLogger(__name__)

Handler = Callable[[BybitDialect, web.Request], Awaitable[web.StreamResponse]]


def endpoint(d: BybitDialect, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler: counts the caller's IP window, an ``ApiError`` is the envelope, anything else 10016."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            request[HDR_KEY] = d.limits.charge(f"ip:{request.remote}", request.path, enforce=False, limit=PUBLIC_LIMIT)
            return await fn(d, request)
        except ApiError as err:
            return d.payloads.error(request, err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("bybit sim: %s %s failed", request.method, request.path)
            return d.payloads.reply(request, 10016, MESSAGES[10016])

    return handle


async def _private(d: BybitDialect, request: web.Request) -> tuple[str, dict[str, Any]]:
    """Authenticate, then count the request in the account's window for this endpoint."""
    account, params = await d.signer.signed_rest(request)
    request[HDR_KEY] = d.limits.charge(account, request.path)
    return account, params


async def get_time(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/time (§4 MT)."""
    ns = time.time_ns() + d.state.clock_offset_ms * 1_000_000
    return d.payloads.ok(request, {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)})


async def get_instruments(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/instruments-info?category=linear[&symbol=] (§4 IN), from the engine's instruments."""
    params: dict[str, Any] = dict(request.query)
    if params.get("category") in ("spot", "inverse", "option"):
        # The simulator lists no instrument of the other categories (ccxt loads all four by default).
        return d.payloads.ok(request, {"category": params["category"], "list": [], "nextPageCursor": ""})
    d.orders.check_category(params)
    status = params.get("status") or "Trading"
    limit = d.orders.limit(params, 500, 1000)
    if params.get("symbol"):
        inst = d.engine.instruments.get(params["symbol"])
        items = [inst] if inst is not None else []
    else:
        items = [i for i in d.engine.instruments.values() if not params.get("baseCoin") or i.base == params["baseCoin"]]
    if status != "Trading":
        items = []
    chunk, nxt = d.orders.page(items, params, limit)
    listing = [d.payloads.instrument_json(i) for i in chunk]
    return d.payloads.ok(request, {"category": "linear", "list": listing, "nextPageCursor": nxt})


async def get_tickers(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/tickers?category=linear[&symbol=] — mark/last/index prices."""
    params: dict[str, Any] = dict(request.query)
    d.orders.check_category(params)
    if params.get("symbol"):
        items = [d.orders.instrument(params["symbol"])]
    else:
        items = list(d.engine.instruments.values())
    return d.payloads.ok(request, {"category": "linear", "list": [d.payloads.ticker_json(i) for i in items]})


async def _write(d: BybitDialect, request: web.Request, answer: WriteAnswer) -> web.StreamResponse:
    code, msg, result, fault = answer
    return await rest_answer(d.rest_faults, request, fault, d.payloads.reply(request, code, msg, result))


async def post_create(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/create (§4 OC): an ack ``{"orderId", "orderLinkId"}``."""
    account, params = await _private(d, request)
    return await _write(d, request, d.orders.create(account, params, "rest"))


async def post_cancel(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/cancel (§4 OX): orderId wins over orderLinkId; 110001 when not open."""
    account, params = await _private(d, request)
    return await _write(d, request, d.orders.cancel_write(account, params, "rest"))


async def _read(
    d: BybitDialect, request: web.Request, produce: Callable[[str, dict[str, Any]], Any]
) -> web.StreamResponse:
    """A signed read: verify, count, consult the ``query`` faults, answer."""
    account, params = await _private(d, request)
    fault = d.venue.take_fault(
        "query",
        transport="rest",
        client_order_id=text(params.get("orderLinkId")) or None,
        symbol=text(params.get("symbol")) or None,
    )

    def answer() -> web.Response:
        try:
            return d.payloads.ok(request, produce(account, params))
        except ApiError as err:
            return d.payloads.error(request, err)

    return await read_answer(d.rest_faults, request, fault, answer, lambda: d.payloads.ok(request, {}))


async def get_realtime(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/order/realtime (§4 OR): by id any status, else open orders; newest first."""
    return await _read(d, request, d.orders.realtime)


async def get_history(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/order/history (§4 OH): window ≤ 7 days, limit ≤ 50, cursor paging, history lag applied."""
    return await _read(d, request, d.orders.history)


async def get_executions(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/execution/list (§4 EX): window ≤ 7 days, limit ≤ 100, newest first."""
    return await _read(d, request, d.orders.executions)


async def post_amend(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/amend (wave2 §2 AM): an ack ``{"orderId", "orderLinkId"}``; the change shows on the stream."""
    account, params = await _private(d, request)
    return await _write(d, request, d.manage.amend_write(account, params, "rest"))


async def _batch(d: BybitDialect, request: web.Request, answer: BatchAnswer) -> web.StreamResponse:
    code, msg, result, ext, fault = answer
    return await rest_answer(d.rest_faults, request, fault, d.payloads.reply(request, code, msg, result, ext=ext))


async def post_create_batch(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/create-batch (wave2 §3 BP): ``result.list`` + ``retExtInfo.list``, one per item."""
    account, params = await _private(d, request)
    return await _batch(d, request, d.manage.batch_create(account, params, "rest"))


async def post_cancel_batch(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/cancel-batch (wave2 §3 BC): ``result.list`` + ``retExtInfo.list``, one per item."""
    account, params = await _private(d, request)
    return await _batch(d, request, d.manage.batch_cancel(account, params, "rest"))


async def not_supported(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """Amend-batch: signed, then refused (out of scope for this simulator)."""
    await _private(d, request)
    raise ApiError(10017, "route not supported by this simulator")


async def private_ws(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    return await d.streams.serve(request)


def routes(d: BybitDialect, app: web.Application, trade_ws: Handler) -> None:
    """Mount every REST route, the trade socket (``trade_ws``) and the private stream."""
    r = app.router

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return endpoint(d, fn)

    r.add_get("/v5/market/time", ep(get_time))
    r.add_get("/v5/market/instruments-info", ep(get_instruments))
    r.add_get("/v5/market/tickers", ep(get_tickers))
    r.add_post("/v5/order/create", ep(post_create))
    r.add_post("/v5/order/cancel", ep(post_cancel))
    r.add_post("/v5/order/amend", ep(post_amend))
    r.add_post("/v5/order/create-batch", ep(post_create_batch))
    r.add_post("/v5/order/cancel-batch", ep(post_cancel_batch))
    r.add_get("/v5/order/realtime", ep(get_realtime))
    r.add_get("/v5/order/history", ep(get_history))
    r.add_get("/v5/execution/list", ep(get_executions))
    for path in ("/v5/order/amend-batch",):
        r.add_post(path, ep(not_supported))
    r.add_get("/v5/trade", ep(trade_ws))
    r.add_get("/v5/private", ep(private_ws))
