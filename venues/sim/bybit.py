"""The simulator's Bybit v5 dialect (``category=linear``): REST ``/v5/...``, trade WebSocket and private stream.

``register(app, venue)`` mounts everything on the shared aiohttp app. The dialect translates
Bybit requests into ``MatchingEngine`` calls and engine state into Bybit payloads, with the
venue's JSON types (``retCode``/``time``/``positionIdx``/``seq`` numbers, every decimal and every
``createdTime``/``updatedTime``/``execTime`` a string), retCodes and headers, as written down in
``shared/venues/bybit-v5.md``:

- envelope (§3): every REST answer is ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``
  on HTTP 200, business errors included, with ``X-Bapi-Limit``, ``X-Bapi-Limit-Status`` and
  ``X-Bapi-Limit-Reset-Timestamp``. Per-account per-endpoint 1-second windows (create/cancel
  10/s, reads 50/s) are counted always and enforced (``10006 Too many visits!``) only when
  ``venue.state["enforce_rate_limits"]`` is true (tests and benchmarks place thousands of orders).
- signing (§2): ``timestamp + apiKey + recvWindow + (raw query string | raw body bytes)``, lowercase
  hex HMAC-SHA256 (``sign_rest``); ``10003`` missing/unknown key, ``10004`` bad sign, ``10002``
  outside ``server - recvWindow <= ts < server + 1000``.
- REST (§4): market time, instruments-info, tickers (mark prices), order create/cancel
  (acks only), order realtime/history, execution list; opaque cursors, newest first.
- trade WebSocket ``/v5/trade`` (§5): ``auth`` / ``order.create`` / ``order.cancel`` / ``ping``,
  ``reqId`` echo, ``20006`` for a ``reqId`` still in flight on the connection.
- private stream ``/v5/private`` (§6): ``auth`` / ``subscribe`` (``order``, ``execution`` and their
  ``.linear`` forms) / ``ping``; an ``order`` message for every engine event of the account and an
  ``execution`` message for every fill, rendered at event time.
- faults: every write asks ``venue.faults.take("bybit", "create"|"cancel", ...)``, every order read
  ``"query"``, every private-stream event ``"stream"``; each ``FaultKind`` does what the table in
  ``venues/sim/faults.py`` says, and every write lands in ground truth (``record_attempt``).

Choices where the venue facts are silent (all documented in ``shared/venues/bybit-v5.md`` terms):

- A PostOnly order that would take answers ``10001`` (Bybit acks it and then cancels it; the
  simulator's engine refuses it before creating anything, so no order exists in ground truth).
- A cancel of an order that exists but is no longer open answers ``110001`` (what linear answers
  in practice), not ``110008``/``110010``.
- ``orderLinkId`` uniqueness is over every order the account ever created (``110072``). A create
  without ``orderLinkId`` is shown with ``orderLinkId: ""``; internally the engine gets a private
  ``~auto-...`` id (never valid on the wire) so two such orders don't collide.
- Trade-WS: a ``reqId`` is "in flight" from receipt until its answer is sent; a request that is
  never answered (``ACCEPT_THEN_TIMEOUT``) keeps its ``reqId`` in flight for the connection's life.
  An unauthenticated order request answers ``10003``; an unknown op ``10404``; the header
  ``X-BAPI-TIMESTAMP`` is required (``venue.state["ws_require_timestamp"]``).
- History hides fully cancelled/expired orders without fills after 24 h
  (``venue.state["history_cancel_retention_ms"]``); realtime ``openOnly=1`` shows the 500 most
  recent closed orders. Engine ``EXPIRED`` (IOC/FOK/market remainder) shows as ``Cancelled``.

Deliberately left out: hedge mode (``positionIdx`` 1/2 answer ``10001``), conditional/TP-SL orders,
amend and batch ops (``10404`` on the trade socket; no REST route), spot/inverse/option categories.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from venues.sim.engine import (
    EngineReject,
    OrderKind,
    RejectReason,
    Side,
    SimFill,
    SimInstrument,
    SimOrder,
    Tif,
    now_ms,
)
from venues.sim.fault_answers import hold_then_drop, reset_connection
from venues.sim.faults import Fault, FaultKind
from venues.sim.venue import DialectSpec, SimVenue, VenueState, WriteResult
from venues.sim.wire import StreamFaultDelivery
from venues.sim.wire import fmt as _fmt
from venues.sim.wire import fmt_free as _fmt_free
from venues.sim.wire import places as _places
from venues.sim.wire import stream_sender as _stream_sender
from venues.sim.wire import ws_send as _ws_send

__all__ = ["BybitDialect", "register", "sign", "sign_rest", "sign_ws_auth"]

log = logging.getLogger(__name__)

VENUE = "bybit"
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
AUTO_LINK_PREFIX = "~auto-"  # internal client ids for creates without orderLinkId (never valid on the wire)
# Where a request's X-Bapi-Limit* headers wait for the answer (``web.RequestKey`` where aiohttp has it).
HDR_KEY: Any = web.RequestKey("bybit_limit_headers", dict) if hasattr(web, "RequestKey") else "bybit_limit_headers"
EXEC_NS = uuid.UUID("6f1c1f9e-3f8e-4a53-9d3c-6a1f1e0b7a10")

Transport = Literal["rest", "ws"]

SIDE_IN: dict[str, Side] = {"Buy": "BUY", "Sell": "SELL"}
SIDE_OUT = {"BUY": "Buy", "SELL": "Sell"}
TYPE_IN: dict[str, OrderKind] = {"Limit": "LIMIT", "Market": "MARKET"}
TYPE_OUT = {"LIMIT": "Limit", "MARKET": "Market"}
TIF_IN: dict[str, Tif] = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "POST_ONLY"}
TIF_OUT = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "PostOnly"}
STATUS_OUT = {
    "NEW": "New",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "FILLED": "Filled",
    "CANCELED": "Cancelled",
    "EXPIRED": "Cancelled",
    "REJECTED": "Rejected",
}
STATUS_IN = {"New", "PartiallyFilled", "Filled", "Cancelled", "Rejected"}

# Per-account per-endpoint limits per 1-second window (§3); anything else signed: 50.
ENDPOINT_LIMITS = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
}
PUBLIC_LIMIT = 120  # per IP per second (600 / 5 s), reported only

MESSAGES: dict[int, str] = {
    0: "OK",
    10000: "Server Timeout",
    10001: "params error",
    10002: "invalid request, please check your server timestamp or recv_window param",
    10003: "API key is invalid.",
    10004: "error sign!",
    10005: "permission denied for current apikey",
    10006: "Too many visits!",
    10016: "Server error",
    10017: "route not found",
    10404: "op not supported",
    10429: "System frequency protection",
    20001: "Repeat auth",
    20003: "too frequent on one session",
    20006: "reqId is duplicated",
    110001: "order not exists or too late to cancel",
    110003: "Order price is out of permissible range.",
    110017: "Reduce-only rule not satisfied",
    110020: "Not allowed to have more than 500 active orders.",
    110072: "OrderLinkedID is duplicate",
    110094: "Order does not meet minimum order value.",
}

HTML_5XX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
    "</center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
MSG_UNKNOWN_ERROR = "Request occur unknown error."


class ApiError(Exception):
    """A Bybit business error: HTTP 200 with ``retCode`` != 0."""

    def __init__(self, code: int, msg: str | None = None, *, headers: dict[str, str] | None = None):
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "error")
        self.headers = headers
        super().__init__(f"{code} {self.msg}")


def param_error(detail: str) -> ApiError:
    return ApiError(10001, f"params error: {detail}")


# --------------------------------------------------------------------------- signing (§2, §5, §6)


def sign(secret: str, payload: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256, the only signature primitive of this dialect."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def sign_rest(secret: str, timestamp: int | str, api_key: str, recv_window: int | str, payload: str | bytes) -> str:
    """REST: ``timestamp + apiKey + recvWindow + (query string | body)``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return sign(secret, f"{timestamp}{api_key}{recv_window}".encode() + data)


