"""``BinanceUsdm``: the Binance USD-M futures adapter (REST, WebSocket API, user stream) on ``AdapterBase``.

Only Binance's wire work is here: its defaults and routes, ids, request params, the write-answer
schema, the market reads at start and how reads page (windows under 7 days, halved while a page
is full). Hot path (submit -> ack) is kept lean: headers precomputed, query strings built by
hand, orjson, one pydantic model (the receipt). Writes are sent once and classified by
``codes.write_error``; reads raise ``VenueReadError`` subclasses.

§ numbers below cite docs/venues/binance-usdm.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Unpack

from gateway.model import (
    CancelRequest,
    CommandOperation,
    OrderReport,
    OrderRequest,
    OrderType,
    TimeInForce,
)
from venues.account import ACCOUNT_READ_MAX_WAIT
from venues.adapter_base import AdapterBase
from venues.base import InstrumentFilters, InvalidOrderError, VenueEventSink, VenueReadError
from venues.binance.account import SWITCH_TO_ONE_WAY, BinanceAccountReads
from venues.binance.filters import order_rate_limits, parse_exchange_info, rate_limit_weight
from venues.binance.manage import BinanceManage
from venues.binance.market_stream import BinanceMarkStream
from venues.binance.rest import BinanceRest, NotFound
from venues.binance.schemas.answer import cancel_answer, create_answer
from venues.binance.schemas.frames import mark_prices, server_time_ms
from venues.binance.schemas.parse import order_report, trade_report
from venues.binance.switch import BinanceSafety
from venues.binance.user_stream import UserStream
from venues.binance.ws_api import BinanceWsApi
from venues.common import WriteAnswer, check_id, fmt_decimal
from venues.dialect import AdapterOptions, Dialect, WriteRoute

__all__ = ["BinanceUsdm"]

# Applied with fullmatch (re.match with "$" let "id\n" through). §8 newClientOrderId.
CLIENT_ID_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
# orderId is an int64 (§5: "orderId increments per symbol"; JSON number): canonical digits only,
# so the id sent is the id the venue echoes back.
ORDER_ID_RE = re.compile(r"[1-9][0-9]{0,18}")
INT64_MAX = 2**63 - 1
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "GTX"}
WEEK_MS = 7 * 86_400_000
PAGE_LIMIT = 1000
ORDER_PATH = "/fapi/v1/order"

DIALECT = Dialect(
    name="binance",
    rest_url="https://fapi.binance.com",
    ws_api_url="wss://ws-fapi.binance.com/ws-fapi/v1",
    stream_url="wss://fstream.binance.com",
    history_lag_seconds=1.0,
    writes={
        CommandOperation.CREATE_ORDER: WriteRoute("POST", ORDER_PATH, "order.place"),  # §5 NO, §6
        CommandOperation.CANCEL_ORDER: WriteRoute("DELETE", ORDER_PATH, "order.cancel"),  # §5 CO, §6
        CommandOperation.AMEND_ORDER: WriteRoute("PUT", ORDER_PATH, "order.modify"),  # wave2 §2 MO
    },
    history_path="/fapi/v1/allOrders",  # §5 AO
    trades_path="/fapi/v1/userTrades",  # §5 UT
    parse_order=order_report,
    parse_trade=trade_report,
    answer="2xx answer",
    mark_stream=BinanceMarkStream(),
)


class BinanceUsdm(BinanceManage, AdapterBase):
    """One Binance USD-M account. ``BinanceUsdm(key, secret).name == "binance"``.

    Keyword arguments are ``AdapterBase``'s (defaults: ``DIALECT``), plus ``keepalive_seconds``,
    how often the user stream's listenKey is renewed.
    """

    DIALECT = DIALECT
    # allOrders lists open orders too: once past the history lag, history alone covers a window.
    history_includes_open_orders = True
    switch_to_one_way = SWITCH_TO_ONE_WAY
    rest: BinanceRest
    ws_api: BinanceWsApi | None = None
    user_stream: UserStream | None = None

    def __init__(
        self, api_key: str, api_secret: str, *, keepalive_seconds: float = 1800.0, **options: Unpack[AdapterOptions]
    ):
        self._keepalive_seconds = keepalive_seconds
        super().__init__(api_key, api_secret, **options)

    def _build(self) -> None:
        self.rest = BinanceRest(
            self._rest, self.rest_url, self.api_key, self._sign, self.recv_window_ms, self._rate, self._now_ms
        )
        self.safety_wire = BinanceSafety(self)  # cancel-all and countdownCancelAll (switch.py)
        self.account_reads = BinanceAccountReads(
            self.rest,
            name=self.name,
            unify=self.unified,
            before_read=lambda weight: self._before_read(weight, max_wait=ACCOUNT_READ_MAX_WAIT),
            orders=self._orders,
        )

    # ------------------------------------------------------------------ lifecycle

    def _make_order_socket(self, url: str) -> BinanceWsApi:
        self.ws_api = BinanceWsApi(
            url,
            name=self.name,
            api_key=self.api_key,
            sign=self._sign,
            recv_window_ms=self.recv_window_ms,
            rate=self._rate,
            clock=self._now_ms,
            on_down=self._socket_down("WebSocket API"),
        )
        return self.ws_api

    def _make_user_stream(self, url: str, sink: VenueEventSink) -> UserStream:
        self.user_stream = UserStream(
            self.rest,
            url,
            name=self.name,
            sink=sink,
            unify=self.unified,
            keepalive_seconds=self._keepalive_seconds,
            mark_of=self.reference_price,
        )
        return self.user_stream

    def _order_socket(self) -> BinanceWsApi | None:
        return self.ws_api

    def _user_stream(self) -> UserStream | None:
        return self.user_stream

    async def _server_time_ms(self) -> int | None:
        return server_time_ms(await self.rest.read("/fapi/v1/time", signed=False))

    async def _instrument_filters(self) -> list[InstrumentFilters]:
        info = await self.rest.read("/fapi/v1/exchangeInfo", signed=False)
        self._rate.limit = rate_limit_weight(info) or self._rate.limit
        for window, cap in order_rate_limits(info).items():
            self._rate.orders[window] = (self._rate.orders.get(window, (0, 0))[0], cap)
        return parse_exchange_info(self.name, info)

    async def _mark_prices(self) -> Iterable[tuple[str, Decimal]]:
        return mark_prices(await self.rest.read("/fapi/v1/premiumIndex", signed=False))

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

    def _order_params(self, request: OrderRequest) -> dict[str, Any]:
        """A create's params, REST and WS alike; newOrderRespType=RESULT so the answer carries the order."""
        params = {"symbol": self.native(request.instrument), "side": request.side.value}
        if request.type is OrderType.LIMIT:
            assert request.price is not None
            params["type"] = "LIMIT"
            params["timeInForce"] = _TIF[request.time_in_force]
            params["quantity"] = fmt_decimal(request.quantity)
            params["price"] = fmt_decimal(request.price)
        else:
            params["type"] = "MARKET"
            params["quantity"] = fmt_decimal(request.quantity)
        if request.reduce_only:
            params["reduceOnly"] = "true"
        params["newClientOrderId"] = self._client_id(request)
        params["newOrderRespType"] = "RESULT"
        return params

    def _ident_params(self, client_order_id: str | None, order_id: str | None) -> list[tuple[str, str]]:
        """The one id param naming an order (orderId wins); ids already checked by ``_check_ids``."""
        if order_id is not None:
            return [("orderId", order_id)]
        assert client_order_id is not None
        return [("origClientOrderId", client_order_id)]

    def _cancel_params(self, request: CancelRequest) -> dict[str, Any]:
        return {
            "symbol": self.native(request.instrument),
            **dict(self._ident_params(request.client_order_id, request.order_id)),
        }

    def _ws_params(self, params: dict[str, Any]) -> dict[str, Any]:
        ws = dict(params)
        if "orderId" in ws:
            ws["orderId"] = int(ws["orderId"])  # §6: INT params travel as JSON integers
        return ws

    def _write_answer(self, request: OrderRequest | CancelRequest, answer: dict[str, Any]) -> WriteAnswer:
        """ACCEPTED only for an answer about the order sent: its ids, symbol, side, type, quantity, price."""
        symbol = self.native(request.instrument)
        if isinstance(request, OrderRequest):
            return create_answer(
                answer,
                symbol=symbol,
                client_order_id=self._client_id(request),
                side=request.side,
                order_type=request.type,
                quantity=request.quantity,
                price=request.price,
            )
        return cancel_answer(answer, symbol=symbol, client_order_id=request.client_order_id, order_id=request.order_id)

    # ------------------------------------------------------------------ reads

    def _orders(self, payload: Any, what: str) -> list[OrderReport]:
        if not isinstance(payload, list):
            raise VenueReadError(f"{what}: expected a list")
        return self._order_reports(payload, what)

    async def query_order(
        self, instrument: str, *, client_order_id: str | None = None, order_id: str | None = None
    ) -> OrderReport | None:
        """GET /fapi/v1/order (§5 QO); None on -2013."""
        self._check_read_ids(client_order_id, order_id)
        params = [("symbol", self.native(instrument)), *self._ident_params(client_order_id, order_id)]
        await self._before_read(1)
        try:
            payload = await self.rest.read(ORDER_PATH, params)
        except NotFound:
            return None
        return self._order_reports([payload], f"GET {ORDER_PATH}")[0]

    async def open_orders(self, instrument: str) -> list[OrderReport]:
        """GET /fapi/v1/openOrders?symbol= (§5 OO)."""
        await self._before_read(1)
        payload = await self.rest.read("/fapi/v1/openOrders", [("symbol", self.native(instrument))])
        return self._orders(payload, "GET /fapi/v1/openOrders")

    async def _window(self, path: str, instrument: str, start_ms: int, end_ms: int) -> list[Any]:
        """Cover [start, end] with windows under 7 days; a full page is split in half until it is not."""
        symbol = self.native(instrument)
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
