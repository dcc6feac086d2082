"""Binance's wire work for amends and batches (``venues.manage`` runs the flow), per binance-usdm-wave2.md.

- Modify (§2 MO): ``PUT /fapi/v1/order`` / WS ``order.modify`` need ``side`` and *both* ``quantity``
  and ``price``: the unchanged one is the order's current value, as the gateway knows it.
- Batches (§3): ``POST /fapi/v1/batchOrders`` (at most 5 creates) and ``DELETE /fapi/v1/batchOrders``
  (at most 10 cancels of one symbol, all by ``orderId`` or all by ``origClientOrderId``), REST only
  (the WS API has no batch method). The value is compact JSON, percent-encoded into the signed query.
  Each item is an order object (judged by the single write's schema) or ``{"code", "msg"}`` (classified
  by ``codes.write_error`` like a single answer).
- Amendment history (§2 OA): ``GET /fapi/v1/orderAmendment`` is evidence for a lost modify.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from gateway.model import (
    AmendmentReport,
    AmendRequest,
    CancelRequest,
    CommandOperation,
    OrderReport,
    OrderRequest,
    Transport,
)
from venues.base import NotSent, OutcomeUnknown, VenueError, VenueReadError
from venues.binance.codes import write_error
from venues.binance.rest import BinanceRest, NotFound
from venues.binance.schemas.answer import amend_answer, cancel_answer, create_answer
from venues.common import ParseError, WriteAnswer, fmt_decimal, opt_dec_field, to_int
from venues.manage import BatchItems, known_amount

__all__ = ["BATCH_CANCELS", "BATCH_ORDERS", "BinanceManage"]

BATCH_ORDERS = 5
BATCH_CANCELS = 10
AMENDMENT_PATH = "/fapi/v1/orderAmendment"
BATCH_PATH = "/fapi/v1/batchOrders"


class _Binance(Protocol):
    name: str
    rest: BinanceRest

    def native(self, instrument: str) -> str: ...

    def unified(self, native_symbol: str) -> str: ...

    def _order_params(self, request: OrderRequest) -> dict[str, Any]: ...

    def _client_id(self, request: OrderRequest) -> str: ...

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]: ...

    async def _before_read(self, weight: int = 1, max_wait: float = 5.0) -> None: ...


class BinanceManage:
    """The ``ManagedAdapter`` hooks for ``BinanceUsdm``."""

    def _amend_params(self: _Binance, request: AmendRequest, current: OrderReport) -> dict[str, Any]:
        if current.side is None:
            raise NotSent("not sent: the order's side is not known and Binance's modify needs it")
        params: dict[str, Any] = {"symbol": self.native(request.instrument), "side": current.side.value}
        params.update(self._ident_params(request.client_order_id, request.order_id))
        params["quantity"] = fmt_decimal(known_amount(request.quantity, current.quantity, "quantity"))
        params["price"] = fmt_decimal(known_amount(request.price, current.price, "price"))
        return params

    def _amend_answer(self: _Binance, request: AmendRequest, current: OrderReport, answer: Any) -> WriteAnswer:
        return amend_answer(
            answer,
            symbol=self.native(request.instrument),
            client_order_id=request.client_order_id,
            order_id=request.order_id,
            quantity=known_amount(request.quantity, current.quantity, "quantity"),
            price=known_amount(request.price, current.price, "price"),
        )

    def _batch_limit(self, operation: CommandOperation, transport: Transport) -> int:
        if transport is not Transport.REST:
            return 0
        return {CommandOperation.CREATE_ORDER: BATCH_ORDERS, CommandOperation.CANCEL_ORDER: BATCH_CANCELS}.get(
            operation, 0
        )

    async def _send_batch(
        self: _Binance,
        operation: CommandOperation,
        requests: Sequence[OrderRequest | CancelRequest],
        transport: Transport,
    ) -> BatchItems:
        what = f"{operation.value} batch"
        if operation is CommandOperation.CREATE_ORDER:
            creates = [r for r in requests if isinstance(r, OrderRequest)]
            encoded = orjson.dumps([self._order_params(r) for r in creates]).decode()
            answer = await self.rest.write_batch("POST", BATCH_PATH, {"batchOrders": encoded})
            placed: BatchItems = []
            for item, r in zip(answer, creates, strict=False):
                error = _item_error(item, what)
                try:
                    placed.append(error or create_answer(
                        item, symbol=self.native(r.instrument), client_order_id=self._client_id(r), side=r.side,
                        order_type=r.type, quantity=r.quantity, price=r.price,
                    ))  # fmt: skip
                except ParseError as exc:
                    placed.append(OutcomeUnknown(f"{what}: 2xx item failed validation: {exc}"))
            return placed
        cancels = [r for r in requests if isinstance(r, CancelRequest)]
        symbols = {r.instrument for r in cancels}
        by_id = all(r.order_id for r in cancels)
        if len(symbols) != 1 or not (by_id or all(r.client_order_id for r in cancels)):
            raise NotSent("not sent: a Binance cancel batch names one symbol, all by orderId or all by client id")
        ids: list[Any] = [int(r.order_id or 0) for r in cancels] if by_id else [r.client_order_id for r in cancels]
        key = "orderIdList" if by_id else "origClientOrderIdList"
        params = {"symbol": self.native(cancels[0].instrument), key: orjson.dumps(ids).decode()}
        answer = await self.rest.write_batch("DELETE", BATCH_PATH, params)
        canceled: BatchItems = []
        for item, c in zip(answer, cancels, strict=False):
            error = _item_error(item, what)
            try:
                canceled.append(error or cancel_answer(
                    item, symbol=self.native(c.instrument), client_order_id=c.client_order_id, order_id=c.order_id,
                ))  # fmt: skip
            except ParseError as exc:
                canceled.append(OutcomeUnknown(f"{what}: 2xx item failed validation: {exc}"))
        return canceled

    async def _amendment_reports(
        self: _Binance, instrument: str, client_order_id: str | None, order_id: str | None, start_ms: int, end_ms: int
    ) -> list[AmendmentReport] | None:
        params = [
            ("symbol", self.native(instrument)),
            *self._ident_params(client_order_id, order_id),
            ("startTime", str(start_ms)),
            ("endTime", str(end_ms)),
            ("limit", "100"),
        ]
        await self._before_read(1)
        try:
            payload = await self.rest.read(AMENDMENT_PATH, params)
        except NotFound:
            return []
        if not isinstance(payload, list):
            raise VenueReadError(f"GET {AMENDMENT_PATH}: expected a list")
        try:
            return [_amendment(item, venue=self.name, instrument=instrument) for item in payload]
        except (ParseError, ValueError, KeyError, TypeError) as exc:
            raise VenueReadError(f"GET {AMENDMENT_PATH}: {exc}") from exc


def _item_error(item: Any, what: str) -> VenueError | None:
    """A batch item that is an error object, classified like a single write's answer; None for an order object."""
    if isinstance(item, Mapping) and "code" in item and "orderId" not in item:
        code = item.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            return write_error(400, code, str(item.get("msg", "")), what=what)
        return OutcomeUnknown(f"{what}: an item with an unreadable code {code!r}")
    return None


def _amendment(item: Mapping[str, Any], *, venue: str, instrument: str) -> AmendmentReport:
    change = item["amendment"]
    price, qty = change.get("price") or {}, change.get("origQty") or {}
    return AmendmentReport(
        venue=venue,
        instrument=instrument,
        order_id=str(to_int(item["orderId"])),
        client_order_id=item.get("clientOrderId") or None,
        time_ms=to_int(item["time"]),
        price_before=opt_dec_field(price, "before"),
        price_after=opt_dec_field(price, "after"),
        quantity_before=opt_dec_field(qty, "before"),
        quantity_after=opt_dec_field(qty, "after"),
    )
