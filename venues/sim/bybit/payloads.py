"""Bybit JSON shapes: the ``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` envelope, orders, executions,
instruments and tickers, shared by REST, the trade socket and the private stream.

The venue's JSON types: ``retCode``/``time``/``positionIdx``/``seq`` numbers, every decimal and
every ``createdTime``/``updatedTime``/``execTime`` a string. A create without ``orderLinkId`` is
shown with ``orderLinkId: ""`` (the engine holds a private ``~auto-...`` id for it).
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from venues.sim.account import venue_created
from venues.sim.bybit.bands import protection_price
from venues.sim.bybit.errors import ApiError
from venues.sim.bybit.limits import HDR_KEY
from venues.sim.bybit.state import BybitState
from venues.sim.engine import (
    DCP_CANCEL_REASON,
    POST_ONLY_CANCEL_REASON,
    MatchingEngine,
    OrderKind,
    Side,
    SimFill,
    SimInstrument,
    SimOrder,
    Tif,
)
from venues.sim.wire import fmt as _fmt
from venues.sim.wire import fmt_free as _fmt_free
from venues.sim.wire import places as _places

__all__ = [
    "AUTO_LINK_PREFIX",
    "SIDE_IN",
    "STATUS_IN",
    "STATUS_OUT",
    "TIF_IN",
    "TYPE_IN",
    "Payloads",
    "link_id",
    "uid",
]

AUTO_LINK_PREFIX = "~auto-"  # internal client ids for creates without orderLinkId (never valid on the wire)
EXEC_NS = uuid.UUID("6f1c1f9e-3f8e-4a53-9d3c-6a1f1e0b7a10")

SIDE_IN: dict[str, Side] = {"Buy": "BUY", "Sell": "SELL"}
SIDE_OUT = {"BUY": "Buy", "SELL": "Sell"}
TYPE_IN: dict[str, OrderKind] = {"Limit": "LIMIT", "Market": "MARKET"}
TYPE_OUT = {"LIMIT": "Limit", "MARKET": "Market"}
TIF_IN: dict[str, Tif] = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "POST_ONLY"}
TIF_OUT = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "PostOnly"}
STATUS_OUT = {
    "NEW": "New",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "FILLED": "Filled",
    "CANCELED": "Cancelled",
    "EXPIRED": "Cancelled",
    "REJECTED": "Rejected",
}
STATUS_IN = {"New", "PartiallyFilled", "Filled", "Cancelled", "Rejected"}


# A venue-created order (venues/sim/account.py: a liquidation taken over, an ADL) and its fills (wave2 §5).
_CREATE_TYPES = {None: "CreateByUser", "liq": "CreateByTakeOver_PassThrough", "adl": "CreateByAdl_PassThrough"}
_EXEC_TYPES = {None: "Trade", "liq": "BustTrade", "adl": "AdlTrade"}


def link_id(order: SimOrder) -> str:
    """The ``orderLinkId`` shown for an order ("" for creates that sent none)."""
    cid = order.client_order_id
    return "" if cid.startswith(AUTO_LINK_PREFIX) else cid


def uid(account: str) -> int:
    """A stable numeric user id for an account (execution message ids)."""
    return int(hashlib.sha1(account.encode()).hexdigest()[:8], 16)


class Payloads:
    """Renders one venue's engine state as Bybit JSON."""

    def __init__(self, engine: MatchingEngine, state: BybitState):
        self.engine = engine
        self.state = state

    def reply(
        self,
        request: web.Request,
        code: int,
        msg: str,
        result: Any = None,
        *,
        headers: dict[str, str] | None = None,
        ext: dict[str, Any] | None = None,
    ) -> web.Response:
        """The REST envelope (HTTP 200, business errors included) with the request's limit headers."""
        payload = {
            "retCode": code,
            "retMsg": msg,
            "result": result if result is not None else {},
            "retExtInfo": ext if ext is not None else {},
            "time": self.state.server_ms(),
        }
        resp = web.Response(body=orjson.dumps(payload), status=200, content_type="application/json")
        resp.headers.update(headers if headers is not None else request.get(HDR_KEY) or {})
        return resp

    def ok(self, request: web.Request, result: Any) -> web.Response:
        return self.reply(request, 0, "OK", result)

    def error(self, request: web.Request, err: ApiError) -> web.Response:
        return self.reply(request, err.code, err.msg, headers=err.headers)

    def order_json(self, order: SimOrder, *, stream: bool = False) -> dict[str, Any]:
        """The order object shared by realtime / history / the ``order`` topic (§4, WO)."""
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        price = order.price if order.price is not None else Decimal(0)
        if order.type == "MARKET":  # Bybit shows a Market order's slippage-protection bound as its price
            price = protection_price(self.state, inst, order.side, order.avg_price or inst.mark_price)
        leaves = order.leaves_qty
        fees = sum((f.commission for f in order.fills), Decimal(0))
        if order.status == "CANCELED" and order.cancel_reason == POST_ONLY_CANCEL_REASON:
            cancel_type, reject_reason = "UNKNOWN", POST_ONLY_CANCEL_REASON  # wave2 §6: acked, then canceled
        elif order.status == "CANCELED":
            by_dcp = order.cancel_reason == DCP_CANCEL_REASON
            cancel_type, reject_reason = "CancelByDCP" if by_dcp else "CancelByUser", "EC_NoError"
        elif order.status == "EXPIRED":
            cancel_type = "UNKNOWN"
            reject_reason = "EC_CancelForNoFullFill" if order.tif == "FOK" else "EC_NoImmediateQtyToFill"
        else:
            cancel_type, reject_reason = "UNKNOWN", "EC_NoError"
        out: dict[str, Any] = {
            "orderId": order.order_id,
            "orderLinkId": link_id(order),
            "blockTradeId": "",
            "symbol": order.symbol,
            "price": _fmt(price, pp),
            "qty": _fmt(order.qty, qp),
            "side": SIDE_OUT[order.side],
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": STATUS_OUT[order.status],
            "createType": _CREATE_TYPES[venue_created(order.client_order_id)],
            "cancelType": cancel_type,
            "rejectReason": reject_reason,
            "avgPrice": _fmt_free(order.avg_price, pp) if order.filled_qty else "0",
            "leavesQty": _fmt(leaves, qp),
            "leavesValue": _fmt_free(leaves * price),
            "cumExecQty": _fmt(order.filled_qty, qp),
            "cumExecValue": _fmt_free(order.cum_quote),
            "cumExecFee": _fmt_free(fees),
            "timeInForce": TIF_OUT[order.tif] if order.type == "LIMIT" else "IOC",
            "orderType": TYPE_OUT[order.type],
            "stopOrderType": "UNKNOWN",
            "orderIv": "",
            "triggerPrice": _fmt(Decimal(0), pp),
            "takeProfit": _fmt(Decimal(0), pp),
            "stopLoss": _fmt(Decimal(0), pp),
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "UNKNOWN",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.updated_ms),
            "cumFeeDetail": {self.engine.instruments[order.symbol].quote: _fmt_free(fees)} if fees else {},
        }
        if stream:
            out.update(
                {
                    "category": "linear",
                    "closedPnl": "0",
                    "feeCurrency": "",
                    "slippageToleranceType": "UNKNOWN",
                    "slippageTolerance": "0",
                    "rpiTakerAccess": False,
                    "rpiMatchedQty": "0",
                }
            )
        return out

    def execution_json(self, order: SimOrder, fill: SimFill, *, stream: bool = False) -> dict[str, Any]:
        """One execution item (§4 EX, WE)."""
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        done = Decimal(0)
        for f in order.fills:
            done += f.qty
            if f.trade_id == fill.trade_id:
                break
        out: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderLinkId": link_id(order),
            "side": SIDE_OUT[order.side],
            "orderPrice": _fmt(order.price if order.price is not None else Decimal(0), pp),
            "orderQty": _fmt(order.qty, qp),
            "leavesQty": _fmt(max(Decimal(0), order.qty - done), qp),
            "createType": _CREATE_TYPES[venue_created(order.client_order_id)],
            "orderType": TYPE_OUT[order.type],
            "stopOrderType": "UNKNOWN",
            "execFee": _fmt_free(fill.commission),
            "execId": str(uuid.uuid5(EXEC_NS, f"{order.order_id}:{fill.trade_id}")),
            "execPrice": _fmt_free(fill.price, pp),
            "execQty": _fmt(fill.qty, qp),
            "execType": _EXEC_TYPES[venue_created(order.client_order_id)],
            "execValue": _fmt_free(fill.price * fill.qty),
            "execTime": str(fill.time_ms),
            "feeCurrency": inst.quote,
            "isMaker": fill.maker,
            "feeRate": _fmt_free(self.engine.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": _fmt_free(inst.mark_price, pp),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "seq": fill.trade_id,
            "extraFees": "",
        }
        if stream:
            out.update({"category": "linear", "isLeverage": "0", "execPnl": "0"})
        return out

    def instrument_json(self, inst: SimInstrument) -> dict[str, Any]:
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        market_max = inst.market_max_qty if inst.market_max_qty is not None else inst.max_qty
        return {
            "symbol": inst.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "launchTime": "1584230400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(pp),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "riskParameters": {  # the limit-price band (bands.py)
                "priceLimitRatioX": _fmt_free(self.state.price_limit_ratio_x),
                "priceLimitRatioY": _fmt_free(self.state.price_limit_ratio_y),
            },
            "priceFilter": {
                "minPrice": _fmt(inst.min_price, pp),
                "maxPrice": _fmt(inst.max_price, pp),
                "tickSize": _fmt(inst.tick_size, pp),
            },
            "lotSizeFilter": {
                "maxOrderQty": _fmt(inst.max_qty, qp),
                "minOrderQty": _fmt(inst.min_qty, qp),
                "qtyStep": _fmt(inst.step_size, qp),
                "postOnlyMaxOrderQty": _fmt(inst.max_qty, qp),
                "maxMktOrderQty": _fmt(market_max, qp),
                "minNotionalValue": _fmt_free(inst.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": inst.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "displayName": "",
        }

    def ticker_json(self, inst: SimInstrument) -> dict[str, Any]:
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        mark = _fmt_free(inst.mark_price, pp)
        now = self.state.server_ms()
        return {
            "symbol": inst.symbol,
            "lastPrice": mark,
            "indexPrice": mark,
            "markPrice": mark,
            "prevPrice24h": mark,
            "price24hPcnt": "0",
            "highPrice24h": mark,
            "lowPrice24h": mark,
            "prevPrice1h": mark,
            "openInterest": "0",
            "openInterestValue": "0",
            "turnover24h": "0",
            "volume24h": "0",
            "fundingRate": "0.0001",
            "nextFundingTime": str((now // 28_800_000 + 1) * 28_800_000),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "ask1Size": _fmt(inst.min_qty, qp),
            "bid1Price": mark,
            "ask1Price": mark,
            "bid1Size": _fmt(inst.min_qty, qp),
            "basis": "",
        }
