"""Bybit's wire work for amends and batches (``venues.manage`` runs the flow), per bybit-v5-wave2.md.

- Amend (§2 AM): ``POST /v5/order/amend`` / trade-WS ``order.amend`` send only what changes; the
  answer is an ack (``orderId``, ``orderLinkId``), the change shows on the ``order`` topic.
- Batches (§3): ``/v5/order/create-batch`` and ``/v5/order/cancel-batch`` (at most 20 items for
  linear) over REST, ``order.create-batch`` / ``order.cancel-batch`` over the trade socket. The
  answer is two parallel lists: ``result.list[i]`` (the ack) and ``retExtInfo.list[i]`` (its code);
  an envelope ``retCode 0`` does not mean every item succeeded. A short or missing list proves
  nothing about the items it lacks.
- Bybit keeps no amendment history: ``amendments`` is None, and a lost amend is settled from the
  order's view alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.model import (
    AmendmentReport,
    AmendRequest,
    CancelRequest,
    CommandOperation,
    OrderReport,
    OrderRequest,
    Transport,
)
from venues.base import NotSent, OutcomeUnknown
from venues.bybit.codes import write_error
from venues.bybit.rest import BybitRest
from venues.bybit.schemas.answer import cancel_ack, create_ack
from venues.bybit.ws_api import BybitTradeWs
from venues.common import ParseError, WriteAnswer, fmt_decimal, to_int
from venues.manage import BatchItems

__all__ = ["BATCH_LIMIT", "BybitManage"]

BATCH_LIMIT = 20
_PATHS = {
    CommandOperation.CREATE_ORDER: "/v5/order/create-batch",
    CommandOperation.CANCEL_ORDER: "/v5/order/cancel-batch",
}
_OPS = {CommandOperation.CREATE_ORDER: "order.create-batch", CommandOperation.CANCEL_ORDER: "order.cancel-batch"}


class _Bybit(Protocol):
    rest: BybitRest
    trade_ws: BybitTradeWs | None
    request_timeout: float

    def native(self, instrument: str) -> str: ...

    def _order_params(self, request: OrderRequest) -> dict[str, Any]: ...

    def _cancel_params(self, request: CancelRequest) -> dict[str, Any]: ...

    def _client_id(self, request: OrderRequest) -> str: ...

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]: ...


class BybitManage:
    """The ``ManagedAdapter`` hooks for ``BybitLinear``."""

    def _amend_params(self: _Bybit, request: AmendRequest, current: OrderReport) -> dict[str, Any]:
        params: dict[str, Any] = {"category": "linear", "symbol": self.native(request.instrument)}
        params.update(self._ident_params(request.client_order_id, request.order_id))
        if request.quantity is not None:
            params["qty"] = fmt_decimal(request.quantity)
        if request.price is not None:
            params["price"] = fmt_decimal(request.price)
        return params

    def _amend_answer(self, request: AmendRequest, current: OrderReport, answer: Any) -> WriteAnswer:
        order_id, link_id = cancel_ack(answer, client_order_id=request.client_order_id, order_id=request.order_id)
        if current.order_id and order_id != current.order_id:
            raise ParseError(f"orderId {order_id!r} is not the target ({current.order_id!r})")
        return WriteAnswer(order_id, link_id)

    def _batch_limit(self, operation: CommandOperation, transport: Transport) -> int:
        return BATCH_LIMIT if operation in _PATHS else 0

    async def _send_batch(
        self: _Bybit,
        operation: CommandOperation,
        requests: Sequence[OrderRequest | CancelRequest],
        transport: Transport,
    ) -> BatchItems:
        items: list[dict[str, Any]] = []
        for request in requests:
            params = self._order_params(request) if isinstance(request, OrderRequest) else self._cancel_params(request)
            items.append({k: v for k, v in params.items() if k != "category"})
        body = {"category": "linear", "request": items}
        if transport is Transport.WEBSOCKET:
            if self.trade_ws is None:
                raise NotSent("trade WebSocket is not connected")
            result, ext = await self.trade_ws.call_batch(_OPS[operation], body, self.request_timeout)
        else:
            result, ext = await self.rest.write_batch(_PATHS[operation], body)
        what = f"{operation.value} batch"
        acks, codes = _list(result), _list(ext)
        out: BatchItems = []
        for index, request in enumerate(requests):
            if index >= len(acks) or index >= len(codes):
                out.append(OutcomeUnknown(f"{what}: no answer for item {index}"))
                continue
            out.append(_item(request, acks[index], codes[index], what))
        return out

    async def _amendment_reports(
        self, instrument: str, client_order_id: str | None, order_id: str | None, start_ms: int, end_ms: int
    ) -> list[AmendmentReport] | None:
        return None


def _list(payload: Any) -> list[Any]:
    items = payload.get("list") if isinstance(payload, Mapping) else None
    return items if isinstance(items, list) else []


def _item(request: OrderRequest | CancelRequest, ack: Any, code_entry: Any, what: str) -> Any:
    """One item: ``retExtInfo.list[i]`` decides (0 is an ack to judge; any other code is classified)."""
    try:
        code = to_int(code_entry.get("code")) if isinstance(code_entry, Mapping) else None
    except ValueError:
        code = None
    if code is None:
        return OutcomeUnknown(f"{what}: an item without a readable code")
    if code != 0:
        return write_error(200, code, str(code_entry.get("msg", "")), what=what)
    try:
        if isinstance(request, OrderRequest):
            if request.client_order_id is None:
                raise ParseError("the item has no client order id to match")
            order_id, link_id = create_ack(ack, client_order_id=request.client_order_id)
        else:
            order_id, link_id = cancel_ack(ack, client_order_id=request.client_order_id, order_id=request.order_id)
    except ParseError as exc:
        return OutcomeUnknown(f"{what}: a code-0 item failed validation: {exc}")
    return WriteAnswer(order_id, link_id)
