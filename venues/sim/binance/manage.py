"""Binance order management beyond one create or cancel: modify (``PUT /fapi/v1/order``, WS ``order.modify``),
the amendment history (``GET /fapi/v1/orderAmendment``) and the batch endpoints (``POST`` / ``DELETE
/fapi/v1/batchOrders``), as ``shared/venues/binance-usdm-wave2.md`` §2-§3 records them.

Every modify goes through ``SimVenue.write("amend", ...)`` and every batch through
``SimVenue.write_batch`` (one fault for the whole request, each item in ground truth); answers come
back as the *normal* answer plus the fault, which the transport applies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import orjson

from venues.sim.binance.bands import check_percent_price
from venues.sim.binance.errors import ApiError, engine_error, mandatory, read_decimal, read_int, ws_param_text
from venues.sim.binance.orders import Orders, WriteAnswer
from venues.sim.engine import EngineReject, RejectReason, SimOrder
from venues.sim.venue import BatchItem, WriteResult
from venues.sim.wire import fmt, places

__all__ = ["MAX_BATCH_CANCELS", "MAX_BATCH_ORDERS", "Management"]

MAX_BATCH_ORDERS = 5  # POST /fapi/v1/batchOrders (PB)
MAX_BATCH_CANCELS = 10  # DELETE /fapi/v1/batchOrders (DB)

# A modify's engine refusals that Binance answers with its own codes (EC); the rest map as creates do.
_AMEND_CODES: dict[RejectReason, tuple[int, str]] = {
    RejectReason.UNKNOWN_ORDER: (-2013, "Order does not exist."),
    RejectReason.ORDER_CLOSED: (-2013, "Order does not exist."),
    RejectReason.NOT_LIMIT: (-5025, "Only limit order is supported."),
    RejectReason.NOT_MODIFIED: (-5027, "No need to modify the order."),
}

BatchAnswer = tuple[int, Any, Any]  # (HTTP status, body: a list of items or one error object, fault)


class Management:
    """Modify, amendment history and batches for one venue's ``Orders``."""

    def __init__(self, orders: Orders):
        self.orders = orders
        self.venue = orders.venue
        self.engine = orders.engine
        self.payloads = orders.payloads

    # ------------------------------------------------------------------ modify

    def amend(self, account: str, params: dict[str, str]) -> SimOrder:
        """Validate a modify (quantity and price both required, §2) and apply it (raises ``ApiError``)."""
        inst = self.orders.instrument(params.get("symbol"))
        side = params.get("side")
        if not side:
            raise mandatory("side")
        qty = read_decimal(params, "quantity", required=True)
        price = read_decimal(params, "price", required=True)
        assert qty is not None and price is not None
        order = self.orders.lookup(account, params, respect_visibility=False)
        if order is None or not order.is_open:
            raise ApiError(-2013)
        if side != order.side:
            raise ApiError(-1102, "Parameter 'side' does not match the order.")
        check_percent_price(self.orders.state, inst, side, price)  # refused: the order stays as it was
        if order.status == "PARTIALLY_FILLED" and qty <= order.filled_qty:
            # Documented (MO): such a modify cancels the order rather than being refused.
            return self.engine.cancel(account, order.symbol, order_id=order.order_id)
        try:
            return self.engine.amend(account, inst.symbol, order_id=order.order_id, qty=qty, price=price)
        except EngineReject as exc:
            found = _AMEND_CODES.get(exc.reason)
            raise (ApiError(*found) if found else engine_error(exc, inst)) from exc

    def amend_write(self, account: str, params: dict[str, str], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Modify once, consulting the fault plan (operation "amend")."""
        result = self.venue.write(
            "amend", transport, lambda: self.amend(account, params),
            client_order_id=self.orders.cid_of(account, params), order_id=params.get("orderId") or None,
            symbol=params.get("symbol"), rejection=ApiError,
        )  # fmt: skip
        return _answer(self.payloads.order_json, result)

    def amendments(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /fapi/v1/orderAmendment (OA): the order's accepted modifies in the window, newest first."""
        inst = self.orders.instrument(params.get("symbol"))
        limit = read_int(params, "limit") or 50
        if not 1 <= limit <= 100:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        order = self.orders.lookup(account, params)
        if order is None:
            raise ApiError(-2013)
        start = read_int(params, "startTime") or 0
        end = read_int(params, "endTime") or 2**62
        pp, qp = places(inst.tick_size), places(inst.step_size)
        records = [a for a in self.engine.amendments.get(order.order_id, ()) if start <= a.time_ms <= end]
        out = []
        for a in reversed(records[-limit:] if len(records) > limit else records):
            out.append(
                {
                    "amendmentId": a.amendment_id,
                    "symbol": order.symbol,
                    "pair": order.symbol,
                    "orderId": order.numeric_id,
                    "clientOrderId": order.client_order_id,
                    "time": a.time_ms,
                    "amendment": {
                        "price": {"before": fmt(a.price_before or Decimal(0), pp),
                                  "after": fmt(a.price_after or Decimal(0), pp)},
                        "origQty": {"before": fmt(a.qty_before, qp), "after": fmt(a.qty_after, qp)},
                        "count": a.count,
                    },
                }
            )  # fmt: skip
        return out

    # ------------------------------------------------------------------ batches

    def batch_create(self, account: str, params: dict[str, str], count: Any) -> BatchAnswer:
        """POST /fapi/v1/batchOrders (PB): at most 5 items, run in order, answered in request order."""
        items = _json_list(params, "batchOrders")
        if not 1 <= len(items) <= MAX_BATCH_ORDERS:
            raise ApiError(-4082, "Invalid number of batch place orders.")
        texts = [{k: ws_param_text(v) for k, v in item.items()} if isinstance(item, dict) else {} for item in items]
        for _ in texts:
            count(account)
        fault, results = self.venue.write_batch(
            "create",
            "rest",
            [
                BatchItem(item.get("newClientOrderId") or None, None, _placer(self.orders, account, item))
                for item in texts
            ],
            symbol=texts[0].get("symbol") if texts else None,
            rejection=ApiError,
        )
        body = [
            _answer(self.payloads.order_json, r, ack=item.get("newOrderRespType", "ACK") != "RESULT")[1]
            for r, item in zip(results, texts, strict=True)
        ]
        return 200, body, fault

    def batch_cancel(self, account: str, params: dict[str, str]) -> BatchAnswer:
        """DELETE /fapi/v1/batchOrders (DB): ``orderIdList`` or ``origClientOrderIdList``, at most 10."""
        symbol = self.orders.instrument(params.get("symbol")).symbol
        if params.get("orderIdList"):
            keys = [("orderId", str(i)) for i in _json_list(params, "orderIdList")]
        elif params.get("origClientOrderIdList"):
            keys = [("origClientOrderId", str(c)) for c in _json_list(params, "origClientOrderIdList")]
        else:
            raise ApiError(-1102, "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty.")
        if not 1 <= len(keys) <= MAX_BATCH_CANCELS:
            raise ApiError(-4032, "Exceed maximum cancel order size.")
        per_item = [{"symbol": symbol, key: value} for key, value in keys]
        fault, results = self.venue.write_batch(
            "cancel",
            "rest",
            [
                BatchItem(self.orders.cid_of(account, i), i.get("orderId"), _canceler(self.orders, account, i))
                for i in per_item
            ],
            symbol=symbol,
            rejection=ApiError,
        )
        return 200, [_answer(self.payloads.order_json, r)[1] for r in results], fault


def _canceler(orders: Orders, account: str, item: dict[str, str]) -> Any:
    return lambda: orders.cancel(account, item)


def _placer(orders: Orders, account: str, item: dict[str, str]) -> Any:
    return lambda: orders.place(account, item)


def _json_list(params: dict[str, str], name: str) -> list[Any]:
    raw = params.get(name)
    if not raw:
        raise mandatory(name)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(-1102, f"Parameter '{name}' is not a JSON list.") from exc
    if not isinstance(value, list):
        raise ApiError(-1102, f"Parameter '{name}' is not a JSON list.")
    return value


def _answer(render: Any, result: WriteResult, *, ack: bool = False) -> WriteAnswer:
    """An item's (or a modify's) normal answer: the error object, nothing (a fault that skipped it), or the order."""
    if isinstance(result.error, ApiError):
        return result.error.status, {"code": result.error.code, "msg": result.error.msg}, result.fault
    if result.order is None:
        return 200, {}, result.fault
    return 200, render(result.order, kind="write", ack=ack), result.fault
