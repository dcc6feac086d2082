"""``BybitLinear``: the Bybit v5 ``category=linear`` adapter (REST, trade WebSocket, private stream) on ``AdapterBase``.

A create or cancel is only *acknowledged* by Bybit (``retCode 0`` + ``orderId``): the receipt
is ACCEPTED without an order state, which arrives later on the private stream or a query.
Writes are sent once and classified by ``codes.write_error``; reads raise ``VenueReadError``
subclasses and page with ``cursor`` until the asked window is covered. Linear reads always
name the ``symbol`` (the venue needs a symbol or settle coin).

§ numbers below cite docs/venues/bybit-v5.md.
"""

from __future__ import annotations

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
from venues.bybit.filters import parse_instruments
from venues.bybit.rest import BybitRest
from venues.bybit.schemas.answer import cancel_ack, create_ack
from venues.bybit.schemas.parse import FILL_EXEC_TYPES, ParseError, order_report, trade_report
from venues.bybit.user_stream import PrivateStream
from venues.bybit.ws_api import BybitTradeWs
from venues.common import AdapterBase, check_id, epoch_ms, fmt_decimal, to_decimal
from venues.transport import HttpKind

__all__ = ["BybitLinear"]

# Applied with fullmatch (re.match with "$" let "id\n" through). §7 orderLinkId.
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,36}")
# §4/§5: linear orderIds are UUIDs ("fd4300ae-7847-404e-b947-b46980a4d140"); the create docs'
# example shows a decimal one ("1321003749386327552"), so that shape is accepted too.
ORDER_ID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9]{1,20}")
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "PostOnly"}
WEEK_MS = 7 * 86_400_000
ORDER_PAGE = 50  # realtime / history maximum
EXECUTION_PAGE = 100
MAX_PAGES = 200  # a runaway cursor is a read error, never a silently partial window


