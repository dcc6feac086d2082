"""Bybit's cancel-all and disconnect cancel-all (DCP) (``bybit-v5-wave2.md`` §4), REST only as on the venue.

- ``POST /v5/order/cancel-all``: ``category=linear`` and one of ``symbol`` > ``baseCoin`` >
  ``settleCoin``; every open order there canceled (at most 500, oldest first; the venue picks
  at random), each with its ``order`` message; ``result = {"list": [{"orderId", "orderLinkId"}],
  "success": "1"}``. ``orderFilter=StopOrder`` cancels nothing (no conditional orders here).
- ``POST /v5/order/disconnected-cancel-all`` ``{"product", "timeWindow"}``: sets the account's
  DCP window (``product`` defaults to ``OPTIONS``; ``DERIVATIVES`` covers linear; ``timeWindow``
  in [3, 300] s). DCP is not self-service: only accounts with ``state.dcp_enabled`` may set it
  (others get ``10005``; the venue's code for this is unconfirmed).
- ``GET /v5/account/query-dcp-info``: ``{"dcpInfos": [{"product", "dcpStatus": "ON", "timeWindow"}]}``
  for an enabled account (``timeWindow`` a string here), ``[]`` otherwise.
- The switch: private-stream connections that subscribed ``dcp.future`` (or the deprecated bare
  ``dcp``) keep it alive. When the last of an account's subscribed connections drops (closed
  by the client, killed, or cut by the venue) the window starts; a connection subscribing
  again inside it stops it; when it lapses every open linear order of the account is canceled
  (``cancelType: CancelByDCP``).
  Unsubscribing ``dcp`` first (a clean shutdown) starts nothing.

Faults: a cancel-all asks the plan for operation ``"cancel_all"``, a DCP setting for ``"dcp"``.
Ground truth: ``switches.log``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from venues.sim.bybit.errors import ApiError, param_error, read_int, text
from venues.sim.bybit.limits import HDR_KEY
from venues.sim.bybit.payloads import link_id
from venues.sim.bybit.rest import endpoint
from venues.sim.engine import DCP_CANCEL_REASON
from venues.sim.fault_answers import rest_answer
from venues.sim.switches import Countdowns, SwitchLog, cancel_open

if TYPE_CHECKING:
    from venues.sim.bybit.dialect import BybitDialect
    from venues.sim.bybit.streams import PrivateConn

__all__ = ["CANCEL_ALL_LIMIT", "DCP_PRODUCT", "BybitSwitches", "routes"]

CANCEL_ALL_LIMIT = 500  # futures: at most this many orders per call
DCP_PRODUCT = "DERIVATIVES"  # what ``dcp.future`` and linear orders belong to
_PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")
_DCP_TOPICS = ("dcp", "dcp.future")
DEFAULT_WINDOW_S = 10  # an enabled account's window until it sets one


def _holds_dcp(conn: PrivateConn) -> bool:
    return any(topic in conn.topics for topic in _DCP_TOPICS)


class BybitSwitches:
    """One venue's DCP windows, countdowns and the ground truth of its cancel-alls."""

    def __init__(self, d: BybitDialect):
        self.d = d
        self.log = SwitchLog()
        self.countdowns = Countdowns(self._lapse)
        self.windows: dict[str, int] = {}  # account -> DCP window (s), once set
        d.streams.watchers.append(self._on_conn)

    def close(self) -> None:
        self.countdowns.close()

    # ------------------------------------------------------------------ the switch

    def _on_conn(self, conn: PrivateConn, event: str) -> None:
        account = conn.account
        if account is None or not self.d.state.dcp_enabled:
            return
        if event == "subscribed" and _holds_dcp(conn):
            self.countdowns.disarm(account, DCP_PRODUCT)  # a reconnect inside the window resets it
        elif event == "closed" and _holds_dcp(conn):
            alive = [c for c in self.d.streams.conns if c is not conn and c.account == account and _holds_dcp(c)]
            if not alive:
                self.countdowns.arm(account, DCP_PRODUCT, self.windows.get(account, DEFAULT_WINDOW_S))

    def _lapse(self, account: str, product: str) -> None:
        canceled = cancel_open(self.d.engine, account, list(self.d.engine.instruments), reason=DCP_CANCEL_REASON)
        self.log.record("lapse", account, product, processed=True, canceled=canceled)

    # ------------------------------------------------------------------ routes

    async def _private(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        account, params = await self.d.signer.signed_rest(request)
        request[HDR_KEY] = self.d.limits.charge(account, request.path)
        return account, params

    async def cancel_all(self, request: web.Request) -> web.StreamResponse:
        d = self.d
        account, params = await self._private(request)
        d.orders.check_category(params)
        symbols = d.orders.symbols(params)
        scope = text(params.get("symbol")) or text(params.get("baseCoin")) or text(params.get("settleCoin"))
        order_filter = text(params.get("orderFilter")) or ""
        if order_filter not in ("", "Order", "OpenOrder", "StopOrder", "tpslOrder"):
            raise param_error("orderFilter invalid")
        fault = d.venue.take_fault("cancel_all", transport="rest", symbol=text(params.get("symbol")) or None)
        if fault is not None and not fault.executes:
            self.log.record("cancel_all", account, scope, processed=False, fault=fault)
            return await rest_answer(d.rest_faults, request, fault, d.payloads.ok(request, {}))
        canceled = [] if order_filter in ("StopOrder", "tpslOrder") else cancel_open(
            d.engine, account, symbols, limit=CANCEL_ALL_LIMIT
        )  # fmt: skip
        self.log.record("cancel_all", account, scope, processed=True, canceled=canceled, fault=fault)
        listing = [{"orderId": o.order_id, "orderLinkId": link_id(o)} for o in canceled]
        normal = d.payloads.ok(request, {"list": listing, "success": "1"})
        return await rest_answer(d.rest_faults, request, fault, normal)

    async def set_dcp(self, request: web.Request) -> web.StreamResponse:
        d = self.d
        account, params = await self._private(request)
        product = text(params.get("product")) or "OPTIONS"
        if product not in _PRODUCTS:
            raise param_error("product invalid")
        window = read_int(params, "timeWindow")
        if window is None:
            raise param_error("timeWindow is required")
        if not 3 <= window <= 300:
            raise param_error("timeWindow must be in [3, 300]")
        if not d.state.dcp_enabled:
            raise ApiError(10005, "DCP is not enabled for this account; contact your account manager")
        fault = d.venue.take_fault("dcp", transport="rest")
        executes = fault is None or fault.executes
        if executes and product == DCP_PRODUCT:
            self.windows[account] = window
        self.log.record("arm", account, product, processed=executes, fault=fault, seconds=float(window))
        return await rest_answer(d.rest_faults, request, fault, d.payloads.reply(request, 0, "success"))

    async def query_dcp(self, request: web.Request) -> web.StreamResponse:
        d = self.d
        account, _ = await self._private(request)
        infos = []
        if d.state.dcp_enabled:
            window = self.windows.get(account, DEFAULT_WINDOW_S)
            infos.append({"product": DCP_PRODUCT, "dcpStatus": "ON", "timeWindow": str(window)})
        return d.payloads.ok(request, {"dcpInfos": infos})


def routes(switches: BybitSwitches, app: web.Application) -> None:
    d = switches.d

    def ep(
        method: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return endpoint(d, lambda _d, request: method(request))

    app.router.add_post("/v5/order/cancel-all", ep(switches.cancel_all))
    app.router.add_post("/v5/order/disconnected-cancel-all", ep(switches.set_dcp))
    app.router.add_get("/v5/account/query-dcp-info", ep(switches.query_dcp))
