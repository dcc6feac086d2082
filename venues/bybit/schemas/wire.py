"""Bybit v5 linear payloads under the venue's own field names (docs/venues/bybit-v5.md §4-§6).

``TypedDict``s for reading and type-checking only: parsers take ``Mapping[str, Any]`` because
recordings stringify ``retCode``/``time`` and the venue sends numbers there.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["Envelope", "ExecutionPayload", "OrderAck", "OrderPayload", "StreamMessage", "TradeWsAnswer"]


class Envelope(TypedDict, total=False):
    retCode: int  # 0 = success; business errors arrive with HTTP 200 and a non-zero code
    retMsg: str
    result: Any
    retExtInfo: dict[str, Any]
    time: int


class OrderAck(TypedDict):
    """``/v5/order/create`` and ``/cancel`` result, WS ``data``: an acknowledgement, not a state."""

    orderId: str
    orderLinkId: str


class OrderPayload(TypedDict, total=False):
    """realtime / history list item and ``order`` topic item."""

    orderId: str
    orderLinkId: str
    symbol: str
    side: str  # Buy | Sell
    orderType: str  # Limit | Market
    price: str
    qty: str
    timeInForce: str  # GTC IOC FOK PostOnly RPI
    orderStatus: str  # New PartiallyFilled Untriggered Filled Cancelled Rejected Deactivated ...
    cancelType: str
    rejectReason: str
    avgPrice: str
    leavesQty: str
    cumExecQty: str
    cumExecValue: str
    cumExecFee: str  # deprecated for linear in favour of cumFeeDetail
    reduceOnly: bool
    positionIdx: int
    createdTime: str  # ms as a string
    updatedTime: str


class ExecutionPayload(TypedDict, total=False):
    symbol: str
    orderId: str
    orderLinkId: str
    side: str
    orderPrice: str
    orderQty: str
    leavesQty: str
    orderType: str
    execId: str
    execPrice: str
    execQty: str
    execFee: str
    execType: str  # Trade, Funding, ...
    execValue: str
    execTime: str  # ms as a string
    isMaker: bool
    feeRate: str
    seq: int


class TradeWsAnswer(TypedDict, total=False):
    reqId: str
    retCode: int
    retMsg: str
    op: str
    data: OrderAck
    retExtInfo: dict[str, Any]
    header: dict[str, str]
    connId: str


class StreamMessage(TypedDict, total=False):
    id: str
    topic: str  # order | execution (or order.linear ...)
    creationTime: int
    data: list[dict[str, Any]]
