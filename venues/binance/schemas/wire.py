"""Binance USD-M payloads under the venue's own field names (docs/venues/binance-usdm.md §5, §7).

``TypedDict``s, for reading and type-checking only: parsers take ``Mapping[str, Any]`` because
recordings stringify numbers (``"orderId": "664082074"``) and the venue sends JSON numbers.
Odd fields carry a comment.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["OrderPayload", "OrderTradeUpdate", "OrderTradeUpdateOrder", "TradePayload"]


class OrderPayload(TypedDict, total=False):
    """POST/DELETE/GET ``/fapi/v1/order``, ``openOrder(s)``, ``allOrders`` items, WS ``result``."""

    orderId: int
    symbol: str
    status: str  # NEW PARTIALLY_FILLED FILLED CANCELED REJECTED EXPIRED EXPIRED_IN_MATCH
    clientOrderId: str
    price: str
    avgPrice: str
    origQty: str
    executedQty: str
    cumQty: str  # writes only
    cumQuote: str
    timeInForce: str  # GTX = post-only
    type: str
    reduceOnly: bool
    closePosition: bool
    side: str
    positionSide: str
    stopPrice: str
    workingType: str
    priceProtect: bool
    origType: str
    priceMatch: str
    selfTradePreventionMode: str
    goodTillDate: int
    time: int  # reads only: creation time
    updateTime: int


class TradePayload(TypedDict, total=False):
    """GET ``/fapi/v1/userTrades`` item."""

    symbol: str
    id: int
    orderId: int
    side: str
    price: str
    qty: str
    realizedPnl: str
    marginAsset: str
    quoteQty: str
    commission: str
    commissionAsset: str
    time: int
    positionSide: str
    buyer: bool
    maker: bool


OrderTradeUpdateOrder = TypedDict(  # noqa: UP013 - one-letter wire keys read best as a mapping
    "OrderTradeUpdateOrder",
    {
        "s": str,  # symbol
        "c": str,  # client order id
        "S": str,  # side
        "o": str,  # order type
        "f": str,  # time in force
        "q": str,  # original quantity
        "p": str,  # original price
        "ap": str,  # average price
        "sp": str,  # stop price
        "x": str,  # execution type: NEW CANCELED CALCULATED EXPIRED TRADE AMENDMENT
        "X": str,  # order status
        "i": int,  # order id
        "l": str,  # last filled quantity
        "z": str,  # cumulative filled quantity
        "L": str,  # last filled price
        "N": str,  # commission asset (absent/null on non-trade events)
        "n": str,  # commission
        "T": int,  # order trade time
        "t": int,  # trade id (0 when none)
        "m": bool,  # maker?
        "R": bool,  # reduce only
        "ps": str,  # position side
        "rp": str,  # realized profit
        "er": str,  # expiry reason (since 2025-10-23)
    },
    total=False,
)


class OrderTradeUpdate(TypedDict, total=False):
    e: str  # "ORDER_TRADE_UPDATE"
    E: int  # event time
    T: int  # transaction time
    o: OrderTradeUpdateOrder