def sign_ws_auth(secret: str, expires: int | str) -> str:
    """WS auth (trade and private sockets): ``"GET/realtime" + expires``."""
    return sign(secret, f"GET/realtime{expires}")


# --------------------------------------------------------------------------- formatting


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def _decimal(params: dict[str, Any], name: str, *, required: bool) -> Decimal | None:
    raw = _text(params.get(name))
    if raw == "":
        if required:
            raise param_error(f"{name} is required")
        return None
    if not DECIMAL_RE.fullmatch(raw):
        raise param_error(f"{name} invalid")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards it
        raise param_error(f"{name} invalid") from exc


def _int(params: dict[str, Any], name: str) -> int | None:
    raw = _text(params.get(name))
    if raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise param_error(f"{name} invalid")
    return int(raw)


def _bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).lower()
    if lowered not in ("true", "false"):
        raise param_error(f"{name} invalid")
    return lowered == "true"


def link_id(order: SimOrder) -> str:
    """The ``orderLinkId`` shown for an order ("" for creates that sent none)."""
    cid = order.client_order_id
    return "" if cid.startswith(AUTO_LINK_PREFIX) else cid


def _uid(account: str) -> int:
    """A stable numeric user id for an account (execution message ids)."""
    return int(hashlib.sha1(account.encode()).hexdigest()[:8], 16)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise param_error("cursor invalid") from exc


def limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": str(max(0, remaining)),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


# --------------------------------------------------------------------------- sockets


@dataclass(eq=False)
class _TradeConn:
    """One trade WebSocket (``/v5/trade``)."""

    ws: web.WebSocketResponse
    request: web.Request
    conn_id: str
    account: str | None = None
    inflight: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _PrivateConn:
    """One private stream (``/v5/private``): the authenticated account, topics (base -> name), a send queue."""

    ws: web.WebSocketResponse
    conn_id: str
    account: str | None = None
    topics: dict[str, str] = field(default_factory=dict)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


@dataclass
class _Window:
    start_ms: int = 0
    used: int = 0


@dataclass
class BybitState(VenueState):
    enforce_rate_limits: bool = False
    endpoint_limits: dict[str, int] = field(default_factory=lambda: dict(ENDPOINT_LIMITS))
    history_cancel_retention_ms: int = DAY_MS
    realtime_closed_limit: int = 500
    ws_require_timestamp: bool = True
    dialect: Any = field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------- the dialect