class BybitLinear(AdapterBase):
    """One Bybit unified account, linear contracts. ``BybitLinear(key, secret).name == "bybit"``."""

    # History is documented to lag and its listing of open orders is not promised: the
    # reconciler always reads open orders alongside it.
    history_includes_open_orders = False

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        rest_url: str = "https://api.bybit.com",
        ws_api_url: str | None = "wss://stream.bybit.com/v5/trade",
        stream_url: str | None = "wss://stream.bybit.com/v5/private",
        request_timeout: float = 10.0,
        recv_window_ms: int = 5000,
        http: HttpKind = "aiohttp",
        name: str = "bybit",
        history_lag_seconds: float = 2.0,
        connect_wait_seconds: float = 5.0,
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
        self.rest = BybitRest(self._rest, self.rest_url, api_key, self._sign, recv_window_ms, self._rate, self._now_ms)
        self.trade_ws: BybitTradeWs | None = None
        self.private_stream: PrivateStream | None = None

    def _now_ms(self) -> int:
        return epoch_ms() + self._clock_offset_ms

    # ------------------------------------------------------------------ lifecycle

    def _open_streams(self, sink: VenueEventSink) -> list[Awaitable[None]]:
        """The trade WebSocket and the private stream."""
        starts: list[Awaitable[None]] = []
        if self.ws_api_url:
            self.trade_ws = BybitTradeWs(
                self.ws_api_url,
                name=self.name,
                api_key=self.api_key,
                sign=self._sign,
                recv_window_ms=self.recv_window_ms,
                clock=self._now_ms,
                on_down=self._socket_down("trade WebSocket"),
            )
            starts.append(self.trade_ws.start(self._connect_wait))
        if self.stream_url:
            self.private_stream = PrivateStream(
                self.stream_url,
                name=self.name,
                api_key=self.api_key,
                sign=self._sign,
                clock=self._now_ms,
                sink=sink,
                unify=self.unified,
            )
            starts.append(self.private_stream.start(self._connect_wait))
        return starts

    async def _load_markets(self) -> None:
        t0 = epoch_ms()
        server = await self.rest.read("/v5/market/time", signed=False)
        t1 = epoch_ms()
        if isinstance(server, dict) and server.get("timeNano"):
            offset = int(str(server["timeNano"])) // 1_000_000 - (t0 + t1) // 2
            self._clock_offset_ms = offset if abs(offset) > 250 else 0
        cursor = ""
        for _ in range(MAX_PAGES):
            query = [("category", "linear"), ("limit", "1000")] + ([("cursor", cursor)] if cursor else [])
            page = await self.rest.read("/v5/market/instruments-info", query, signed=False)
            items = page.get("list") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise VenueReadError("GET /v5/market/instruments-info: result has no list")
            for filters in parse_instruments(self.name, items):
                self._set_filters(filters)
            cursor = str(page.get("nextPageCursor") or "")
            if not cursor or not items:
                break
        tickers = await self.rest.read("/v5/market/tickers", [("category", "linear")], signed=False)
        for item in tickers.get("list", []) if isinstance(tickers, dict) else []:
            symbol = item.get("symbol") if isinstance(item, dict) else None
            if symbol in self._native_to_unified:
                try:
                    self._marks[self._native_to_unified[symbol]] = to_decimal(item["markPrice"])
                except (KeyError, ValueError):
                    continue

    async def _close_streams(self) -> None:
        if self.private_stream is not None:
            await self.private_stream.close()
        if self.trade_ws is not None:
            await self.trade_ws.close()

    def _ws_up(self) -> bool:
        return self.trade_ws is not None and self.trade_ws.is_up

    def _check_client_order_id(self, client_order_id: str) -> None:
        check_id(
            "client_order_id",
            client_order_id,
            CLIENT_ID_RE,
            "must be 1-36 letters, digits, '-' or '_' (Bybit orderLinkId)",
            venue=self.name,
        )

    def _check_order_id(self, order_id: str) -> None:
        check_id(
            "order_id",
            order_id,
            ORDER_ID_RE,
            "must be a Bybit orderId: a UUID (8-4-4-4-12 hex digits) or up to 20 decimal digits",
            venue=self.name,
        )

    # ------------------------------------------------------------------ writes

    def _order_params(self, request: OrderRequest) -> dict[str, Any]:
        """Every value checked for Bybit before it is built into a request (REST and WS alike)."""
        if request.client_order_id is None:
            raise InvalidOrderError("client_order_id", "must be set before sending (the gateway assigns one)")
        self._check_client_order_id(request.client_order_id)
        where = {"venue": self.name, "instrument": request.instrument}
        check_amount("quantity", request.quantity, **where)
        if request.price is not None:
            check_amount("price", request.price, **where)
        params: dict[str, Any] = {
            "category": "linear",
            "symbol": self.native(request.instrument),
            "side": "Buy" if request.side.value == "BUY" else "Sell",
        }
        if request.type is OrderType.LIMIT:
            assert request.price is not None
            params["orderType"] = "Limit"
            params["qty"] = fmt_decimal(request.quantity)
            params["price"] = fmt_decimal(request.price)
            params["timeInForce"] = _TIF[request.time_in_force]
        else:
            params["orderType"] = "Market"
            params["qty"] = fmt_decimal(request.quantity)
        if request.reduce_only:
            params["reduceOnly"] = True
        params["orderLinkId"] = request.client_order_id
        return params

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]:
        """The one id param naming an order (orderId wins, as on the venue); ids already checked."""
        if order_id is not None:
            return [("orderId", order_id)]
        assert client_order_id is not None
        return [("orderLinkId", client_order_id)]

    def _cancel_params(self, request: CancelRequest) -> dict[str, Any]:
        """The cancel's params, its ids checked for Bybit first (REST and WS alike)."""
        self.validate_cancel(request)
        params: dict[str, Any] = {"category": "linear", "symbol": self.native(request.instrument)}
        params.update(self._ident_params(request.client_order_id, request.order_id))
        return params

    def _acked(
        self,
        request: OrderRequest | CancelRequest,
        ack: dict[str, Any],
        operation: CommandOperation,
        transport: Transport,
        sent_at: datetime,
        request_id: str | None,
    ) -> CommandReceipt:
        """ACCEPTED only for an ack that passes the write-answer schema; anything else proves nothing."""
        try:
            if isinstance(request, OrderRequest):
                assert request.client_order_id is not None  # the gateway assigns one before sending
                order_id, link_id = create_ack(ack, client_order_id=request.client_order_id)
            else:
                order_id, link_id = cancel_ack(
                    ack, client_order_id=request.client_order_id, order_id=request.order_id
                )
        except ParseError as exc:
            # The receipt keeps the request's ids (receipt_for_error), so the reconciler can find the order.
            raise OutcomeUnknown(f"{operation.value}: retCode 0 ack failed validation: {exc}") from exc
        return receipt_accepted(
            request,
            operation=operation,
            order_id=order_id,
            client_order_id=link_id or request.client_order_id,
            request_id=request_id,
            transport=transport,
            sent_at=sent_at,
            message="acknowledged; order state follows on the private stream",
        )

    async def _submit_rest(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        """POST /v5/order/create (§4 OC): an acknowledgement only."""
        ack = await self.rest.write("/v5/order/create", self._order_params(request))
        return self._acked(request, ack, CommandOperation.CREATE_ORDER, Transport.REST, sent_at, None)

    async def _submit_ws(self, request: OrderRequest, sent_at: Any) -> CommandReceipt:
        """Trade WS ``order.create`` (§5)."""
        assert self.trade_ws is not None
        ack = await self.trade_ws.call("order.create", self._order_params(request), self.request_timeout)
        return self._acked(request, ack, CommandOperation.CREATE_ORDER, Transport.WEBSOCKET, sent_at, None)

    async def _cancel_rest(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        """POST /v5/order/cancel (§4 OX): accepted asynchronously."""
        ack = await self.rest.write("/v5/order/cancel", self._cancel_params(request))
        return self._acked(request, ack, CommandOperation.CANCEL_ORDER, Transport.REST, sent_at, request_id)

    async def _cancel_ws(self, request: CancelRequest, request_id: str, sent_at: Any) -> CommandReceipt:
        """Trade WS ``order.cancel`` (§5)."""
        assert self.trade_ws is not None
        ack = await self.trade_ws.call("order.cancel", self._cancel_params(request), self.request_timeout)
        return self._acked(request, ack, CommandOperation.CANCEL_ORDER, Transport.WEBSOCKET, sent_at, request_id)

    # ------------------------------------------------------------------ reads

    def _orders(self, items: list[Any], what: str) -> list[OrderReport]:
        try:
            return [order_report(item, venue=self.name, unify=self.unified) for item in items]
        except ParseError as exc:
            raise VenueReadError(f"{what}: {exc}") from exc

    async def _pages(self, path: str, query: list[tuple[str, str]], page_size: int) -> list[Any]:
        """Every item of a cursor-paged list read; raises rather than return a partial list."""
        out: list[Any] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            await self._before_read(1)
            params = [*query, ("limit", str(page_size))] + ([("cursor", cursor)] if cursor else [])
            page = await self.rest.read(path, params)
            items = page.get("list") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise VenueReadError(f"GET {path}: result has no list")
            out.extend(items)
            cursor = str(page.get("nextPageCursor") or "")
            if not cursor or not items:
                return out
        raise VenueReadError(f"GET {path}: more than {MAX_PAGES} pages; window not covered")

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        """realtime by id (open + recent closed), then history by id (§9); None when neither shows it."""
        self._check_read_ids(client_order_id, order_id)
        base = [
            ("category", "linear"),
            ("symbol", self.native(instrument)),
            *self._ident_params(client_order_id, order_id),
        ]
        for path in ("/v5/order/realtime", "/v5/order/history"):
            await self._before_read(1)
            page = await self.rest.read(path, base)
            items = page.get("list") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise VenueReadError(f"GET {path}: result has no list")
            found = self._orders(items, f"GET {path}")
            if found:
                return found[0]
        return None

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        """GET /v5/order/realtime (open only), every page."""
        items = await self._pages(
            "/v5/order/realtime",
            [("category", "linear"), ("symbol", self.native(instrument)), ("openOnly", "0")],
            ORDER_PAGE,
        )
        return [o for o in self._orders(items, "GET /v5/order/realtime") if o.state.is_open]

    async def _windowed(self, path: str, instrument: str, start_ms: int, end_ms: int, page_size: int) -> list[Any]:
        """Cover [start, end] in windows of at most 7 days (the venue's bound), each paged by cursor."""
        symbol = self.native(instrument)
        out: list[Any] = []
        lo = start_ms
        while lo <= end_ms:
            hi = min(end_ms, lo + WEEK_MS - 1)
            out.extend(
                await self._pages(
                    path,
                    [("category", "linear"), ("symbol", symbol), ("startTime", str(lo)), ("endTime", str(hi))],
                    page_size,
                )
            )
            lo = hi + 1
        return out

    async def order_history(self, instrument: str, start_ms: int, end_ms: int) -> list[OrderReport]:
        """GET /v5/order/history over [start_ms, end_ms]; lags, so the reconciler also reads open orders."""
        items = await self._windowed("/v5/order/history", instrument, start_ms, end_ms, ORDER_PAGE)
        seen: dict[str, OrderReport] = {}
        for report in self._orders(items, "GET /v5/order/history"):
            seen[report.order_id] = report
        return list(seen.values())

    async def trades(self, instrument: str, start_ms: int, end_ms: int) -> list[TradeReport]:
        """GET /v5/execution/list over [start_ms, end_ms]: fills only, deduplicated by execId."""
        items = await self._windowed("/v5/execution/list", instrument, start_ms, end_ms, EXECUTION_PAGE)
        try:
            reports = {
                t.trade_id: t
                for t in (
                    trade_report(i, venue=self.name, unify=self.unified)
                    for i in items
                    if isinstance(i, dict) and i.get("execType", "Trade") in FILL_EXEC_TYPES
                )
            }
        except ParseError as exc:
            raise VenueReadError(f"GET /v5/execution/list: {exc}") from exc
        return list(reports.values())

    def mark(self, instrument: str, price: Decimal) -> None:
        """Update the reference price used for MARKET notional checks."""
        self._marks[instrument] = price
