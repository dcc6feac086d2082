"""Binance's cancel-all and dead-man's switch (``binance-usdm-wave2.md`` §4), REST only as on the venue.

- ``DELETE /fapi/v1/allOpenOrders?symbol=`` (weight 1): every open order of the account on the
  symbol canceled, each with its ``ORDER_TRADE_UPDATE x=CANCELED``; the answer is
  ``{"code": 200, "msg": "The operation of cancel all open order is done."}`` (a success body
  with a ``code`` key), whether anything was open or not. ``symbol`` is required.
- ``POST /fapi/v1/countdownCancelAll?symbol=&countdownTime=`` (weight 10): one timer per
  (account, symbol); each call replaces the running one (the heartbeat), ``countdownTime=0``
  stops it; when it lapses every open order of the symbol is canceled like a cancel-all. The
  answer is ``{"symbol", "countdownTime"}`` (``countdownTime`` a string).

Faults: a cancel-all asks the plan for operation ``"cancel_all"``, a countdown call for
``"countdown"`` (a fault that does not execute leaves the timer as it was). No WS API method
exists for either (the venue has none). Ground truth: ``switches.log``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from venues.sim.binance import fault_wire
from venues.sim.binance.errors import ApiError, error_response, json_response, mandatory, read_int
from venues.sim.fault_answers import rest_answer
from venues.sim.switches import Countdowns, SwitchKind, SwitchLog, cancel_open

if TYPE_CHECKING:
    from venues.sim.binance.dialect import BinanceDialect

__all__ = ["CANCEL_ALL_DONE", "BinanceSwitches", "routes"]

log = logging.getLogger(__name__)

CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


class BinanceSwitches:
    """One venue's countdowns and the ground truth of its cancel-alls."""

    def __init__(self, d: BinanceDialect):
        self.d = d
        self.log = SwitchLog()
        self.countdowns = Countdowns(self._lapse)

    def _lapse(self, account: str, symbol: str) -> None:
        canceled = cancel_open(self.d.engine, account, [symbol])
        self.log.record("lapse", account, symbol, processed=True, canceled=canceled)

    def close(self) -> None:
        self.countdowns.close()

    async def delete_all_open_orders(self, request: web.Request) -> web.StreamResponse:
        d = self.d
        d.limits.charge(request, 1)
        account, params = await d.signer.signed_rest(request)
        symbol = d.orders.instrument(params.get("symbol")).symbol
        headers = d.limits.order_headers(account)
        fault = d.venue.take_fault("cancel_all", transport="rest", symbol=symbol)
        if fault is not None and not fault.executes:
            self.log.record("cancel_all", account, symbol, processed=False, fault=fault)
            return await rest_answer(fault_wire.REST, request, fault, json_response({}, headers=headers))
        canceled = cancel_open(d.engine, account, [symbol])
        self.log.record("cancel_all", account, symbol, processed=True, canceled=canceled, fault=fault)
        return await rest_answer(fault_wire.REST, request, fault, json_response(CANCEL_ALL_DONE, headers=headers))

    async def countdown_cancel_all(self, request: web.Request) -> web.StreamResponse:
        d = self.d
        d.limits.charge(request, 10)
        account, params = await d.signer.signed_rest(request)
        symbol = d.orders.instrument(params.get("symbol")).symbol
        countdown = read_int(params, "countdownTime")
        if countdown is None:
            raise mandatory("countdownTime")
        if countdown < 0:
            raise ApiError(-1102, "Parameter 'countdownTime' was malformed: it must not be negative.")
        normal = json_response({"symbol": symbol, "countdownTime": str(countdown)})
        fault = d.venue.take_fault("countdown", transport="rest", symbol=symbol)
        executes = fault is None or fault.executes
        if executes:
            if countdown:
                self.countdowns.arm(account, symbol, countdown / 1000)
            else:
                self.countdowns.disarm(account, symbol)
        kind: SwitchKind = "arm" if countdown else "disarm"
        self.log.record(kind, account, symbol, processed=executes, fault=fault, seconds=countdown / 1000)
        return await rest_answer(fault_wire.REST, request, fault, normal)


def _endpoint(
    fn: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except ApiError as err:
            return error_response(err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("binance sim: %s %s failed", request.method, request.path)
            return error_response(ApiError(-1000))

    return handle


def routes(switches: BinanceSwitches, app: web.Application) -> None:
    app.router.add_delete("/fapi/v1/allOpenOrders", _endpoint(switches.delete_all_open_orders))
    app.router.add_post("/fapi/v1/countdownCancelAll", _endpoint(switches.countdown_cancel_all))
