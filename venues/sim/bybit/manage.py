"""Bybit order management beyond one create or cancel: amend (``POST /v5/order/amend``, trade-WS ``order.amend``)
and the batch endpoints (``/v5/order/create-batch``, ``/v5/order/cancel-batch`` and their trade-WS ops), as
``shared/venues/bybit-v5-wave2.md`` §2-§3 record them.

An amend is acknowledged like a create (``{"orderId", "orderLinkId"}``); its effect shows on the
``order`` topic. A batch answers two parallel lists, ``result.list`` and ``retExtInfo.list``, one
entry per item in request order, with ``orderId: ""`` for a failed item. Every amend goes through
``SimVenue.write("amend", ...)`` and every batch through ``SimVenue.write_batch``.
"""

from __future__ import annotations

from typing import Any, Literal

from venues.sim.bybit.bands import within_band
from venues.sim.bybit.errors import ApiError, engine_error, param_error, read_decimal, text
from venues.sim.bybit.orders import Orders, WriteAnswer, _answer
from venues.sim.bybit.payloads import link_id
from venues.sim.engine import EngineReject, RejectReason, SimOrder, now_ms
from venues.sim.faults import Fault
from venues.sim.venue import BatchItem, WriteResult

__all__ = ["MAX_BATCH", "BatchAnswer", "Management"]

MAX_BATCH = 20  # linear (BP, BA, BC)

_AMEND_CODES: dict[RejectReason, tuple[int, str]] = {
    RejectReason.UNKNOWN_ORDER: (110001, "order not exists or too late to replace"),
    RejectReason.ORDER_CLOSED: (110001, "order not exists or too late to replace"),
    RejectReason.QTY_BELOW_FILLED: (110064, "The modified contract quantity cannot be less than or equal to the "
                                            "filled quantity."),
    RejectReason.NOT_MODIFIED: (10001, "params error: the order is not modified"),
    RejectReason.NOT_LIMIT: (10001, "params error: only limit orders can be amended"),
}  # fmt: skip

# (retCode, retMsg, result, retExtInfo, fault) of one batch request.
BatchAnswer = tuple[int, str, dict[str, Any], dict[str, Any], Fault | None]


class Management:
    """Amends and batches for one venue's ``Orders``."""

    def __init__(self, orders: Orders):
        self.orders = orders
        self.venue = orders.venue
        self.engine = orders.engine

    def amend(self, account: str, params: dict[str, Any]) -> SimOrder:
        """Validate an amend (qty and/or price; only what changes) and apply it (raises ``ApiError``)."""
        self.orders.check_category(params)
        inst = self.orders.instrument(params.get("symbol"))
        qty = read_decimal(params, "qty", required=False)
        price = read_decimal(params, "price", required=False)
        if qty is None and price is None:
            raise param_error("qty or price is required")
        order = self.orders.lookup(account, params, respect_visibility=False)
        if order is None:
            raise ApiError(*_AMEND_CODES[RejectReason.UNKNOWN_ORDER])
        price = within_band(self.orders.state, account, inst, order.side, price)
        try:
            return self.engine.amend(account, inst.symbol, order_id=order.order_id, qty=qty, price=price)
        except EngineReject as exc:
            found = _AMEND_CODES.get(exc.reason)
            raise (ApiError(*found) if found else engine_error(exc, inst)) from exc

    def amend_write(self, account: str, params: dict[str, Any], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Amend once, consulting the fault plan (operation "amend")."""
        result = self.venue.write(
            "amend", transport, lambda: self.amend(account, params),
            client_order_id=self.orders.cid_of(account, params), order_id=text(params.get("orderId")) or None,
            symbol=text(params.get("symbol")) or None, rejection=ApiError, recorded_id=lambda o: link_id(o) or None,
        )  # fmt: skip
        return _answer(result)

    def _items(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.orders.check_category(params)
        items = params.get("request")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise param_error("request must be a non-empty list of orders")
        if len(items) > MAX_BATCH:
            raise param_error(f"batch size must be at most {MAX_BATCH}")
        return [{"category": "linear", **item} for item in items]

    def batch_create(self, account: str, params: dict[str, Any], transport: Literal["rest", "ws"]) -> BatchAnswer:
        """create-batch (BP): each item placed as ``/v5/order/create`` would; answered per item, in order."""
        items = self._items(params)
        fault, results = self.venue.write_batch(
            "create",
            transport,
            [BatchItem(text(i.get("orderLinkId")) or None, None, _placer(self.orders, account, i)) for i in items],
            symbol=text(items[0].get("symbol")) or None,
            rejection=ApiError,
            recorded_id=lambda o: link_id(o) or None,
        )
        return _batch_answer(items, results, fault, create=True)

    def batch_cancel(self, account: str, params: dict[str, Any], transport: Literal["rest", "ws"]) -> BatchAnswer:
        """cancel-batch (BC): each item canceled as ``/v5/order/cancel`` would; answered per item, in order."""
        items = self._items(params)
        fault, results = self.venue.write_batch(
            "cancel",
            transport,
            [BatchItem(self.orders.cid_of(account, i), _oid(i), _canceler(self.orders, account, i)) for i in items],
            symbol=text(items[0].get("symbol")) or None,
            rejection=ApiError,
            recorded_id=lambda o: link_id(o) or None,
        )
        return _batch_answer(items, results, fault, create=False)


def _oid(item: dict[str, Any]) -> str | None:
    return text(item.get("orderId")) or None


def _placer(orders: Orders, account: str, item: dict[str, Any]) -> Any:
    return lambda: orders.place(account, item)


def _canceler(orders: Orders, account: str, item: dict[str, Any]) -> Any:
    return lambda: orders.cancel(account, item)


def _batch_answer(
    items: list[dict[str, Any]], results: list[WriteResult], fault: Fault | None, *, create: bool
) -> BatchAnswer:
    listing: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    for item, result in zip(items, results, strict=True):
        entry: dict[str, Any] = {"category": "linear", "symbol": text(item.get("symbol"))}
        if result.order is not None:
            entry.update(orderId=result.order.order_id, orderLinkId=link_id(result.order))
            if create:
                entry["createAt"] = str(now_ms())
            codes.append({"code": 0, "msg": "OK"})
        else:
            entry.update(orderId="", orderLinkId=text(item.get("orderLinkId")))
            if create:
                entry["createAt"] = ""
            err = result.error if isinstance(result.error, ApiError) else ApiError(10016)
            codes.append({"code": err.code, "msg": err.msg})
        listing.append(entry)
    return 0, "OK", {"list": listing}, {"list": codes}, fault
