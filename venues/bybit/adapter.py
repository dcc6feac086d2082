"""``BybitLinear``: the Bybit v5 ``category=linear`` adapter (REST, trade WebSocket, private stream) on ``AdapterBase``.

Only Bybit's wire work is here: its defaults and routes, ids, request params, the ack schema,
the market reads at start and cursor paging. A create or cancel is only *acknowledged* by Bybit
(``retCode 0`` + ``orderId``): the receipt is ACCEPTED without an order state, which arrives
later on the private stream or a query. Writes are sent once and classified by
``codes.write_error``; reads raise ``VenueReadError`` subclasses and page with ``cursor`` until
the asked window is covered. Linear reads always name the ``symbol`` (the venue needs a symbol
or settle coin).

§ numbers below cite docs/venues/bybit-v5.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from gateway.model import CancelRequest, CommandOperation, OrderReport, OrderRequest, OrderType, TimeInForce
from venues.account import ACCOUNT_READ_MAX_WAIT
from venues.adapter_base import AdapterBase
from venues.base import InstrumentFilters, VenueEventSink, VenueReadError
from venues.bybit.account import SWITCH_TO_ONE_WAY, BybitAccountReads
from venues.bybit.filters import parse_instruments
from venues.bybit.manage import BybitManage
from venues.bybit.market_stream import BybitMarkStream
from venues.bybit.rest import BybitRest
from venues.bybit.schemas.answer import cancel_ack, create_ack
from venues.bybit.schemas.frames import cursor_page, is_fill, mark_prices, server_time_ms
from venues.bybit.schemas.parse import ParseError, order_report, trade_report
from venues.bybit.switch import BybitSafety
from venues.bybit.user_stream import PrivateStream
from venues.bybit.ws_api import BybitTradeWs
from venues.common import WriteAnswer, check_id, fmt_decimal
from venues.dialect import Dialect, WriteRoute

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
HISTORY_PATH = "/v5/order/history"
EXECUTIONS_PATH = "/v5/execution/list"
PAGE_SIZES = {HISTORY_PATH: ORDER_PAGE, EXECUTIONS_PATH: EXECUTION_PAGE}
INSTRUMENTS_PATH = "/v5/market/instruments-info"

DIALECT = Dialect(
    name="bybit",
    rest_url="https://api.bybit.com",
    ws_api_url="wss://stream.bybit.com/v5/trade",
    stream_url="wss://stream.bybit.com/v5/private",
    history_lag_seconds=2.0,
    writes={
        CommandOperation.CREATE_ORDER: WriteRoute("POST", "/v5/order/create", "order.create"),  # §4 OC, §5
        CommandOperation.CANCEL_ORDER: WriteRoute("POST", "/v5/order/cancel", "order.cancel"),  # §4 OX, §5
        CommandOperation.AMEND_ORDER: WriteRoute("POST", "/v5/order/amend", "order.amend"),  # wave2 §2 AM
    },
    history_path=HISTORY_PATH,
    trades_path=EXECUTIONS_PATH,
    parse_order=order_report,
    parse_trade=trade_report,
    answer="retCode 0 ack",
    ack_message="acknowledged; order state follows on the private stream",
    is_fill=is_fill,
    mark_stream=BybitMarkStream(),
)


class BybitLinear(BybitManage, AdapterBase):
    """One Bybit unified account, linear contracts. ``BybitLinear(key, secret).name == "bybit"``.

    Keyword arguments are ``AdapterBase``'s (defaults: ``DIALECT``).
    """

    DIALECT = DIALECT
    # History is documented to lag and its listing of open orders is not promised: the
    # reconciler always reads open orders alongside it.
    history_includes_open_orders = False
    switch_to_one_way = SWITCH_TO_ONE_WAY
    rest: BybitRest
    trade_ws: BybitTradeWs | None = None
    private_stream: PrivateStream | None = None

    def _build(self) -> None:
        self.rest = BybitRest(
            self._rest, self.rest_url, self.api_key, self._sign, self.recv_window_ms, self._rate, self._now_ms
        )
        self.safety_wire = BybitSafety(self)  # cancel-all and DCP (switch.py)
        self.account_reads = BybitAccountReads(
            self.rest,
            name=self.name,
            unify=self.unified,
            before_read=lambda weight: self._before_read(weight, max_wait=ACCOUNT_READ_MAX_WAIT),
            pages=self._pages,
            settle_coins=lambda: sorted({f.instrument.rpartition(":")[2] for f in self._filters.values()}),
            first_symbol=lambda: next((f.native_symbol for f in self._filters.values()), None),
            orders=self._order_reports,
        )

    # ------------------------------------------------------------------ lifecycle

    def _make_order_socket(self, url: str) -> BybitTradeWs:
        self.trade_ws = BybitTradeWs(
            url,
            name=self.name,
            api_key=self.api_key,
            sign=self._sign,
            recv_window_ms=self.recv_window_ms,
            clock=self._now_ms,
            on_down=self._socket_down("trade WebSocket"),
        )
        return self.trade_ws

    def _make_user_stream(self, url: str, sink: VenueEventSink) -> PrivateStream:
        self.private_stream = PrivateStream(
            url,
            name=self.name,
            api_key=self.api_key,
            sign=self._sign,
            clock=self._now_ms,
            sink=sink,
            unify=self.unified,
            **self._dcp_keepalive(),
        )
        return self.private_stream

    def _dcp_keepalive(self) -> dict[str, Any]:
        """An armed DCP is kept alive by this stream: subscribed to dcp.future, pinging at a third of its window."""
        switch = self.switch
        if switch is None or switch.unavailable is not None:
            return {}
        return {"dcp": True, "heartbeat_interval": min(20.0, switch.seconds / 3)}

    def _order_socket(self) -> BybitTradeWs | None:
        return self.trade_ws

    def _user_stream(self) -> PrivateStream | None:
        return self.private_stream

    async def _server_time_ms(self) -> int | None:
        return server_time_ms(await self.rest.read("/v5/market/time", signed=False))

    async def _instrument_filters(self) -> list[InstrumentFilters]:
        out: list[InstrumentFilters] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            query = [("category", "linear"), ("limit", "1000")] + ([("cursor", cursor)] if cursor else [])
            items, cursor = self._page(INSTRUMENTS_PATH, await self.rest.read(INSTRUMENTS_PATH, query, signed=False))
            out.extend(parse_instruments(self.name, items))
            if not cursor or not items:
                break
        return out

    async def _mark_prices(self) -> Iterable[tuple[str, Decimal]]:
        return mark_prices(await self.rest.read("/v5/market/tickers", [("category", "linear")], signed=False))

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
        """A create's params, REST and WS alike (the REST body is these, JSON-encoded once)."""
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
        params["orderLinkId"] = self._client_id(request)
        return params

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]:
        """The one id param naming an order (orderId wins, as on the venue); ids already checked."""
        if order_id is not None:
            return [("orderId", order_id)]
        assert client_order_id is not None
        return [("orderLinkId", client_order_id)]

    def _cancel_params(self, request: CancelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"category": "linear", "symbol": self.native(request.instrument)}
        params.update(self._ident_params(request.client_order_id, request.order_id))
        return params

    def _ws_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return params  # sent as the op's one arg, unchanged

    def _write_answer(self, request: OrderRequest | CancelRequest, answer: dict[str, Any]) -> WriteAnswer:
        """ACCEPTED only for an ack naming the order sent (create: our orderLinkId; cancel: the target)."""
        if isinstance(request, OrderRequest):
            order_id, link_id = create_ack(answer, client_order_id=self._client_id(request))
        else:
            order_id, link_id = cancel_ack(answer, client_order_id=request.client_order_id, order_id=request.order_id)
        return WriteAnswer(order_id, link_id)

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _page(path: str, payload: Any) -> tuple[list[Any], str]:
        try:
            return cursor_page(payload)
        except ParseError as exc:
            raise VenueReadError(f"GET {path}: {exc}") from exc

    async def _pages(self, path: str, query: list[tuple[str, str]], page_size: int) -> list[Any]:
        """Every item of a cursor-paged list read; raises rather than return a partial list."""
        out: list[Any] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            await self._before_read(1)
            params = [*query, ("limit", str(page_size))] + ([("cursor", cursor)] if cursor else [])
            items, cursor = self._page(path, await self.rest.read(path, params))
            out.extend(items)
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
        for path in ("/v5/order/realtime", HISTORY_PATH):
            await self._before_read(1)
            items, _ = self._page(path, await self.rest.read(path, base))
            found = self._order_reports(items, f"GET {path}")
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
        return [o for o in self._order_reports(items, "GET /v5/order/realtime") if o.state.is_open]

    async def _window(self, path: str, instrument: str, start_ms: int, end_ms: int) -> list[Any]:
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
                    PAGE_SIZES[path],
                )
            )
            lo = hi + 1
        return out