class BybitDialect:
    """Bybit v5 linear on top of one ``SimVenue`` (see the module docstring)."""

    def __init__(self, venue: SimVenue[BybitState]):
        self.venue = venue
        self.engine = venue.engine
        venue.state.dialect = self
        self._windows: dict[tuple[str, str], _Window] = {}
        self._used_links: set[tuple[str, str]] = set()
        self.trade_conns: set[_TradeConn] = set()
        self.private_conns: set[_PrivateConn] = set()
        self.stream: StreamFaultDelivery[_PrivateConn] = StreamFaultDelivery(
            self._conns_for, self._send_conn, self._drop_conn
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conn_seq = 0
        self.engine.listeners.append(self._on_engine_event)
        venue.on_close.append(self.close)

    # ------------------------------------------------------------------ time, limits

    def server_ms(self) -> int:
        return now_ms() + int(self.venue.state["clock_offset_ms"])

    def new_conn_id(self) -> str:
        self._conn_seq += 1
        return f"{secrets.token_hex(10)}-{self._conn_seq}"

    def charge(self, who: str, endpoint: str, *, enforce: bool = True, limit: int | None = None) -> dict[str, str]:
        """Count one request in ``who``'s 1-second window for ``endpoint``; 10006 past the limit (if enforced)."""
        if limit is None:
            limit = int(self.venue.state["endpoint_limits"].get(endpoint, 50))
        now = now_ms()
        window = self._windows.setdefault((who, endpoint), _Window())
        if now - window.start_ms >= 1000:
            window.start_ms, window.used = now, 0
        reset = window.start_ms + 1000
        if enforce and self.venue.state["enforce_rate_limits"] and window.used >= limit:
            raise ApiError(10006, headers=limit_headers(limit, 0, reset))
        window.used += 1
        return limit_headers(limit, limit - window.used, reset)

    # ------------------------------------------------------------------ authentication

    def secret(self, api_key: str | None) -> str:
        if not api_key:
            raise ApiError(10003)
        secret = self.venue.secret_for(api_key)
        if secret is None:
            raise ApiError(10003)
        return secret

    def check_time(self, raw_ts: Any, raw_rw: Any) -> tuple[int, int]:
        ts_text, rw_text = _text(raw_ts), _text(raw_rw)
        if not ts_text.isdigit():
            raise ApiError(10002, "invalid request, please check your timestamp")
        recv_window = 5000
        if rw_text:
            if not rw_text.isdigit() or int(rw_text) <= 0:
                raise param_error("recv_window invalid")
            recv_window = int(rw_text)
        ts = int(ts_text)
        server = self.server_ms()
        if not (server - recv_window <= ts < server + 1000):
            raise ApiError(
                10002,
                f"{MESSAGES[10002]}. req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv_window}]",
            )
        return ts, recv_window

    async def signed_rest(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        """Verify a private REST request exactly as §2 describes; returns (account, params)."""
        api_key = request.headers.get("X-BAPI-API-KEY")
        secret = self.secret(api_key)
        assert api_key is not None
        raw_ts = request.headers.get("X-BAPI-TIMESTAMP")
        raw_rw = request.headers.get("X-BAPI-RECV-WINDOW")
        self.check_time(raw_ts, raw_rw)
        if request.method == "GET":
            payload = request.rel_url.raw_query_string.encode()
        else:
            payload = await request.read() if request.can_read_body else b""
        given = request.headers.get("X-BAPI-SIGN", "")
        expected = sign_rest(secret, raw_ts or "", api_key, raw_rw if raw_rw is not None else "", payload)
        # A client that omits X-BAPI-RECV-WINDOW signs with nothing there; 5000 is only the window.
        if not given or not hmac.compare_digest(expected, given.lower()):
            raise ApiError(
                10004, f"error sign! origin_string[{raw_ts}{api_key}{raw_rw or ''}{payload.decode(errors='replace')}]"
            )
        if request.method == "GET":
            params: dict[str, Any] = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        else:
            try:
                body = orjson.loads(payload) if payload else {}
            except orjson.JSONDecodeError as exc:
                raise param_error("request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise param_error("request body is not a JSON object")
            params = body
        return api_key, params

    def ws_auth(self, args: Any) -> str:
        """Verify WS ``auth`` args ``[apiKey, expires, signature]``; returns the account (api key)."""
        if not isinstance(args, list) or len(args) != 3:
            raise param_error("auth args must be [apiKey, expires, signature]")
        api_key, expires, signature = args
        if not isinstance(api_key, str):
            raise ApiError(10003)
        secret = self.secret(api_key)
        exp_text = _text(expires)
        if not exp_text.isdigit():
            raise param_error("expires invalid")
        if int(exp_text) <= self.server_ms():
            raise param_error("expires is before now")
        if not isinstance(signature, str) or not hmac.compare_digest(sign_ws_auth(secret, exp_text), signature.lower()):
            raise ApiError(10004, "Invalid signature")
        return api_key

    # ------------------------------------------------------------------ payloads

    def instrument(self, symbol: Any) -> SimInstrument:
        if not symbol:
            raise param_error("symbol is required")
        inst = self.engine.instruments.get(str(symbol))
        if inst is None:
            raise param_error("symbol invalid")
        return inst

    @staticmethod
    def check_category(params: dict[str, Any]) -> None:
        category = params.get("category")
        if not category:
            raise param_error("category is required")
        if category != "linear":
            raise param_error(f"category {category} is not supported by this simulator (linear only)")

    def symbols(self, params: dict[str, Any], *, required: bool = True) -> list[str]:
        """The symbols a list request covers: ``symbol``, else ``baseCoin`` / ``settleCoin``."""
        if params.get("symbol"):
            return [self.instrument(params["symbol"]).symbol]
        base, settle = params.get("baseCoin"), params.get("settleCoin")
        if not base and not settle:
            if required:
                raise param_error("symbol or settleCoin or baseCoin is required")
            return list(self.engine.instruments)
        return [
            i.symbol
            for i in self.engine.instruments.values()
            if (not base or i.base == base) and (not settle or i.quote == settle)
        ]

    def order_json(self, order: SimOrder, *, stream: bool = False) -> dict[str, Any]:
        """The order object shared by realtime / history / the ``order`` topic (§4, WO)."""
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        price = order.price if order.price is not None else Decimal(0)
        leaves = order.leaves_qty
        fees = sum((f.commission for f in order.fills), Decimal(0))
        if order.status == "CANCELED":
            cancel_type, reject_reason = "CancelByUser", "EC_NoError"
        elif order.status == "EXPIRED":
            cancel_type = "UNKNOWN"
            reject_reason = "EC_CancelForNoFullFill" if order.tif == "FOK" else "EC_NoImmediateQtyToFill"
        else:
            cancel_type, reject_reason = "UNKNOWN", "EC_NoError"
        out: dict[str, Any] = {
            "orderId": order.order_id,
            "orderLinkId": link_id(order),
            "blockTradeId": "",
            "symbol": order.symbol,
            "price": _fmt(price, pp),
            "qty": _fmt(order.qty, qp),
            "side": SIDE_OUT[order.side],
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": STATUS_OUT[order.status],
            "createType": "CreateByUser",
            "cancelType": cancel_type,
            "rejectReason": reject_reason,
            "avgPrice": _fmt_free(order.avg_price, pp) if order.filled_qty else "0",
            "leavesQty": _fmt(leaves, qp),
            "leavesValue": _fmt_free(leaves * price),
            "cumExecQty": _fmt(order.filled_qty, qp),
            "cumExecValue": _fmt_free(order.cum_quote),
            "cumExecFee": _fmt_free(fees),
            "timeInForce": TIF_OUT[order.tif] if order.type == "LIMIT" else "IOC",
            "orderType": TYPE_OUT[order.type],
            "stopOrderType": "UNKNOWN",
            "orderIv": "",
            "triggerPrice": _fmt(Decimal(0), pp),
            "takeProfit": _fmt(Decimal(0), pp),
            "stopLoss": _fmt(Decimal(0), pp),
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "UNKNOWN",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.updated_ms),
            "cumFeeDetail": {self.engine.instruments[order.symbol].quote: _fmt_free(fees)} if fees else {},
        }
        if stream:
            out.update(
                {
                    "category": "linear",
                    "closedPnl": "0",
                    "feeCurrency": "",
                    "slippageToleranceType": "UNKNOWN",
                    "slippageTolerance": "0",
                    "rpiTakerAccess": False,
                    "rpiMatchedQty": "0",
                }
            )
        return out

    def execution_json(self, order: SimOrder, fill: SimFill, *, stream: bool = False) -> dict[str, Any]:
        """One execution item (§4 EX, WE)."""
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        done = Decimal(0)
        for f in order.fills:
            done += f.qty
            if f.trade_id == fill.trade_id:
                break
        out: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderLinkId": link_id(order),
            "side": SIDE_OUT[order.side],
            "orderPrice": _fmt(order.price if order.price is not None else Decimal(0), pp),
            "orderQty": _fmt(order.qty, qp),
            "leavesQty": _fmt(max(Decimal(0), order.qty - done), qp),
            "createType": "CreateByUser",
            "orderType": TYPE_OUT[order.type],
            "stopOrderType": "UNKNOWN",
            "execFee": _fmt_free(fill.commission),
            "execId": str(uuid.uuid5(EXEC_NS, f"{order.order_id}:{fill.trade_id}")),
            "execPrice": _fmt_free(fill.price, pp),
            "execQty": _fmt(fill.qty, qp),
            "execType": "Trade",
            "execValue": _fmt_free(fill.price * fill.qty),
            "execTime": str(fill.time_ms),
            "feeCurrency": inst.quote,
            "isMaker": fill.maker,
            "feeRate": _fmt_free(self.engine.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": _fmt_free(inst.mark_price, pp),
            "indexPrice": "",
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": "0",
            "seq": fill.trade_id,
            "extraFees": "",
        }
        if stream:
            out.update({"category": "linear", "isLeverage": "0", "execPnl": "0"})
        return out

    def instrument_json(self, inst: SimInstrument) -> dict[str, Any]:
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        market_max = inst.market_max_qty if inst.market_max_qty is not None else inst.max_qty
        return {
            "symbol": inst.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "launchTime": "1584230400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(pp),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": _fmt(inst.min_price, pp),
                "maxPrice": _fmt(inst.max_price, pp),
                "tickSize": _fmt(inst.tick_size, pp),
            },
            "lotSizeFilter": {
                "maxOrderQty": _fmt(inst.max_qty, qp),
                "minOrderQty": _fmt(inst.min_qty, qp),
                "qtyStep": _fmt(inst.step_size, qp),
                "postOnlyMaxOrderQty": _fmt(inst.max_qty, qp),
                "maxMktOrderQty": _fmt(market_max, qp),
                "minNotionalValue": _fmt_free(inst.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": inst.quote,
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "displayName": "",
        }

    def ticker_json(self, inst: SimInstrument) -> dict[str, Any]:
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        mark = _fmt_free(inst.mark_price, pp)
        now = self.server_ms()
        return {
            "symbol": inst.symbol,
            "lastPrice": mark,
            "indexPrice": mark,
            "markPrice": mark,
            "prevPrice24h": mark,
            "price24hPcnt": "0",
            "highPrice24h": mark,
            "lowPrice24h": mark,
            "prevPrice1h": mark,
            "openInterest": "0",
            "openInterestValue": "0",
            "turnover24h": "0",
            "volume24h": "0",
            "fundingRate": "0.0001",
            "nextFundingTime": str((now // 28_800_000 + 1) * 28_800_000),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "ask1Size": _fmt(inst.min_qty, qp),
            "bid1Price": mark,
            "ask1Price": mark,
            "bid1Size": _fmt(inst.min_qty, qp),
            "basis": "",
        }

    # ------------------------------------------------------------------ order operations (shared by REST and WS)

    def place(self, account: str, params: dict[str, Any]) -> SimOrder:
        """Validate Bybit create params and create the order (raises ``ApiError``)."""
        self.check_category(params)
        inst = self.instrument(params.get("symbol"))
        side = SIDE_IN.get(_text(params.get("side")))
        if side is None:
            raise param_error("side invalid")
        otype = TYPE_IN.get(_text(params.get("orderType")))
        if otype is None:
            raise param_error("orderType invalid")
        position_idx = _int(params, "positionIdx")
        if position_idx not in (None, 0):
            raise ApiError(10001, "position idx not match position mode")
        for unsupported in ("triggerPrice", "takeProfit", "stopLoss"):
            if _text(params.get(unsupported)) not in ("", "0"):
                raise param_error(f"{unsupported} is not supported by this simulator")
        qty = _decimal(params, "qty", required=True)
        assert qty is not None
        if qty <= 0:
            raise ApiError(10001, "Qty invalid")
        price: Decimal | None = None
        tif: Tif = "IOC"
        if otype == "LIMIT":
            raw_tif = _text(params.get("timeInForce")) or "GTC"
            found = TIF_IN.get(raw_tif)
            if found is None:
                raise param_error("timeInForce invalid")
            tif = found
            price = _decimal(params, "price", required=True)
            assert price is not None
            if price <= 0:
                raise param_error("price invalid")
        reduce_only = _bool(params, "reduceOnly")
        link = _text(params.get("orderLinkId"))
        if link:
            if not LINK_ID_RE.fullmatch(link):
                raise param_error("orderLinkId invalid")
            if (account, link) in self._used_links or self.engine.orders_for(link, account):
                raise ApiError(110072)
            cid = link
        else:
            cid = AUTO_LINK_PREFIX + secrets.token_hex(12)
        try:
            return self.engine.place(
                account,
                symbol=inst.symbol,
                side=side,
                type=otype,
                qty=qty,
                price=price,
                tif=tif,
                reduce_only=reduce_only,
                client_order_id=cid,
            )
        except EngineReject as exc:
            raise self.engine_error(exc, inst) from exc

    def engine_error(self, exc: EngineReject, inst: SimInstrument | None = None) -> ApiError:
        R = RejectReason
        reason = exc.reason
        if reason is R.DUPLICATE_CLIENT_ID:
            return ApiError(110072)
        if reason is R.MIN_NOTIONAL:
            floor = f" {_fmt_free(inst.min_notional)}{inst.quote}" if inst is not None else ""
            return ApiError(110094, f"Order does not meet minimum order value{floor}")
        if reason is R.REDUCE_ONLY:
            return ApiError(
                110017,
                "current position is zero, cannot fix reduce-only order qty"
                if "would not reduce" in exc.message
                else MESSAGES[110017],
            )
        if reason is R.MAX_OPEN_ORDERS:
            return ApiError(110020)
        if reason is R.PRICE_RANGE:
            return ApiError(110003)
        if reason is R.PRICE_TICK:
            return ApiError(10001, "Order price has too many decimals.")
        if reason is R.QTY_STEP:
            return ApiError(10001, "Order quantity has too many decimals.")
        if reason is R.QTY_RANGE:
            return ApiError(10001, f"The number of contracts exceeds the allowed range: {exc.message}")
        if reason is R.POST_ONLY_WOULD_TAKE:
            return ApiError(10001, "PostOnly order would take liquidity: EC_PostOnlyWillTakeLiquidity")
        if reason in (R.UNKNOWN_ORDER, R.ORDER_CLOSED):
            return ApiError(110001)
        if reason is R.UNKNOWN_SYMBOL:
            return param_error("symbol invalid")
        return param_error(exc.message)

    def lookup(self, account: str, params: dict[str, Any], *, respect_visibility: bool) -> SimOrder | None:
        """An order by ``orderId`` (wins) or ``orderLinkId`` within the request's symbols."""
        order_id = _text(params.get("orderId")) or None
        link = _text(params.get("orderLinkId")) or None
        if order_id is None and link is None:
            raise param_error("orderId or orderLinkId is required")
        for symbol in self.symbols(params):
            order = self.engine.find(
                account,
                symbol,
                order_id=order_id,
                client_order_id=link if order_id is None else None,
                respect_visibility=respect_visibility,
            )
            if order is not None:
                return order
        return None

    def cancel(self, account: str, params: dict[str, Any]) -> SimOrder:
        self.check_category(params)
        self.instrument(params.get("symbol"))
        order = self.lookup(account, params, respect_visibility=False)
        if order is None or not order.is_open:
            raise ApiError(110001)
        try:
            return self.engine.cancel(account, order.symbol, order_id=order.order_id)
        except EngineReject as exc:
            raise self.engine_error(exc) from exc

    def cid_of(self, account: str, params: dict[str, Any]) -> str | None:
        """The orderLinkId a cancel names (directly or by looking the order up), for fault matching."""
        if params.get("orderId"):
            with contextlib.suppress(ApiError):
                order = self.lookup(account, params, respect_visibility=False)
                if order is not None:
                    return link_id(order) or None
        return _text(params.get("orderLinkId")) or None

    @staticmethod
    def window(params: dict[str, Any], now: int) -> tuple[int, int]:
        start = _int(params, "startTime")
        end = _int(params, "endTime")
        if start is None and end is None:
            end, start = now, now - WEEK_MS
        elif start is None:
            assert end is not None
            start = end - WEEK_MS
        elif end is None:
            end = start + WEEK_MS
        if end < start:
            raise param_error("startTime must be less than endTime")
        if end - start > WEEK_MS:
            raise param_error("The time range between startTime and endTime cannot exceed 7 days")
        return start, end

    @staticmethod
    def limit(params: dict[str, Any], default: int, maximum: int) -> int:
        limit = _int(params, "limit")
        if limit is None:
            return default
        if not 1 <= limit <= maximum:
            raise param_error(f"limit must be in [1, {maximum}]")
        return limit

    @staticmethod
    def page(items: list[Any], params: dict[str, Any], limit: int) -> tuple[list[Any], str]:
        offset = decode_cursor(_text(params.get("cursor")) or None)
        chunk = items[offset : offset + limit]
        nxt = encode_cursor(offset + limit) if offset + limit < len(items) else ""
        return chunk, nxt

    def history_retained(self, order: SimOrder, now: int) -> bool:
        """History keeps fully cancelled/rejected orders (no fills) for 24 h only (§4 OH)."""
        if order.status in ("CANCELED", "EXPIRED", "REJECTED") and not order.filled_qty:
            return now - order.updated_ms <= int(self.venue.state["history_cancel_retention_ms"])
        return True

    def realtime(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params)
        limit = self.limit(params, 20, 50)
        orders: list[SimOrder]
        if params.get("orderId") or params.get("orderLinkId"):
            found = self.lookup(account, params, respect_visibility=True)
            orders = [found] if found is not None else []
        else:
            open_only = _text(params.get("openOnly")) or "0"
            if open_only not in ("0", "1", "2"):
                raise param_error("openOnly invalid")
            wanted = set(symbols)
            if open_only == "0":
                orders = [o for o in self.engine.open_orders(account) if o.symbol in wanted]
            else:
                now = now_ms()
                closed = sorted(
                    (
                        o
                        for o in self.engine.orders.values()
                        if o.account == account and not o.is_open and self.engine.visible(o, now)
                    ),
                    key=lambda o: (o.updated_ms, o.numeric_id),
                    reverse=True,
                )[: int(self.venue.state["realtime_closed_limit"])]
                orders = [o for o in closed if o.symbol in wanted]
        orders.sort(key=lambda o: o.numeric_id, reverse=True)
        chunk, nxt = self.page(orders, params, limit)
        return {"category": "linear", "list": [self.order_json(o) for o in chunk], "nextPageCursor": nxt}

    def history(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params, required=False)
        limit = self.limit(params, 20, 50)
        now = self.server_ms()
        start, end = self.window(params, now)
        order_id = _text(params.get("orderId")) or None
        link = _text(params.get("orderLinkId")) or None
        status = _text(params.get("orderStatus")) or None
        if status is not None and status not in STATUS_IN:
            raise param_error("orderStatus invalid")
        wanted = set(symbols)
        symbol = symbols[0] if len(symbols) == 1 else None
        local_now = now_ms()
        orders = [
            o
            for o in self.engine.history(account, symbol, start, end)
            if o.symbol in wanted
            and self.history_retained(o, local_now)
            and (order_id is None or o.order_id == order_id)
            and (link is None or link_id(o) == link)
            and (status is None or STATUS_OUT[o.status] == status)
        ]
        orders.reverse()
        chunk, nxt = self.page(orders, params, limit)
        return {"category": "linear", "list": [self.order_json(o) for o in chunk], "nextPageCursor": nxt}

    def executions(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params, required=False)
        limit = self.limit(params, 50, 100)
        start, end = self.window(params, self.server_ms())
        exec_type = _text(params.get("execType")) or None
        order_id = _text(params.get("orderId")) or None
        link = _text(params.get("orderLinkId")) or None
        pairs = [
            (o, f)
            for symbol in symbols
            for o, f in self.engine.trades(account, symbol, start, end)
            if (order_id is None or o.order_id == order_id) and (link is None or link_id(o) == link)
        ]
        if exec_type not in (None, "Trade"):
            pairs = []
        pairs.sort(key=lambda of: (of[1].time_ms, of[1].trade_id), reverse=True)
        chunk, nxt = self.page(pairs, params, limit)
        return {"category": "linear", "list": [self.execution_json(o, f) for o, f in chunk], "nextPageCursor": nxt}

    # ------------------------------------------------------------------ private stream

    def _conns_for(self, account: str, topic: str | None = None) -> list[_PrivateConn]:
        return [
            c for c in self.private_conns if c.account == account and (c.topics if topic is None else topic in c.topics)
        ]

    def _on_engine_event(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        """Engine listener: render the messages now (the order mutates afterwards), then deliver."""
        self._used_links.add((account, order.client_order_id))
        try:
            ts = self.server_ms()
            messages = [
                {
                    "id": str(uuid.uuid4()),
                    "topic": "order",
                    "creationTime": ts,
                    "data": [self.order_json(order, stream=True)],
                }
            ]
            if fill is not None:
                messages.append(
                    {
                        "id": f"{_uid(account)}_{order.symbol}_{fill.trade_id}",
                        "topic": "execution",
                        "creationTime": ts,
                        "data": [self.execution_json(order, fill, stream=True)],
                    }
                )
        except Exception:  # a listener must never break the engine
            log.exception("bybit sim: could not render a private-stream message")
            return
        if not self._conns_for(account):
            return
        fault = self.venue.take_fault("stream", client_order_id=link_id(order) or None, symbol=order.symbol)
        self.stream.deliver_all(account, messages, fault)

    def _send_conn(self, conn: _PrivateConn, message: dict[str, Any]) -> None:
        name = conn.topics.get(str(message["topic"]))
        if name is None:
            return
        conn.queue.put_nowait(orjson.dumps(message if name == message["topic"] else {**message, "topic": name}))

    def _drop_conn(self, conn: _PrivateConn) -> None:
        self.private_conns.discard(conn)
        conn.queue.put_nowait(None)

    # ------------------------------------------------------------------ lifecycle

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.stream.close()
        for conn in list(self.private_conns):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close()
        for tconn in list(self.trade_conns):
            with contextlib.suppress(Exception):
                await tconn.ws.close()
        for task in list(self._tasks):
            task.cancel()

    async def drop_private_streams(self) -> int:
        """Close every private-stream socket (tests: force a reconnect). Returns how many were closed."""
        conns = list(self.private_conns)
        for conn in conns:
            self.private_conns.discard(conn)
            conn.queue.put_nowait(None)
        return len(conns)

    async def drop_trade_sockets(self) -> int:
        """Close every trade WebSocket (tests: force a reconnect)."""
        conns = list(self.trade_conns)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close()
        return len(conns)


# --------------------------------------------------------------------------- REST plumbing


def _reply(
    d: BybitDialect,
    request: web.Request,
    code: int,
    msg: str,
    result: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    payload = {
        "retCode": code,
        "retMsg": msg,
        "result": result if result is not None else {},
        "retExtInfo": {},
        "time": d.server_ms(),
    }
    resp = web.Response(body=orjson.dumps(payload), status=200, content_type="application/json")
    resp.headers.update(headers if headers is not None else request.get(HDR_KEY) or {})
    return resp


def _ok(d: BybitDialect, request: web.Request, result: Any) -> web.Response:
    return _reply(d, request, 0, "OK", result)


def _error(d: BybitDialect, request: web.Request, err: ApiError) -> web.Response:
    return _reply(d, request, err.code, err.msg, headers=err.headers)


Handler = Callable[[BybitDialect, web.Request], Awaitable[web.StreamResponse]]


def _endpoint(d: BybitDialect, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            request[HDR_KEY] = d.charge(f"ip:{request.remote}", request.path, enforce=False, limit=PUBLIC_LIMIT)
            return await fn(d, request)
        except ApiError as err:
            return _error(d, request, err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("bybit sim: %s %s failed", request.method, request.path)
            return _reply(d, request, 10016, MESSAGES[10016])

    return handle


async def _private(d: BybitDialect, request: web.Request) -> tuple[str, dict[str, Any]]:
    """Authenticate, then count the request in the account's window for this endpoint."""
    account, params = await d.signed_rest(request)
    request[HDR_KEY] = d.charge(account, request.path)
    return account, params


async def _rest_fault_answer(
    d: BybitDialect, request: web.Request, fault: Fault, normal: web.Response
) -> web.StreamResponse:
    """What the client sees under ``fault``; the venue already did (or skipped) the work."""
    kind = fault.kind
    headers: dict[str, str] = request.get(HDR_KEY) or {}
    if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
        return await hold_then_drop(request, fault.delay_seconds)
    if kind is FaultKind.ACCEPT_THEN_RESET:
        return reset_connection(request)
    if kind in (FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX):
        status = fault.status or 502
        if fault.message is not None or status not in REASONS or status == 500:
            text = fault.message or MSG_UNKNOWN_ERROR
            return web.Response(text=text, status=status, content_type="text/plain")
        html = HTML_5XX.format(status=status, reason=REASONS[status])
        return web.Response(text=html, status=status, content_type="text/html")
    if kind is FaultKind.UNKNOWN_CODE:
        code = fault.code or 10000
        resp = _reply(d, request, code, fault.message or MESSAGES.get(code, "Server Timeout"))
        if fault.status:
            resp.set_status(fault.status)
        return resp
    if kind is FaultKind.REJECT_CODE:
        code = fault.code or 10001
        return _reply(d, request, code, fault.message or MESSAGES.get(code, "params error"))
    if kind is FaultKind.RATE_LIMIT:
        reset_ms = now_ms() + int(fault.retry_after_seconds * 1000)
        limit = headers.get("X-Bapi-Limit", "10")
        limited = {"X-Bapi-Limit": limit, "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}
        if fault.status in (429, 403):
            text = fault.message or ("access too frequent" if fault.status == 403 else "Too Many Requests")
            return web.Response(text=text, status=fault.status, content_type="text/plain", headers=limited)
        code = fault.code or 10006
        return _reply(d, request, code, fault.message or MESSAGES.get(code, "Too many visits!"), headers=limited)
    if kind is FaultKind.MALFORMED_2XX:
        body = bytes(normal.body) if isinstance(normal.body, bytes | bytearray) else b"{}"
        resp = web.Response(body=body[: max(1, len(body) // 2)], status=200, content_type="application/json")
        resp.headers.update(headers)
        return resp
    return normal  # DELAYED_VISIBILITY (handled by the caller), WS_DROP and stream kinds: a normal answer


# --------------------------------------------------------------------------- writes (REST and WS)


def create_with_faults(
    d: BybitDialect, account: str, params: dict[str, Any], transport: Transport
) -> tuple[int, str, dict[str, Any], Fault | None]:
    """Place once, consulting the fault plan; returns the *normal* answer (retCode, retMsg, result) and the fault."""
    result = d.venue.write(
        "create", transport, lambda: d.place(account, params),
        client_order_id=_text(params.get("orderLinkId")) or None, order_id=None,
        symbol=_text(params.get("symbol")) or None, rejection=ApiError, recorded_id=lambda o: link_id(o) or None,
    )  # fmt: skip
    return _write_answer(result)


def cancel_with_faults(
    d: BybitDialect, account: str, params: dict[str, Any], transport: Transport
) -> tuple[int, str, dict[str, Any], Fault | None]:
    result = d.venue.write(
        "cancel", transport, lambda: d.cancel(account, params),
        client_order_id=d.cid_of(account, params), order_id=_text(params.get("orderId")) or None,
        symbol=_text(params.get("symbol")) or None, rejection=ApiError, recorded_id=lambda o: link_id(o) or None,
    )  # fmt: skip
    return _write_answer(result)


def _write_answer(result: WriteResult) -> tuple[int, str, dict[str, Any], Fault | None]:
    if isinstance(result.error, ApiError):
        return result.error.code, result.error.msg, {}, result.fault
    if result.order is None:
        return 0, "OK", {}, result.fault
    return 0, "OK", {"orderId": result.order.order_id, "orderLinkId": link_id(result.order)}, result.fault


# --------------------------------------------------------------------------- REST endpoints


async def get_time(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/time (§4 MT)."""
    ns = time.time_ns() + int(d.venue.state["clock_offset_ms"]) * 1_000_000
    return _ok(d, request, {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)})


async def get_instruments(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/instruments-info?category=linear[&symbol=] (§4 IN), from the engine's instruments."""
    params: dict[str, Any] = dict(request.query)
    d.check_category(params)
    status = params.get("status") or "Trading"
    limit = d.limit(params, 500, 1000)
    if params.get("symbol"):
        inst = d.engine.instruments.get(params["symbol"])
        items = [inst] if inst is not None else []
    else:
        items = [i for i in d.engine.instruments.values() if not params.get("baseCoin") or i.base == params["baseCoin"]]
    if status != "Trading":
        items = []
    chunk, nxt = d.page(items, params, limit)
    return _ok(d, request, {"category": "linear", "list": [d.instrument_json(i) for i in chunk], "nextPageCursor": nxt})


async def get_tickers(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/market/tickers?category=linear[&symbol=] — mark/last/index prices."""
    params: dict[str, Any] = dict(request.query)
    d.check_category(params)
    if params.get("symbol"):
        items = [d.instrument(params["symbol"])]
    else:
        items = list(d.engine.instruments.values())
    return _ok(d, request, {"category": "linear", "list": [d.ticker_json(i) for i in items]})


async def post_create(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/create (§4 OC): an ack ``{"orderId", "orderLinkId"}``."""
    account, params = await _private(d, request)
    code, msg, result, fault = create_with_faults(d, account, params, "rest")
    normal = _reply(d, request, code, msg, result)
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


async def post_cancel(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """POST /v5/order/cancel (§4 OX): orderId wins over orderLinkId; 110001 when not open."""
    account, params = await _private(d, request)
    code, msg, result, fault = cancel_with_faults(d, account, params, "rest")
    normal = _reply(d, request, code, msg, result)
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


async def _read(
    d: BybitDialect, request: web.Request, produce: Callable[[str, dict[str, Any]], Any]
) -> web.StreamResponse:
    """A signed read: verify, count, consult the ``query`` faults, answer."""
    account, params = await _private(d, request)
    fault = d.venue.take_fault(
        "query",
        transport="rest",
        client_order_id=_text(params.get("orderLinkId")) or None,
        symbol=_text(params.get("symbol")) or None,
    )
    if fault is not None and not fault.executes:
        return await _rest_fault_answer(d, request, fault, _ok(d, request, {}))
    try:
        normal = _ok(d, request, produce(account, params))
    except ApiError as err:
        normal = _error(d, request, err)
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


async def get_realtime(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/order/realtime (§4 OR): by id any status, else open orders; newest first."""
    return await _read(d, request, d.realtime)


async def get_history(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/order/history (§4 OH): window ≤ 7 days, limit ≤ 50, cursor paging, history lag applied."""
    return await _read(d, request, d.history)


async def get_executions(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/execution/list (§4 EX): window ≤ 7 days, limit ≤ 100, newest first."""
    return await _read(d, request, d.executions)


async def not_supported(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """Amend / batch / cancel-all: signed, then refused (out of scope for this simulator)."""
    await _private(d, request)
    raise ApiError(10017, "route not supported by this simulator")


# --------------------------------------------------------------------------- trade WebSocket


async def trade_ws(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/trade — order entry over WebSocket (§5)."""
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = _TradeConn(ws, request, d.new_conn_id())
    d.trade_conns.add(conn)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                keep_open = await _trade_frame(d, conn, msg.data)
            except Exception:  # never crash the socket on a bad frame
                log.exception("bybit sim: trade frame failed")
                await _ws_send(ws, {"retCode": 10016, "retMsg": MESSAGES[10016], "connId": conn.conn_id})
                keep_open = True
            if not keep_open:
                break
    finally:
        d.trade_conns.discard(conn)
    return ws


async def _trade_frame(d: BybitDialect, conn: _TradeConn, data: str) -> bool:
    """Answer one trade-socket frame; returns False when the socket was closed on purpose (faults)."""
    ws = conn.ws
    try:
        frame = orjson.loads(data)
        if not isinstance(frame, dict):
            raise ValueError("frame is not an object")
    except ValueError:
        await _ws_send(ws, {"retCode": 10001, "retMsg": "params error: frame is not a JSON object",
                            "connId": conn.conn_id})  # fmt: skip
        return True
    op = _text(frame.get("op"))
    req_id = frame.get("reqId")
    d.venue.log("WS", op or "?")
    limits: dict[str, str] = {}

    def answer(code: int, msg: str, payload: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if req_id is not None:
            out["reqId"] = req_id
        out.update({"retCode": code, "retMsg": msg, "op": op, "data": payload if payload is not None else {}})
        out["retExtInfo"] = {}
        out["header"] = {**limits, "Traceid": secrets.token_hex(16), "Timenow": str(d.server_ms())}
        out["connId"] = conn.conn_id
        return out

    if op == "ping":
        out: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "pong", "data": [str(d.server_ms())],
                               "connId": conn.conn_id}  # fmt: skip
        if req_id is not None:
            out = {"reqId": req_id, **out}
        await _ws_send(ws, out)
        return True
    if op == "auth":
        reply: dict[str, Any] = {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn.conn_id}
        if req_id is not None:
            reply = {"reqId": req_id, **reply}
        if conn.account is not None:
            reply.update(retCode=20001, retMsg=MESSAGES[20001])
        else:
            try:
                conn.account = d.ws_auth(frame.get("args"))
            except ApiError as err:
                reply.update(retCode=err.code, retMsg=err.msg)
        await _ws_send(ws, reply)
        return True
    if op not in ("order.create", "order.cancel"):
        await _ws_send(ws, answer(10404, f"{MESSAGES[10404]}: {op}"))
        return True
    if conn.account is None:
        await _ws_send(ws, answer(10003, "Request not authorized"))
        return True
    account = conn.account
    if req_id is not None:
        if not isinstance(req_id, str) or len(req_id) > 36:
            await _ws_send(ws, answer(10001, "params error: reqId invalid"))
            return True
        if req_id in conn.inflight:
            await _ws_send(ws, answer(20006, MESSAGES[20006]))
            return True
        conn.inflight.add(req_id)
    try:
        header = frame.get("header") or {}
        if not isinstance(header, dict):
            raise param_error("header invalid")
        if header.get("X-BAPI-TIMESTAMP") is not None or d.venue.state["ws_require_timestamp"]:
            d.check_time(header.get("X-BAPI-TIMESTAMP"), header.get("X-BAPI-RECV-WINDOW"))
        args = frame.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise param_error("args must hold one request object")
        endpoint = "/v5/order/create" if op == "order.create" else "/v5/order/cancel"
        limits.update(d.charge(account, endpoint))
        if op == "order.create":
            code, msg, result, fault = create_with_faults(d, account, args[0], "ws")
        else:
            code, msg, result, fault = cancel_with_faults(d, account, args[0], "ws")
    except ApiError as err:
        if err.headers:
            limits.update(err.headers)
        await _ws_send(ws, answer(err.code, err.msg))
        if isinstance(req_id, str):
            conn.inflight.discard(req_id)
        return True
    normal = answer(code, msg, result)
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        await _ws_send(ws, normal)
        if isinstance(req_id, str):
            conn.inflight.discard(req_id)
        return True
    keep_open = await _ws_fault_answer(conn, fault, normal, answer)
    if isinstance(req_id, str) and fault.kind is not FaultKind.ACCEPT_THEN_TIMEOUT:
        conn.inflight.discard(req_id)
    return keep_open


async def _ws_fault_answer(
    conn: _TradeConn,
    fault: Fault,
    normal: dict[str, Any],
    answer: Callable[[int, str], dict[str, Any]],
) -> bool:
    ws = conn.ws
    kind = fault.kind
    if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
        return True  # acted; the answer never comes (the client's timeout fires)
    if kind is FaultKind.ACCEPT_THEN_RESET:
        if conn.request.transport is not None:
            conn.request.transport.abort()
        return False
    if kind is FaultKind.WS_DROP:
        await ws.close()
        return False
    if kind in (FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX):
        await _ws_send(ws, answer(10016, fault.message or "Internal error"))
        return True
    if kind is FaultKind.UNKNOWN_CODE:
        code = fault.code or 10000
        await _ws_send(ws, answer(code, fault.message or MESSAGES.get(code, "Server Timeout")))
        return True
    if kind is FaultKind.REJECT_CODE:
        code = fault.code or 10001
        await _ws_send(ws, answer(code, fault.message or MESSAGES.get(code, "params error")))
        return True
    if kind is FaultKind.RATE_LIMIT:
        code = fault.code or 10429
        out = answer(code, fault.message or MESSAGES.get(code, "Too many visits!"))
        out["header"]["X-Bapi-Limit-Status"] = "0"
        out["header"]["X-Bapi-Limit-Reset-Timestamp"] = str(now_ms() + int(fault.retry_after_seconds * 1000))
        await _ws_send(ws, out)
        return True
    if kind is FaultKind.MALFORMED_2XX:
        raw = orjson.dumps(normal)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(raw[: max(1, len(raw) // 2)].decode(errors="ignore"))
        return True
    await _ws_send(ws, normal)
    return True


# --------------------------------------------------------------------------- private stream


async def private_ws(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/private — auth, subscribe to ``order`` / ``execution``, ping (§6)."""
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    conn = _PrivateConn(ws, d.new_conn_id())
    d.private_conns.add(conn)
    sender = asyncio.ensure_future(_stream_sender(conn))
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = orjson.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            await _private_frame(d, conn, frame)
    finally:
        d.private_conns.discard(conn)
        conn.queue.put_nowait(None)
        with contextlib.suppress(BaseException):
            await sender
    return ws


async def _private_frame(d: BybitDialect, conn: _PrivateConn, frame: dict[str, Any]) -> None:
    op = _text(frame.get("op"))
    req_id = frame.get("req_id")
    d.venue.log("WS", f"private.{op or '?'}")

    def reply(success: bool, ret_msg: str = "", **extra: Any) -> bytes:
        out: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            out["req_id"] = req_id
        out.update(extra)
        return orjson.dumps(out)

    if op == "ping":
        out: dict[str, Any] = {"op": "pong", "args": [str(d.server_ms())], "conn_id": conn.conn_id}
        if req_id is not None:
            out = {"req_id": req_id, **out}
        conn.queue.put_nowait(orjson.dumps(out))
    elif op == "auth":
        if conn.account is not None:
            conn.queue.put_nowait(reply(False, "Repeat auth"))
            return
        try:
            conn.account = d.ws_auth(frame.get("args"))
        except ApiError as err:
            text = {10003: "Invalid apikey", 10004: "Signature verification failed"}.get(err.code, err.msg)
            conn.queue.put_nowait(reply(False, text))
            return
        conn.queue.put_nowait(reply(True))
    elif op in ("subscribe", "unsubscribe"):
        args = frame.get("args")
        if conn.account is None:
            conn.queue.put_nowait(reply(False, "Request not authorized"))
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            conn.queue.put_nowait(reply(False, "args invalid"))
            return
        parsed: dict[str, str] = {}
        for name in args:
            base, _, category = name.partition(".")
            if base not in ("order", "execution") or category not in ("", "linear"):
                conn.queue.put_nowait(reply(False, f"error:handler not found,topic:{name}"))
                return
            parsed[base] = name
        if len({"." in name for name in args}) > 1:
            conn.queue.put_nowait(reply(False, "all-in-one and categorised topics can't share one request"))
            return
        if op == "subscribe":
            conn.topics.update(parsed)
        else:
            for base in parsed:
                conn.topics.pop(base, None)
        conn.queue.put_nowait(reply(True))
    else:
        conn.queue.put_nowait(reply(False, f"error:handler not found,op:{op}"))


# --------------------------------------------------------------------------- registration


def register(app: web.Application, venue: SimVenue[BybitState]) -> None:
    """Mount the Bybit v5 linear dialect for ``venue`` on the shared simulator app."""
    d = BybitDialect(venue)
    r = app.router

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return _endpoint(d, fn)

    r.add_get("/v5/market/time", ep(get_time))
    r.add_get("/v5/market/instruments-info", ep(get_instruments))
    r.add_get("/v5/market/tickers", ep(get_tickers))
    r.add_post("/v5/order/create", ep(post_create))
    r.add_post("/v5/order/cancel", ep(post_cancel))
    r.add_get("/v5/order/realtime", ep(get_realtime))
    r.add_get("/v5/order/history", ep(get_history))
    r.add_get("/v5/execution/list", ep(get_executions))
    for path in ("/v5/order/amend", "/v5/order/cancel-all", "/v5/order/create-batch", "/v5/order/amend-batch",
                 "/v5/order/cancel-batch"):  # fmt: skip
        r.add_post(path, ep(not_supported))
    r.add_get("/v5/trade", ep(trade_ws))
    r.add_get("/v5/private", ep(private_ws))


DIALECT: DialectSpec[BybitState] = DialectSpec(
    name="bybit",
    id_style="uuid",
    ws_api_path="/v5/trade",
    stream_path="/v5/private",
    unknown_codes=(10000, 10016),
    owns_path=lambda path: path.startswith("/v5/") and path not in ("/v5/trade", "/v5/private"),
    new_state=BybitState,
    register=register,
)
