"""Binance order operations shared by REST and the WS API: place, cancel, query, history and trades.

Parameters are checked the way the venue checks them (codes in ``errors.py``), then handed to
the ``MatchingEngine``; every create and cancel goes through ``SimVenue.write`` (fault plan and
ground truth) and comes back as its *normal* answer (HTTP status, body) plus the fault, which
the transport then applies.
"""

from __future__ import annotations

import contextlib
import secrets
from decimal import Decimal
from typing import Any, Literal

from venues.sim.binance.bands import check_percent_price
from venues.sim.binance.errors import (
    CLIENT_ID_RE,
    ApiError,
    engine_error,
    mandatory,
    read_decimal,
    read_int,
    read_truthy,
)
from venues.sim.binance.payloads import TIF_IN, Payloads
from venues.sim.binance.state import DAY_MS, BinanceState
from venues.sim.engine import EngineReject, SimInstrument, SimOrder
from venues.sim.faults import Fault
from venues.sim.reads import WEEK_MS, time_window
from venues.sim.venue import SimVenue, WriteResult

__all__ = ["Orders", "WriteAnswer"]

CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})

# (HTTP status, body, fault): a write's normal answer and the fault that may replace it.
WriteAnswer = tuple[int, dict[str, Any], Fault | None]


class Orders:
    """One venue's order book as Binance requests see it."""

    def __init__(self, venue: SimVenue[BinanceState], payloads: Payloads):
        self.venue = venue
        self.engine = venue.engine
        self.state = venue.state
        self.payloads = payloads

    def instrument(self, symbol: str | None) -> SimInstrument:
        if not symbol:
            raise mandatory("symbol")
        inst = self.engine.instruments.get(symbol)
        if inst is None:
            raise ApiError(-1121)
        return inst

    def place(self, account: str, params: dict[str, str]) -> SimOrder:
        """Validate Binance params and create the order (raises ``ApiError``)."""
        inst = self.instrument(params.get("symbol"))
        side = params.get("side")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        otype = params.get("type")
        if not otype:
            raise mandatory("type")
        if otype in CONDITIONAL_TYPES:
            raise ApiError(-4120)
        if otype not in ("LIMIT", "MARKET"):
            raise ApiError(-1116, "Invalid orderType.")
        position_side = params.get("positionSide", "BOTH")
        if position_side != "BOTH":
            raise ApiError(-4061)
        resp_type = params.get("newOrderRespType", "ACK")
        if resp_type not in ("ACK", "RESULT"):
            raise ApiError(-1102, "Parameter 'newOrderRespType' was malformed: it must be ACK or RESULT.")
        qty = read_decimal(params, "quantity", required=True)
        assert qty is not None
        if qty <= 0:
            raise ApiError(-4003)
        price: Decimal | None = None
        tif = "GTC"
        if otype == "LIMIT":
            raw_tif = params.get("timeInForce")
            if not raw_tif:
                raise mandatory("timeInForce")
            if raw_tif not in TIF_IN:
                raise ApiError(-1115, "Invalid timeInForce.")
            tif = TIF_IN[raw_tif]
            price = read_decimal(params, "price", required=True)
            assert price is not None
            if price <= 0:
                raise ApiError(-4001, "Price less than 0.")
            check_percent_price(self.state, inst, side, price)
        elif params.get("price"):
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        reduce_only = read_truthy(params["reduceOnly"], "reduceOnly") if params.get("reduceOnly") else False
        cid = params.get("newClientOrderId") or ("sim" + secrets.token_hex(10))
        if not CLIENT_ID_RE.fullmatch(cid):
            raise ApiError(-4015)
        try:
            return self.engine.place(
                account,
                symbol=inst.symbol,
                side=side,  # type: ignore[arg-type]
                type=otype,  # type: ignore[arg-type]
                qty=qty,
                price=price,
                tif=tif,  # type: ignore[arg-type]
                reduce_only=reduce_only,
                client_order_id=cid,
            )
        except EngineReject as exc:
            raise engine_error(exc, inst) from exc

    def lookup(self, account: str, params: dict[str, str], *, respect_visibility: bool = True) -> SimOrder | None:
        inst = self.instrument(params.get("symbol"))
        order_id = read_int(params, "orderId")
        cid = params.get("origClientOrderId") or None
        if order_id is None and cid is None:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return self.engine.find(
            account,
            inst.symbol,
            order_id=str(order_id) if order_id is not None else None,
            client_order_id=cid if order_id is None else None,
            respect_visibility=respect_visibility,
        )

    def retained(self, order: SimOrder) -> bool:
        """Query/allOrders forget cancelled/expired orders without fills after 3 days (§5 QO)."""
        if order.status in ("CANCELED", "EXPIRED", "REJECTED") and not order.filled_qty:
            return self.state.server_ms() - order.created_ms <= self.state.retention_ms
        return True

    def cancel(self, account: str, params: dict[str, str]) -> SimOrder:
        order = self.lookup(account, params, respect_visibility=False)
        if order is None or not order.is_open:
            raise ApiError(-2011)
        try:
            return self.engine.cancel(account, order.symbol, order_id=order.order_id)
        except EngineReject as exc:
            raise engine_error(exc) from exc

    def query(self, account: str, params: dict[str, str], *, open_only: bool = False) -> SimOrder:
        order = self.lookup(account, params)
        if order is None or not self.retained(order) or (open_only and not order.is_open):
            raise ApiError(-2013)
        return order

    def cid_of(self, account: str, params: dict[str, str]) -> str | None:
        """The client order id a cancel names (by id or by looking the order up), for fault matching."""
        if params.get("origClientOrderId"):
            return params["origClientOrderId"]
        with contextlib.suppress(ApiError):
            order = self.lookup(account, params, respect_visibility=False)
            if order is not None:
                return order.client_order_id
        return None

    @staticmethod
    def window(params: dict[str, str], now: int) -> tuple[int, int]:
        start, end = time_window(read_int(params, "startTime"), read_int(params, "endTime"), now)
        if end < start:
            raise ApiError(-1102, "Parameter 'startTime' must be less than 'endTime'.")
        if end - start > WEEK_MS:
            raise ApiError(-1127, "More than 7 days between startTime and endTime.")
        return start, end

    @staticmethod
    def limit(params: dict[str, str]) -> int:
        limit = read_int(params, "limit")
        if limit is None:
            return 500
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        return limit

    def all_orders(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        inst = self.instrument(params.get("symbol"))
        limit = self.limit(params)
        from_id = read_int(params, "orderId")
        has_times = params.get("startTime") or params.get("endTime")
        if from_id is not None and not has_times:
            start, end = 0, self.state.server_ms() + DAY_MS
        else:
            start, end = self.window(params, self.state.server_ms())
        orders = [
            o
            for o in self.engine.history(account, inst.symbol, start, end)
            if self.retained(o) and (from_id is None or o.numeric_id >= from_id)
        ]
        chosen = orders[:limit] if (from_id is not None or params.get("startTime")) else orders[-limit:]
        return [self.payloads.order_json(o, kind="read") for o in chosen]

    def user_trades(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        inst = self.instrument(params.get("symbol"))
        limit = self.limit(params)
        order_id = read_int(params, "orderId")
        from_id = read_int(params, "fromId")
        has_times = params.get("startTime") or params.get("endTime")
        if from_id is not None and has_times:
            raise ApiError(-1102, "Parameter 'fromId' can not be sent with 'startTime' or 'endTime'.")
        if from_id is not None or (order_id is not None and not has_times):
            start, end = 0, self.state.server_ms() + DAY_MS
        else:
            start, end = self.window(params, self.state.server_ms())
        pairs = [
            (o, f)
            for o, f in self.engine.trades(account, inst.symbol, start, end)
            if (order_id is None or o.numeric_id == order_id) and (from_id is None or f.trade_id >= from_id)
        ]
        chosen = pairs[:limit] if (from_id is not None or params.get("startTime")) else pairs[-limit:]
        return [self.payloads.trade_json(o, f) for o, f in chosen]

    # ------------------------------------------------------------------ account (positions, balances)

    # ------------------------------------------------------------------ writes (REST and WS)

    def create(self, account: str, params: dict[str, str], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Place once, consulting the fault plan."""
        result = self.venue.write(
            "create", transport, lambda: self.place(account, params),
            client_order_id=params.get("newClientOrderId") or None, order_id=None, symbol=params.get("symbol"),
            rejection=ApiError,
        )  # fmt: skip
        return self._answer(result, ack=params.get("newOrderRespType", "ACK") != "RESULT")

    def cancel_write(self, account: str, params: dict[str, str], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Cancel once, consulting the fault plan."""
        result = self.venue.write(
            "cancel", transport, lambda: self.cancel(account, params),
            client_order_id=self.cid_of(account, params), order_id=params.get("orderId") or None,
            symbol=params.get("symbol"), rejection=ApiError,
        )  # fmt: skip
        return self._answer(result, ack=False)

    def _answer(self, result: WriteResult, *, ack: bool) -> WriteAnswer:
        if isinstance(result.error, ApiError):
            return result.error.status, {"code": result.error.code, "msg": result.error.msg}, result.fault
        if result.order is None:
            return 200, {}, result.fault
        return 200, self.payloads.order_json(result.order, kind="write", ack=ack), result.fault
