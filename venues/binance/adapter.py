"""``BinanceUsdm``: the Binance USD-M futures adapter (REST, WebSocket API, user stream) on ``AdapterBase``.

Hot path (submit -> ack) is kept lean: headers precomputed, query strings built by hand,
orjson, one pydantic model (the receipt). Writes are sent once and classified by
``codes.write_error``; reads raise ``VenueReadError`` subclasses and page until the asked
window is fully covered.

§ numbers below cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.model import (
    CancelRequest,
    CommandOperation,
    CommandReceipt,
    OrderReport,
    OrderRequest,
    OrderType,
    TimeInForce,
    TradeReport,
    Transport,
)
from venues.base import (
    InvalidOrderError,
    OutcomeUnknown,
    VenueEventSink,
    VenueReadError,
    check_amount,
    receipt_accepted,
)
from venues.binance.filters import parse_exchange_info, rate_limit_weight
from venues.binance.rest import BinanceRest, NotFound
from venues.binance.schemas.answer import cancel_answer, create_answer
from venues.binance.schemas.parse import ParseError, order_report, trade_report
from venues.binance.user_stream import UserStream
from venues.binance.ws_api import BinanceWsApi
from venues.common import AdapterBase, check_id, epoch_ms, fmt_decimal, to_decimal
from venues.transport import HttpKind

__all__ = ["BinanceUsdm"]

log = logging.getLogger(__name__)

# Applied with fullmatch (re.match with "$" let "id\n" through). §8 newClientOrderId.
CLIENT_ID_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
# orderId is an int64 (§5: "orderId increments per symbol"; JSON number): canonical digits only,
# so the id sent is the id the venue echoes back.
ORDER_ID_RE = re.compile(r"[1-9][0-9]{0,18}")
INT64_MAX = 2**63 - 1
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "GTX"}
WEEK_MS = 7 * 86_400_000
PAGE_LIMIT = 1000


class BinanceUsdm(AdapterBase):
    """One Binance USD-M account. ``BinanceUsdm(key, secret).name == "binance"``."""

    # allOrders lists open orders too: once past the history lag, history alone covers a window.
    history_includes_open_orders = True

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        rest_url: str = "https://fapi.binance.com",
        ws_api_url: str | None = "wss://ws-fapi.binance.com/ws-fapi/v1",
        stream_url: str | None = "wss://fstream.binance.com",
        request_timeout: float = 10.0,
        recv_window_ms: int = 5000,
        http: HttpKind = "aiohttp",
        name: str = "binance",
        history_lag_seconds: float = 1.0,
        connect_wait_seconds: float = 5.0,
        keepalive_seconds: float = 1800.0,
    ):
        super().__init__(
            name=name,
            api_key=api_key,
            api_secret=api_secret,
            rest_url=rest_url,
            ws_api_url=ws_api_url,
            stream_url=stream_url,
            request_timeout=request_timeout,
            recv_window_ms=recv_window_ms,
            http=http,
            history_lag_seconds=history_lag_seconds,
        )
        self._clock_offset_ms = 0
        self._connect_wait = min(connect_wait_seconds, request_timeout)
        self._keepalive_seconds = keepalive_seconds
        self.rest = BinanceRest(
            self._rest, self.rest_url, api_key, self._sign, recv_window_ms, self._rate, self._now_ms
        )
        self.ws_api: BinanceWsApi | None = None
        self.user_stream: UserStream | None = None

    def _now_ms(self) -> int:
        return epoch_ms() + self._clock_offset_ms

    # ------------------------------------------------------------------ lifecycle

    def _open_streams(self, sink: VenueEventSink) -> list[Awaitable[None]]:
        """The WebSocket API and the user data stream."""
        starts: list[Awaitable[None]] = []
        if self.ws_api_url:
            self.ws_api = BinanceWsApi(
                self.ws_api_url,
                name=self.name,
                api_key=self.api_key,
                sign=self._sign,
                recv_window_ms=self.recv_window_ms,
                rate=self._rate,
                clock=self._now_ms,
                on_down=self._socket_down("WebSocket API"),
            )
            starts.append(self.ws_api.start(self._connect_wait))
        if self.stream_url:
            self.user_stream = UserStream(
                self.rest,
                self.stream_url,
                name=self.name,
                sink=sink,
                unify=self.unified,
                keepalive_seconds=self._keepalive_seconds,
            )
            starts.append(self.user_stream.start(self._connect_wait))
        return starts

    async def _load_markets(self) -> None:
        t0 = epoch_ms()
        server = await self.rest.read("/fapi/v1/time", signed=False)
        t1 = epoch_ms()
        if isinstance(server, dict) and "serverTime" in server:
            offset = int(server["serverTime"]) - (t0 + t1) // 2
            self._clock_offset_ms = offset if abs(offset) > 250 else 0
        info = await self.rest.read("/fapi/v1/exchangeInfo", signed=False)
        for filters in parse_exchange_info(self.name, info):
            self._set_filters(filters)
        self._rate.limit = rate_limit_weight(info) or self._rate.limit
        marks = await self.rest.read("/fapi/v1/premiumIndex", signed=False)
        for item in marks if isinstance(marks, list) else [marks]:
            symbol = item.get("symbol") if isinstance(item, dict) else None
            if symbol in self._native_to_unified:
                try:
                    self._marks[self._native_to_unified[symbol]] = to_decimal(item["markPrice"])
                except (KeyError, ValueError):
                    continue

    async def _close_streams(self) -> None:
        if self.user_stream is not None:
            await self.user_stream.close()
        if self.ws_api is not None:
            await self.ws_api.close()

    def _ws_up(self) -> bool:
        return self.ws_api is not None and self.ws_api.is_up

    def _check_client_order_id(self, client_order_id: str) -> None:
        check_id(
            "client_order_id",
            client_order_id,
            CLIENT_ID_RE,
            "must match Binance's ^[.A-Z:/a-z0-9_-]{1,36}$ (the whole id)",
            venue=self.name,
        )

    def _check_order_id(self, order_id: str) -> None:
        check_id("order_id", order_id, ORDER_ID_RE, "must be a Binance orderId: int64 decimal digits", venue=self.name)
        if int(order_id) > INT64_MAX:
            raise InvalidOrderError("order_id", f"{order_id!r} is above the int64 maximum", venue=self.name)

    # ------------------------------------------------------------------ writes

    def _order_params(self, request: OrderRequest) -> list[tuple[str, str]]:
        """Every value checked for Binance before it is built into a request (REST and WS alike)."""
        if request.client_order_id is None:
            raise InvalidOrderError("client_order_id", "must be set before sending (the gateway assigns one)")
        self._check_client_order_id(request.client_order_id)
        where = {"venue": self.name, "instrument": request.instrument}
        check_amount("quantity", request.quantity, **where)
        if request.price is not None:
            check_amount("price", request.price, **where)
        params = [("symbol", self.native(request.instrument)), ("side", request.side.value)]
        if request.type is OrderType.LIMIT:
            assert request.price is not None
            params += [
                ("type", "LIMIT"),
                ("timeInForce", _TIF[request.time_in_force]),
                ("quantity", fmt_decimal(request.quantity)),
                ("price", fmt_decimal(request.price)),
            ]
        else:
            params += [("type", "MARKET"), ("quantity", fmt_decimal(request.quantity))]
        if request.reduce_only:
            params.append(("reduceOnly", "true"))
        params += [("newClientOrderId", request.client_order_id), ("newOrderRespType", "RESULT")]
        return params

    def _accepted(
        self,
        request: OrderRequest | CancelRequest,
        body: dict[str, Any],
        operation: CommandOperation,
        transport: Transport,
        sent_at: datetime,
        request_id: str | None,
    ) -> CommandReceipt:
        """ACCEPTED only for an answer that passes the write-answer schema; anything else proves nothing."""
        symbol = self.native(request.instrument)
        try:
            if isinstance(request, OrderRequest):
                assert request.client_order_id is not None  # the gateway assigns one before sending
                answer = create_answer(
                    body,
                    symbol=symbol,
                    client_order_id=request.client_order_id,
                    side=request.side,
                    order_type=request.type,
                    quantity=request.quantity,
                    price=request.price,
                )
            else:
                answer = cancel_answer(
                    body, symbol=symbol, client_order_id=request.client_order_id, order_id=request.order_id
                )
        except ParseError as exc:
            # The receipt keeps the request's ids (receipt_for_error), so the reconciler can find the order.
            raise OutcomeUnknown(f"{operation.value}: 2xx answer failed validation: {exc}") from exc
        return receipt_accepted(
            request,
            operation=operation,
            order_id=answer.order_id,
            client_order_id=answer.client_order_id or request.client_order_id,
            request_id=request_id,
            transport=transport,
            sent_at=sent_at,
            order_state=answer.state,
            filled_quantity=answer.filled_quantity,
            average_price=answer.average_price,
        )

    async def _submit_rest(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        """POST /fapi/v1/order (§5 NO), newOrderRespType=RESULT."""
        body = await self.rest.write("POST", "/fapi/v1/order", self._order_params(request))
        return self._accepted(request, body, CommandOperation.CREATE_ORDER, Transport.REST, sent_at, None)

    async def _submit_ws(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        """WS API ``order.place`` (§6)."""
        assert self.ws_api is not None
        result = await self.ws_api.call("order.place", dict(self._order_params(request)), self.request_timeout)
        return self._accepted(request, result, CommandOperation.CREATE_ORDER, Transport.WEBSOCKET, sent_at, None)

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]:
        """The one id param naming an order (orderId wins); ids already checked by ``_check_ids``."""
        if order_id is not None:
            return [("orderId", order_id)]
        assert client_order_id is not None
        return [("origClientOrderId", client_order_id)]

    def _cancel_params(self, request: CancelRequest) -> list[tuple[str, str]]:
        """The cancel's params, its ids checked for Binance first (REST and WS alike)."""
        self.validate_cancel(request)
        ident = self._ident_params(request.client_order_id, request.order_id)
        return [("symbol", self.native(request.instrument)), *ident]

    async def _cancel_rest(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        """DELETE /fapi/v1/order (§5 CO)."""
        body = await self.rest.write("DELETE", "/fapi/v1/order", self._cancel_params(request))
        return self._accepted(request, body, CommandOperation.CANCEL_ORDER, Transport.REST, sent_at, request_id)

    async def _cancel_ws(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        """WS API ``order.cancel`` (§6)."""
        assert self.ws_api is not None
        params: dict[str, Any] = dict(self._cancel_params(request))
        if "orderId" in params:
            params["orderId"] = int(params["orderId"])  # §6: INT params travel as JSON integers
        result = await self.ws_api.call("order.cancel", params, self.request_timeout)
        return self._accepted(request, result, CommandOperation.CANCEL_ORDER, Transport.WEBSOCKET, sent_at, request_id)

    # ------------------------------------------------------------------ reads

    def _orders(self, payload: Any, what: str) -> list[OrderReport]:
        if not isinstance(payload, list):
            raise VenueReadError(f"{what}: expected a list")
        try:
            return [order_report(item, venue=self.name, unify=self.unified) for item in payload]
        except ParseError as exc:
            raise VenueReadError(f"{what}: {exc}") from exc

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        """GET /fapi/v1/order (§5 QO); None on -2013."""
        self._check_read_ids(client_order_id, order_id)
        params = [("symbol", self.native(instrument)), *self._ident_params(client_order_id, order_id)]
        await self._before_read(1)
        try:
            payload = await self.rest.read("/fapi/v1/order", params)
        except NotFound:
            return None
        try:
            return order_report(payload, venue=self.name, unify=self.unified)
        except ParseError as exc:
            raise VenueReadError(f"GET /fapi/v1/order: {exc}") from exc

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        """GET /fapi/v1/openOrders?symbol= (§5 OO)."""
        await self._before_read(1)
        payload = await self.rest.read("/fapi/v1/openOrders", [("symbol", self.native(instrument))])
        return self._orders(payload, "GET /fapi/v1/openOrders")

    async def _windowed(self, path: str, symbol: str, start_ms: int, end_ms: int) -> list[Any]:
        """Cover [start, end] with windows under 7 days; a full page is split in half until it is not."""
        if end_ms < start_ms:
            return []
        out: list[Any] = []
        stack = []
        cursor = start_ms
        while cursor <= end_ms:
            hi = min(end_ms, cursor + WEEK_MS - 1)
            stack.append((cursor, hi))
            cursor = hi + 1
        stack.reverse()
        while stack:
            lo, hi = stack.pop()
            await self._before_read(5)
            page = await self.rest.read(
                path, [("symbol", symbol), ("startTime", str(lo)), ("endTime", str(hi)), ("limit", str(PAGE_LIMIT))]
            )
            if not isinstance(page, list):
                raise VenueReadError(f"GET {path}: expected a list")
            if len(page) >= PAGE_LIMIT:
                if hi <= lo:
                    raise VenueReadError(
                        f"GET {path}: more than {PAGE_LIMIT} items in one millisecond; window not covered"
                    )
                mid = (lo + hi) // 2
                stack.append((mid + 1, hi))
                stack.append((lo, mid))
                continue
            out.extend(page)
        return out

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        """GET /fapi/v1/allOrders (§5 AO), paged until [start_ms, end_ms] is covered."""
        items = await self._windowed("/fapi/v1/allOrders", self.native(instrument), start_ms, end_ms)
        seen: dict[str, OrderReport] = {}
        for report in self._orders(items, "GET /fapi/v1/allOrders"):
            seen[report.order_id] = report
        return list(seen.values())

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]:
        """GET /fapi/v1/userTrades (§5 UT), paged until [start_ms, end_ms] is covered."""
        items = await self._windowed("/fapi/v1/userTrades", self.native(instrument), start_ms, end_ms)
        try:
            reports = {t.trade_id: t for t in (trade_report(i, venue=self.name, unify=self.unified) for i in items)}
        except ParseError as exc:
            raise VenueReadError(f"GET /fapi/v1/userTrades: {exc}") from exc
        return list(reports.values())

    def mark(self, instrument: str, price: Decimal) -> None:
        """Update the reference price used for MARKET notional checks."""
        self._marks[instrument] = price
